// bpf(2) for the cgroup v2 device controller: load a BPF_PROG_TYPE_CGROUP_DEVICE program
// (built in TypeScript by src/effects/cgroups/devices.ts), attach it to a cgroup directory fd,
// list what is attached there, and detach. The policy (which programs to replace) is in v2.ts.
#include <string.h>

#include <string>

#include "errors.h"
#include "macros.h"
#include "sys_bpf.h"

namespace berth {

static inline uint64_t Ptr(const void* p) { return (uint64_t)(uintptr_t)p; }

// The verifier log's last non-empty line.
static std::string LastLine(const std::string& log) {
  size_t end = log.find('\0');
  if (end == std::string::npos) end = log.size();
  while (end > 0 && (log[end - 1] == '\n' || log[end - 1] == ' ')) end--;
  size_t start = log.rfind('\n', end == 0 ? 0 : end - 1);
  start = start == std::string::npos ? 0 : start + 1;
  return log.substr(start, end - start);
}

// bpfProgLoadDevice(insns: Buffer, license: string) -> program fd. On failure the program is
// loaded again with a log buffer, and the error's message ends with the verifier's last line
// (`bpf_prog_load: EACCES (verifier: R0 !read_ok)`); `verifierLog` holds the whole log.
Napi::Value BpfProgLoadDevice(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsBuffer()) THROW_TYPE_ERROR("insns must be a Buffer");
  Napi::Buffer<uint8_t> insns = info[0].As<Napi::Buffer<uint8_t>>();
  if (insns.Length() == 0 || insns.Length() % sizeof(struct bpf_insn) != 0) {
    THROW_TYPE_ERROR("insns must hold whole 8-byte instructions");
  }
  REQUIRE_STRING(1, license);
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  attr.insns = Ptr(insns.Data());
  attr.insn_cnt = (uint32_t)(insns.Length() / sizeof(struct bpf_insn));
  attr.license = Ptr(license.c_str());
  strncpy(attr.prog_name, "berth_devices", sizeof(attr.prog_name) - 1);
  int fd = sys_bpf(BPF_PROG_LOAD, &attr, sizeof(attr));
  if (fd >= 0) return Napi::Number::New(env, fd);
  int err = errno;
  std::string log(1 << 16, '\0');
  attr.log_level = 1;
  attr.log_buf = Ptr(&log[0]);
  attr.log_size = (uint32_t)log.size();
  fd = sys_bpf(BPF_PROG_LOAD, &attr, sizeof(attr));
  if (fd >= 0) return Napi::Number::New(env, fd);
  ThrowErrno(env, err, "bpf_prog_load");
  std::string last = LastLine(log);
  if (last.empty()) return env.Undefined();
  Napi::Error e = env.GetAndClearPendingException();
  e.Set("message", e.Get("message").ToString().Utf8Value() + " (verifier: " + last + ")");
  e.Set("verifierLog", log.substr(0, log.find('\0')));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

// bpfProgAttach(progFd, cgroupFd, flags): BPF_PROG_ATTACH as BPF_CGROUP_DEVICE.
Napi::Value BpfProgAttach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRE_INT32(0, progFd);
  REQUIRE_INT32(1, cgroupFd);
  REQUIRE_INT32(2, flags);
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.target_fd = (uint32_t)cgroupFd;
  attr.attach_bpf_fd = (uint32_t)progFd;
  attr.attach_type = BPF_CGROUP_DEVICE;
  attr.attach_flags = (uint32_t)flags;
  if (sys_bpf(BPF_PROG_ATTACH, &attr, sizeof(attr)) < 0) return ThrowErrno(env, errno, "bpf_prog_attach");
  return env.Undefined();
}

// bpfProgDetach(progFd, cgroupFd): BPF_PROG_DETACH of that program from BPF_CGROUP_DEVICE.
Napi::Value BpfProgDetach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRE_INT32(0, progFd);
  REQUIRE_INT32(1, cgroupFd);
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.target_fd = (uint32_t)cgroupFd;
  attr.attach_bpf_fd = (uint32_t)progFd;
  attr.attach_type = BPF_CGROUP_DEVICE;
  if (sys_bpf(BPF_PROG_DETACH, &attr, sizeof(attr)) < 0) return ThrowErrno(env, errno, "bpf_prog_detach");
  return env.Undefined();
}

// bpfProgQueryDevice(cgroupFd) -> ids of the BPF_CGROUP_DEVICE programs attached to that cgroup
// itself (not inherited ones). 64 is the kernel's limit per cgroup and attach type.
Napi::Value BpfProgQueryDevice(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRE_INT32(0, cgroupFd);
  uint32_t ids[64];
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.query.target_fd = (uint32_t)cgroupFd;
  attr.query.attach_type = BPF_CGROUP_DEVICE;
  attr.query.prog_ids = Ptr(ids);
  attr.query.prog_cnt = 64;
  if (sys_bpf(BPF_PROG_QUERY, &attr, sizeof(attr)) < 0) return ThrowErrno(env, errno, "bpf_prog_query");
  Napi::Array out = Napi::Array::New(env, attr.query.prog_cnt);
  for (uint32_t i = 0; i < attr.query.prog_cnt; i++) out.Set(i, Napi::Number::New(env, ids[i]));
  return out;
}

// bpfProgGetFdById(id) -> program fd (O_CLOEXEC); ENOENT when no such program exists any more.
Napi::Value BpfProgGetFdById(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRE_INT32(0, id);
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.prog_id = (uint32_t)id;
  int fd = sys_bpf(BPF_PROG_GET_FD_BY_ID, &attr, sizeof(attr));
  if (fd < 0) return ThrowErrno(env, errno, "bpf_prog_get_fd_by_id");
  return Napi::Number::New(env, fd);
}

}  // namespace berth

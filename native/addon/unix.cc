// Unix sockets with fd passing (SCM_RIGHTS): the control socket berth-init sends fds over (its
// fd 6: the pty master, later a seccomp listener) and runc's --console-socket. Every socket and
// every received fd is close-on-exec.
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "errors.h"
#include "macros.h"

namespace berth {

// Enough for any message berth sends (a name); SCM_MAX_FD is 253, berth sends one fd at a time.
static const size_t kMaxData = 4096;
static const int kMaxFds = 16;

// One message over `iov`, with room for kMaxFds fds in its control data. Not copyable: the
// header points into the object itself.
struct FdMsg {
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
  struct msghdr msg = {};
  explicit FdMsg(struct iovec* iov) {
    msg.msg_iov = iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
  }
  FdMsg(const FdMsg&) = delete;
  FdMsg& operator=(const FdMsg&) = delete;
};

// socketpair() -> [a, b]: AF_UNIX SOCK_SEQPACKET, so each sendmsg is one message and a message's
// fds arrive with it, never split or merged with the next one.
Napi::Value Socketpair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) return ThrowErrno(env, errno, "socketpair");
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, sv[0]));
  out.Set(1u, Napi::Number::New(env, sv[1]));
  return out;
}

// connectUnix(path) -> fd: a SOCK_STREAM connection to a listening unix socket (what runc's
// --console-socket dials). Blocks only while the listener's backlog is full.
Napi::Value ConnectUnix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRE_STRING(0, path);
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) return ThrowErrno(env, ENAMETOOLONG, "connect", path.c_str());
  memcpy(addr.sun_path, path.c_str(), path.size());
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(env, errno, "socket");
  if (connect(fd, (struct sockaddr*)&addr, sizeof addr) < 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, err, "connect", path.c_str());
  }
  return Napi::Number::New(env, fd);
}

// sendFds(fd, data, fds): one sendmsg of `data` (a non-empty Buffer or string: a zero-length
// message would read as end of stream on a SEQPACKET socket) with `fds` attached by SCM_RIGHTS.
Napi::Value SendFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRE_INT32(0, fd);
  std::string data;
  if (info[1].IsBuffer()) {
    Napi::Buffer<char> b = info[1].As<Napi::Buffer<char>>();
    data.assign(b.Data(), b.Length());
  } else if (info[1].IsString()) {
    data = info[1].As<Napi::String>().Utf8Value();
  } else {
    THROW_TYPE_ERROR("data must be a Buffer or a string");
  }
  if (data.empty() || data.size() > kMaxData) THROW_TYPE_ERROR("data must hold 1 to 4096 bytes");
  if (!info[2].IsArray()) THROW_TYPE_ERROR("fds must be an array");
  Napi::Array arr = info[2].As<Napi::Array>();
  if (arr.Length() > (uint32_t)kMaxFds) THROW_TYPE_ERROR("fds must hold at most 16 fds");
  std::vector<int> fds;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value v = arr.Get(i);
    if (!IsInt32Value(v)) THROW_TYPE_ERROR("fds must be int32s");
    fds.push_back(v.As<Napi::Number>().Int32Value());
  }
  struct iovec iov = {(void*)data.data(), data.size()};
  FdMsg m(&iov);
  struct msghdr& msg = m.msg;
  if (fds.empty()) {
    msg.msg_control = nullptr;
    msg.msg_controllen = 0;
  } else {
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t n;
  do n = sendmsg(fd, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0) return ThrowErrno(env, errno, "sendmsg");
  return env.Undefined();
}

// recvFds(fd) -> { data, fds }: one recvmsg, non-blocking (EAGAIN when nothing is queued), fds
// received close-on-exec. End of stream is { data: <empty>, fds: [] }. A message or fd list
// larger than the buffers fails EMSGSIZE, closing whatever fds did arrive.
Napi::Value RecvFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRE_INT32(0, fd);
  char data[kMaxData];
  struct iovec iov = {data, sizeof data};
  FdMsg m(&iov);
  struct msghdr& msg = m.msg;
  ssize_t n;
  do n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0) return ThrowErrno(env, errno, "recvmsg");
  std::vector<int> fds;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const int* p = (const int*)CMSG_DATA(c);
    fds.insert(fds.end(), p, p + count);
  }
  if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
    for (int f : fds) close(f);
    return ThrowErrno(env, EMSGSIZE, "recvmsg");
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("data", Napi::Buffer<char>::Copy(env, data, (size_t)n));
  Napi::Array arr = Napi::Array::New(env, fds.size());
  for (size_t i = 0; i < fds.size(); i++) arr.Set((uint32_t)i, Napi::Number::New(env, fds[i]));
  out.Set("fds", arr);
  return out;
}

}  // namespace berth

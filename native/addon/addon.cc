// The addon's single export table (classic-level NAPI_INIT style). Each export is one thin
// syscall wrapper; src/effects/linux.ts declares their exact types and is the only importer.
#include <napi.h>

namespace berth {
Napi::Value Spawn(const Napi::CallbackInfo& info);            // process.cc
Napi::Value PidfdOpen(const Napi::CallbackInfo& info);        // process.cc
Napi::Value PidfdSendSignal(const Napi::CallbackInfo& info);  // process.cc
Napi::Value Waitid(const Napi::CallbackInfo& info);           // process.cc
Napi::Value SetChildSubreaper(const Napi::CallbackInfo& info);  // process.cc
Napi::Value WatchFd(const Napi::CallbackInfo& info);          // watch.cc
Napi::Value Pipe(const Napi::CallbackInfo& info);             // fds.cc
Napi::Value Mkfifo(const Napi::CallbackInfo& info);           // fds.cc
Napi::Value MemfdCreate(const Napi::CallbackInfo& info);      // fds.cc
Napi::Value SealedCopy(const Napi::CallbackInfo& info);       // fds.cc
Napi::Value Close(const Napi::CallbackInfo& info);            // fds.cc
Napi::Value Eventfd(const Napi::CallbackInfo& info);          // eventfd.cc
Napi::Value BpfProgLoadDevice(const Napi::CallbackInfo& info);  // bpf.cc
Napi::Value BpfProgAttach(const Napi::CallbackInfo& info);    // bpf.cc
Napi::Value BpfProgDetach(const Napi::CallbackInfo& info);    // bpf.cc
Napi::Value BpfProgQueryDevice(const Napi::CallbackInfo& info);  // bpf.cc
Napi::Value BpfProgGetFdById(const Napi::CallbackInfo& info);  // bpf.cc
Napi::Value Socketpair(const Napi::CallbackInfo& info);       // unix.cc
Napi::Value ConnectUnix(const Napi::CallbackInfo& info);      // unix.cc
Napi::Value SendFds(const Napi::CallbackInfo& info);          // unix.cc
Napi::Value RecvFds(const Napi::CallbackInfo& info);          // unix.cc
Napi::Value SetWindowSize(const Napi::CallbackInfo& info);    // tty.cc
Napi::Value SpawnUsernsHolder(const Napi::CallbackInfo& info);  // mount.cc
Napi::Value OpenTree(const Napi::CallbackInfo& info);         // mount.cc
Napi::Value MountSetattr(const Napi::CallbackInfo& info);     // mount.cc
Napi::Value NsGetType(const Napi::CallbackInfo& info);        // ns.cc
Napi::Value Mount(const Napi::CallbackInfo& info);            // mount.cc
Napi::Value Umount2(const Napi::CallbackInfo& info);          // mount.cc
}  // namespace berth

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("spawn", Napi::Function::New(env, berth::Spawn, "spawn"));
  exports.Set("pidfdOpen", Napi::Function::New(env, berth::PidfdOpen, "pidfdOpen"));
  exports.Set("pidfdSendSignal", Napi::Function::New(env, berth::PidfdSendSignal, "pidfdSendSignal"));
  exports.Set("waitid", Napi::Function::New(env, berth::Waitid, "waitid"));
  exports.Set("setChildSubreaper", Napi::Function::New(env, berth::SetChildSubreaper, "setChildSubreaper"));
  exports.Set("watchFd", Napi::Function::New(env, berth::WatchFd, "watchFd"));
  exports.Set("pipe", Napi::Function::New(env, berth::Pipe, "pipe"));
  exports.Set("mkfifo", Napi::Function::New(env, berth::Mkfifo, "mkfifo"));
  exports.Set("memfdCreate", Napi::Function::New(env, berth::MemfdCreate, "memfdCreate"));
  exports.Set("sealedCopy", Napi::Function::New(env, berth::SealedCopy, "sealedCopy"));
  exports.Set("close", Napi::Function::New(env, berth::Close, "close"));
  exports.Set("eventfd", Napi::Function::New(env, berth::Eventfd, "eventfd"));
  exports.Set("bpfProgLoadDevice", Napi::Function::New(env, berth::BpfProgLoadDevice, "bpfProgLoadDevice"));
  exports.Set("bpfProgAttach", Napi::Function::New(env, berth::BpfProgAttach, "bpfProgAttach"));
  exports.Set("bpfProgDetach", Napi::Function::New(env, berth::BpfProgDetach, "bpfProgDetach"));
  exports.Set("bpfProgQueryDevice", Napi::Function::New(env, berth::BpfProgQueryDevice, "bpfProgQueryDevice"));
  exports.Set("bpfProgGetFdById", Napi::Function::New(env, berth::BpfProgGetFdById, "bpfProgGetFdById"));
  exports.Set("socketpair", Napi::Function::New(env, berth::Socketpair, "socketpair"));
  exports.Set("connectUnix", Napi::Function::New(env, berth::ConnectUnix, "connectUnix"));
  exports.Set("sendFds", Napi::Function::New(env, berth::SendFds, "sendFds"));
  exports.Set("recvFds", Napi::Function::New(env, berth::RecvFds, "recvFds"));
  exports.Set("setWindowSize", Napi::Function::New(env, berth::SetWindowSize, "setWindowSize"));
  exports.Set("spawnUsernsHolder", Napi::Function::New(env, berth::SpawnUsernsHolder, "spawnUsernsHolder"));
  exports.Set("openTree", Napi::Function::New(env, berth::OpenTree, "openTree"));
  exports.Set("mountSetattr", Napi::Function::New(env, berth::MountSetattr, "mountSetattr"));
  exports.Set("nsGetType", Napi::Function::New(env, berth::NsGetType, "nsGetType"));
  exports.Set("mount", Napi::Function::New(env, berth::Mount, "mount"));
  exports.Set("umount2", Napi::Function::New(env, berth::Umount2, "umount2"));
  return exports;
}

NODE_API_MODULE(berth, Init)

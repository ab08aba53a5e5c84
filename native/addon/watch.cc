// watchFd: poll one fd for readability on the Node event loop (uv_poll_t), call a JS callback
// once, then stop. Nothing blocks and no threadpool thread is parked (a pidfd becomes readable
// when its process exits). The active watch keeps the loop alive, like any libuv handle.
// Note: uv_poll_init puts the fd's open file description in O_NONBLOCK mode.
#include <uv.h>

#include "errors.h"
#include "macros.h"

namespace berth {

// Owned jointly by the poll handle and the JS stop function; freed when both are done.
struct Watch {
  uv_poll_t handle;
  napi_env env;
  Napi::FunctionReference callback;
  Napi::AsyncContext context;
  bool closing = false;
  int owners = 2;  // the handle (until its close callback) and the stop function (until GC)

  Watch(napi_env e, Napi::Function cb) : env(e), context(e, "berth:watchFd") {
    callback = Napi::Persistent(cb);
  }
};

static void Release(Watch* w) {
  if (--w->owners > 0) return;
  Napi::HandleScope scope(w->env);  // the references' destructors call into N-API
  delete w;
}

static void OnClosed(uv_handle_t* handle) {
  Release(static_cast<Watch*>(handle->data));
}

// Idempotent: stops polling and closes the handle once.
static void Stop(Watch* w) {
  if (w->closing) return;
  w->closing = true;
  uv_poll_stop(&w->handle);
  uv_close(reinterpret_cast<uv_handle_t*>(&w->handle), OnClosed);
}

// Any event counts (readable, hang-up, or an error such as EBADF): the callback runs once.
static void OnPoll(uv_poll_t* handle, int, int) {
  Watch* w = static_cast<Watch*>(handle->data);
  Stop(w);
  Napi::Env env(w->env);
  Napi::HandleScope scope(env);
  Napi::FunctionReference cb = std::move(w->callback);
  cb.MakeCallback(env.Global(), {}, w->context);
  if (env.IsExceptionPending()) {
    napi_fatal_exception(env, env.GetAndClearPendingException().Value());  // 'uncaughtException'
  }
}

static Napi::Value StopFn(const Napi::CallbackInfo& info) {
  Watch* w = static_cast<Watch*>(info.Data());
  Stop(w);
  w->callback.Reset();  // the stop function may outlive the watch: let go of the closure now
  return info.Env().Undefined();
}

Napi::Value WatchFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRE_INT32(0, fd);
  REQUIRE_FUNCTION(1, onReady);
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return ThrowErrno(env, EINVAL, "uv_default_loop");
  Watch* w = new Watch(env, onReady);
  int rc = uv_poll_init(loop, &w->handle, fd);
  if (rc != 0) {
    delete w;
    return ThrowErrno(env, -rc, "uv_poll_init");
  }
  w->handle.data = w;
  rc = uv_poll_start(&w->handle, UV_READABLE | UV_DISCONNECT, OnPoll);
  if (rc != 0) {
    w->owners = 1;  // no stop function will exist
    Stop(w);
    return ThrowErrno(env, -rc, "uv_poll_start");
  }
  Napi::Function stop = Napi::Function::New(env, StopFn, "stop", w);
  napi_add_finalizer(
      env, stop, w, [](napi_env, void* data, void*) { Release(static_cast<Watch*>(data)); },
      nullptr, nullptr);
  return stop;
}

}  // namespace berth

// Readiness watching for fds libuv cannot wrap as streams (an eventfd, for cgroup v1 OOM
// notifications): a uv_poll handle on Node's own loop, so nothing blocks a thread. The watcher
// never owns the fd: the caller stops it before closing the fd (epoll must not outlive it).
#include "util.h"
#include <memory>
#include <sys/eventfd.h>
#include <unistd.h>
#include <uv.h>

class FdWatcher : public Napi::ObjectWrap<FdWatcher> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "FdWatcher", {InstanceMethod("close", &FdWatcher::Close)});
  }

  // new FdWatcher(fd, callback(status, events)): starts watching for readability at once.
  explicit FdWatcher(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FdWatcher>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsNumber() || !info[1].IsFunction()) {
      Napi::TypeError::New(env, "FdWatcher(fd, callback) expected").ThrowAsJavaScriptException();
      return;
    }
    int fd = info[0].As<Napi::Number>().Int32Value();
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
      Napi::Error::New(env, "no event loop").ThrowAsJavaScriptException();
      return;
    }
    handle_ = new uv_poll_t;
    int rc = uv_poll_init(loop, handle_, fd);
    if (rc != 0) {
      delete handle_;
      handle_ = nullptr;
      ThrowErrno(env, -rc, "uv_poll_init");
      return;
    }
    handle_->data = this;
    rc = uv_poll_start(handle_, UV_READABLE, OnPoll);
    if (rc != 0) {
      CloseHandle();
      ThrowErrno(env, -rc, "uv_poll_start");
      return;
    }
    // A watcher alone must not keep the process alive (the shim's server does that).
    uv_unref(reinterpret_cast<uv_handle_t*>(handle_));
    callback_ = Napi::Persistent(info[1].As<Napi::Function>());
    context_ = std::make_unique<Napi::AsyncContext>(env, "FdWatcher");
    // At environment teardown libuv runs once more with JS unusable: stop before that.
    napi_add_env_cleanup_hook(env, CleanupHook, this);
    hooked_ = true;
    // While watching, the JS object must survive even if nobody references it.
    Ref();
  }

  ~FdWatcher() override {
    Unhook();
    CloseHandle();
  }

 private:
  static void OnPoll(uv_poll_t* handle, int status, int events) {
    auto* self = static_cast<FdWatcher*>(handle->data);
    if (self == nullptr || self->handle_ == nullptr) return;
    napi_env env = self->Env();
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) != napi_ok) return;
    napi_value global, args[2], result;
    // Plain C calls: a failure here must not become a fatal C++ wrapper throw.
    if (napi_get_global(env, &global) == napi_ok &&
        napi_create_int32(env, status, &args[0]) == napi_ok &&
        napi_create_int32(env, events, &args[1]) == napi_ok) {
      napi_make_callback(env, *self->context_, global, self->callback_.Value(), 2, args, &result);
    }
    // The JS side never throws; if it did, do not leave an exception pending on the loop.
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
      napi_value ignored;
      napi_get_and_clear_last_exception(env, &ignored);
    }
    napi_close_handle_scope(env, scope);
  }

  static void CleanupHook(void* arg) {
    auto* self = static_cast<FdWatcher*>(arg);
    self->hooked_ = false;
    self->CloseHandle();
  }

  void Unhook() {
    if (!hooked_) return;
    hooked_ = false;
    napi_remove_env_cleanup_hook(Env(), CleanupHook, this);
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (handle_ != nullptr) {
      Unhook();
      CloseHandle();
      Unref();
    }
    return info.Env().Undefined();
  }

  // Stops the poll and frees the handle once libuv is done with it; safe to call twice.
  void CloseHandle() {
    if (handle_ == nullptr) return;
    uv_poll_stop(handle_);
    handle_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(handle_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    handle_ = nullptr;
  }

  uv_poll_t* handle_ = nullptr;
  bool hooked_ = false;
  Napi::FunctionReference callback_;
  std::unique_ptr<Napi::AsyncContext> context_;
};

// eventfdRead(fd): the counter (reset to 0 by the read), or 0 when nothing is pending (EAGAIN).
static Napi::Value EventFdRead(const Napi::CallbackInfo& info) {
  int fd = info[0].ToNumber().Int32Value();
  eventfd_t value = 0;
  for (;;) {
    if (eventfd_read(fd, &value) == 0) break;
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return Napi::Number::New(info.Env(), 0);
    return ThrowErrno(info.Env(), errno, "read");
  }
  return Napi::Number::New(info.Env(), static_cast<double>(value));
}

Napi::Object InitPoll(Napi::Env env, Napi::Object exports) {
  exports.Set("FdWatcher", FdWatcher::Define(env));
  exports.Set("eventfdRead", Napi::Function::New(env, EventFdRead));
  return exports;
}

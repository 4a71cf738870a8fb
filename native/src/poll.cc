// Readiness of fds that Node's streams cannot own, through a uv_poll handle on Node's own loop:
// a pty master (net.Socket refuses it, and libuv's TTY handle writes it with blocking writes that
// stall the loop once the container stops reading) and a cgroup v1 OOM eventfd. The JS side does
// the non-blocking reads and writes itself when told the fd is ready. The watcher never owns the
// fd: its owner closes the watcher first, then the fd (epoll must not outlive it).
#include "util.h"
#include <memory>
#include <sys/eventfd.h>
#include <unistd.h>
#include <uv.h>

namespace {

class FdWatcher : public Napi::ObjectWrap<FdWatcher> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "FdWatcher",
                       {InstanceMethod("start", &FdWatcher::Start),
                        InstanceMethod("unref", &FdWatcher::Unreference),
                        InstanceMethod("close", &FdWatcher::Close)});
  }

  // new FdWatcher(fd, callback(status, events)): idle until start().
  explicit FdWatcher(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FdWatcher>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsFunction()) {
      ThrowType(env, "FdWatcher(fd, callback) expected");
      return;
    }
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
      ThrowErrno(env, EINVAL, "uv_default_loop");
      return;
    }
    auto* handle = new uv_poll_t;
    int err = uv_poll_init(loop, handle, info[0].ToNumber().Int32Value());
    if (err != 0) {
      delete handle;
      ThrowErrno(env, -err, "uv_poll_init");
      return;
    }
    handle->data = this;
    handle_ = handle;
    callback_ = Napi::Persistent(info[1].As<Napi::Function>());
    context_ = std::make_unique<Napi::AsyncContext>(env, "FdWatcher");
    // At environment teardown libuv runs once more with JS unusable: release before that.
    napi_add_env_cleanup_hook(env, CleanupHook, this);
    hooked_ = true;
  }

  // Collected without close(): the handle cannot be active (an active one holds a reference).
  ~FdWatcher() override {
    Unhook();
    Release();
  }

 private:
  // start(events): UV_READABLE | UV_WRITABLE; 0 stops watching.
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (handle_ == nullptr) return ThrowErrno(env, EBADF, "uv_poll_start");
    int events = info[0].ToNumber().Int32Value() & (UV_READABLE | UV_WRITABLE);
    if (events == 0) {
      uv_poll_stop(handle_);
      SetActive(false);
      return env.Undefined();
    }
    int err = uv_poll_start(handle_, events, OnPoll);
    if (err != 0) return ThrowErrno(env, -err, "uv_poll_start");
    SetActive(true);
    return env.Undefined();
  }

  // unref(): an active watcher alone does not keep the process alive (OOM watchers).
  Napi::Value Unreference(const Napi::CallbackInfo& info) {
    if (handle_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(handle_));
    return info.Env().Undefined();
  }

  // close(): stops and releases the handle; no callback runs afterwards. Idempotent.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    Unhook();
    Release();
    return info.Env().Undefined();
  }

  static void CleanupHook(void* arg) {
    auto* self = static_cast<FdWatcher*>(arg);
    self->hooked_ = false;
    self->Release();
  }

  void Unhook() {
    if (!hooked_) return;
    hooked_ = false;
    napi_remove_env_cleanup_hook(Env(), CleanupHook, this);
  }

  void Release() {
    if (handle_ != nullptr) {
      uv_poll_stop(handle_);
      handle_->data = nullptr;
      // uv_close removes the fd from epoll at once; the memory goes when libuv is done with it.
      uv_close(reinterpret_cast<uv_handle_t*>(handle_),
               [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
      handle_ = nullptr;
    }
    SetActive(false);
    if (!callback_.IsEmpty()) callback_.Reset();
  }

  // While watching, the JS object must outlive every callback, referenced or not.
  void SetActive(bool on) {
    if (on == active_) return;
    active_ = on;
    if (on) Ref();
    else Unref();
  }

  // Plain C calls throughout: at environment teardown libuv may run this once more with JS
  // unusable, and a failing C++ wrapper call would be a fatal error instead of a no-op.
  static void OnPoll(uv_poll_t* handle, int status, int events) {
    auto* self = static_cast<FdWatcher*>(handle->data);
    if (self == nullptr || self->callback_.IsEmpty()) return;
    napi_env env = self->Env();
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) != napi_ok) return;
    // A status error (EBADF after POLLERR) has already stopped the handle.
    if (status != 0) self->SetActive(false);
    napi_value recv, args[2], result;
    if (napi_get_global(env, &recv) == napi_ok &&
        napi_create_int32(env, status, &args[0]) == napi_ok &&
        napi_create_int32(env, events, &args[1]) == napi_ok) {
      napi_make_callback(env, *self->context_, recv, self->callback_.Value(), 2, args, &result);
    }
    // A throwing callback is a bug: report it as an uncaught exception (the daemon logs those).
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
      napi_value err;
      if (napi_get_and_clear_last_exception(env, &err) == napi_ok) napi_fatal_exception(env, err);
    }
    napi_close_handle_scope(env, scope);
  }

  uv_poll_t* handle_ = nullptr;
  Napi::FunctionReference callback_;
  std::unique_ptr<Napi::AsyncContext> context_;
  bool active_ = false;
  bool hooked_ = false;
};

// eventfdRead(fd): the counter (reset to 0 by the read), or 0 when nothing is pending (EAGAIN).
Napi::Value EventFdRead(const Napi::CallbackInfo& info) {
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

}  // namespace

Napi::Object InitPoll(Napi::Env env, Napi::Object exports) {
  exports.Set("FdWatcher", FdWatcher::Define(env));
  exports.Set("eventfdRead", Napi::Function::New(env, EventFdRead));
  return exports;
}

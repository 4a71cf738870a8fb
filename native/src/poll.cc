// Readiness of an fd that Node's streams cannot own, through libuv's own loop (uv_poll_t). A pty
// master is one: net.Socket refuses it (libuv calls it a TTY), and libuv's TTY handle writes a
// master with blocking writes, which stalls the whole loop once the container stops reading its
// input. The JS side does the non-blocking reads and writes itself when told the fd is ready.
#include "util.h"
#include <uv.h>

namespace {

class FdWatcher : public Napi::ObjectWrap<FdWatcher> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "FdWatcher",
                       {InstanceMethod("start", &FdWatcher::Start),
                        InstanceMethod("close", &FdWatcher::Close)});
  }

  // new FdWatcher(fd, callback(status, events)): idle until start().
  explicit FdWatcher(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FdWatcher>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsFunction()) {
      ThrowType(env, "FdWatcher(fd, callback)");
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
  }

  // Collected without close(): the handle cannot be active (an active one holds a reference).
  ~FdWatcher() override { Release(); }

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

  // close(): stops and releases the handle (the fd itself stays open; its owner closes it).
  Napi::Value Close(const Napi::CallbackInfo& info) {
    Release();
    return info.Env().Undefined();
  }

  void Release() {
    if (handle_ != nullptr) {
      handle_->data = nullptr;
      // uv_close on a poll handle removes the fd from epoll at once; the memory goes later.
      uv_close(reinterpret_cast<uv_handle_t*>(handle_),
               [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
      handle_ = nullptr;
    }
    SetActive(false);
    if (!callback_.IsEmpty()) callback_.Reset();
  }

  // While watching, the JS object must outlive every callback.
  void SetActive(bool on) {
    if (on == active_) return;
    active_ = on;
    if (on) Ref();
    else Unref();
  }

  static void OnPoll(uv_poll_t* handle, int status, int events) {
    auto* self = static_cast<FdWatcher*>(handle->data);
    if (self == nullptr || self->callback_.IsEmpty()) return;
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    Napi::Object recv = self->Value();
    // A status error (EBADF after POLLERR) has already stopped the handle.
    if (status != 0) self->SetActive(false);
    self->callback_.MakeCallback(recv, {Napi::Number::New(env, status),
                                        Napi::Number::New(env, events)});
    if (env.IsExceptionPending()) {
      napi_fatal_exception(env, env.GetAndClearPendingException().Value());
    }
  }

  uv_poll_t* handle_ = nullptr;
  Napi::FunctionReference callback_;
  bool active_ = false;
};

}  // namespace

Napi::Object InitPoll(Napi::Env env, Napi::Object exports) {
  exports.Set("FdWatcher", FdWatcher::Define(env));
  return exports;
}

// mount(2)/umount2(2) for rootfs mounts, and eventfd for cgroup v1 OOM notification.
#include "util.h"
#include <sys/eventfd.h>
#include <sys/mount.h>

static Napi::Value Mount(const Napi::CallbackInfo& info) {
  std::string source = info[0].ToString().Utf8Value();
  std::string target = info[1].ToString().Utf8Value();
  std::string fstype = info[2].ToString().Utf8Value();
  unsigned long flags = static_cast<unsigned long>(info[3].ToNumber().Int64Value());
  std::string data = info[4].ToString().Utf8Value();
  if (mount(source.empty() ? nullptr : source.c_str(), target.c_str(),
            fstype.empty() ? nullptr : fstype.c_str(), flags,
            data.empty() ? nullptr : data.c_str()) != 0) {
    return ThrowErrno(info.Env(), errno, "mount");
  }
  return info.Env().Undefined();
}

static Napi::Value Umount2(const Napi::CallbackInfo& info) {
  std::string target = info[0].ToString().Utf8Value();
  int flags = info[1].ToNumber().Int32Value();
  if (umount2(target.c_str(), flags) != 0) return ThrowErrno(info.Env(), errno, "umount2");
  return info.Env().Undefined();
}

static Napi::Value EventFd(const Napi::CallbackInfo& info) {
  int fd = eventfd(info[0].ToNumber().Uint32Value(), info[1].ToNumber().Int32Value() | EFD_CLOEXEC);
  if (fd < 0) return ThrowErrno(info.Env(), errno, "eventfd");
  return Napi::Number::New(info.Env(), fd);
}

Napi::Object InitSys(Napi::Env env, Napi::Object exports) {
  exports.Set("mount", Napi::Function::New(env, Mount));
  exports.Set("umount2", Napi::Function::New(env, Umount2));
  exports.Set("eventfd", Napi::Function::New(env, EventFd));
  return exports;
}

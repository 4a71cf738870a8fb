// mount(2)/umount2(2) for rootfs mounts, eventfd for cgroup v1 OOM notification, and prlimit(2)
// for the open-file limit (a grouped daemon holds fds for hundreds of containers).
#include "util.h"
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/resource.h>

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

static Napi::Value LimitValue(Napi::Env env, rlim_t v) {
  return Napi::Number::New(env, v == RLIM_INFINITY ? -1.0 : static_cast<double>(v));
}

// prlimitNofile(pid, soft?, hard?): sets RLIMIT_NOFILE of `pid` (0: this process) when soft and
// hard are given (-1: unlimited); returns the limit that was in force before.
static Napi::Value PrlimitNofile(const Napi::CallbackInfo& info) {
  pid_t pid = info[0].ToNumber().Int32Value();
  struct rlimit next {}, old {};
  bool set = info.Length() >= 3;
  if (set) {
    double soft = info[1].ToNumber().DoubleValue();
    double hard = info[2].ToNumber().DoubleValue();
    next.rlim_cur = soft < 0 ? RLIM_INFINITY : static_cast<rlim_t>(soft);
    next.rlim_max = hard < 0 ? RLIM_INFINITY : static_cast<rlim_t>(hard);
  }
  if (prlimit(pid, RLIMIT_NOFILE, set ? &next : nullptr, &old) != 0) {
    return ThrowErrno(info.Env(), errno, "prlimit");
  }
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("soft", LimitValue(info.Env(), old.rlim_cur));
  out.Set("hard", LimitValue(info.Env(), old.rlim_max));
  return out;
}

Napi::Object InitSys(Napi::Env env, Napi::Object exports) {
  exports.Set("mount", Napi::Function::New(env, Mount));
  exports.Set("umount2", Napi::Function::New(env, Umount2));
  exports.Set("eventfd", Napi::Function::New(env, EventFd));
  exports.Set("prlimitNofile", Napi::Function::New(env, PrlimitNofile));
  return exports;
}

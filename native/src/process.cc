// Process primitives: child subreaper, reaping with wait4, and spawning with an explicit fd map.
// Spawning uses posix_spawn (vfork-like in glibc: cheap even from a large Node process) so every
// child is known only to our reaper, never to libuv.
#include "util.h"
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static Napi::Value SetChildSubreaper(const Napi::CallbackInfo& info) {
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) return ThrowErrno(info.Env(), errno, "prctl");
  return info.Env().Undefined();
}

static Napi::Value IsChildSubreaper(const Napi::CallbackInfo& info) {
  int value = 0;
  if (prctl(PR_GET_CHILD_SUBREAPER, &value, 0, 0, 0) != 0) return ThrowErrno(info.Env(), errno, "prctl");
  return Napi::Boolean::New(info.Env(), value != 0);
}

// reapAll(): [{pid, status, signaled, exitCode, signal}] for every child that has exited.
static Napi::Value ReapAll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  uint32_t n = 0;
  for (;;) {
    int status = 0;
    struct rusage ru;
    pid_t pid = wait4(-1, &status, WNOHANG, &ru);
    if (pid == 0) break;
    if (pid < 0) {
      if (errno == EINTR) continue;
      if (errno == ECHILD) break;
      return ThrowErrno(env, errno, "wait4");
    }
    if (!WIFEXITED(status) && !WIFSIGNALED(status)) continue;  // stopped/continued: not an exit
    Napi::Object e = Napi::Object::New(env);
    bool signaled = WIFSIGNALED(status);
    e.Set("pid", Napi::Number::New(env, pid));
    e.Set("signaled", Napi::Boolean::New(env, signaled));
    e.Set("status", Napi::Number::New(env, signaled ? 128 + WTERMSIG(status) : WEXITSTATUS(status)));
    e.Set("exitCode", signaled ? env.Null() : Napi::Number::New(env, WEXITSTATUS(status)));
    e.Set("signal", signaled ? Napi::Number::New(env, WTERMSIG(status)) : env.Null());
    out.Set(n++, e);
  }
  return out;
}

static std::vector<char*> CStrings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// spawn({file, argv, env, cwd?, fds, setsid?, setpgid?}): pid. Child fd i = fds[i] (-1: /dev/null);
// every other fd is closed; signal mask and dispositions are reset.
static Napi::Value Spawn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) return ThrowType(env, "spawn: options object expected");
  Napi::Object o = info[0].As<Napi::Object>();
  std::string file = o.Get("file").ToString().Utf8Value();
  std::vector<std::string> argv = StringArray(o.Get("argv").As<Napi::Array>());
  std::vector<std::string> envv = StringArray(o.Get("env").As<Napi::Array>());
  std::vector<int> fds;
  if (o.Has("fds") && o.Get("fds").IsArray()) {
    Napi::Array a = o.Get("fds").As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) fds.push_back(a.Get(i).ToNumber().Int32Value());
  }
  std::string cwd = o.Has("cwd") && o.Get("cwd").IsString() ? o.Get("cwd").ToString().Utf8Value() : "";
  bool setsid_ = o.Has("setsid") && o.Get("setsid").ToBoolean().Value();
  bool setpgid_ = o.Has("setpgid") && o.Get("setpgid").ToBoolean().Value();

  // Move every source fd above the target range first, so targets cannot clobber sources.
  int base = static_cast<int>(fds.size()) + 3;
  if (base < 10) base = 10;
  std::vector<int> temps;
  int devnull = -1;
  for (int fd : fds) {
    int src = fd;
    if (src < 0) {
      if (devnull < 0) devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
      src = devnull;
    }
    int t = fcntl(src, F_DUPFD_CLOEXEC, base);
    if (t < 0) {
      int err = errno;
      for (int x : temps) close(x);
      if (devnull >= 0) close(devnull);
      return ThrowErrno(env, err, "fcntl");
    }
    temps.push_back(t);
  }
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  for (size_t i = 0; i < temps.size(); i++) posix_spawn_file_actions_adddup2(&fa, temps[i], static_cast<int>(i));
  posix_spawn_file_actions_addclosefrom_np(&fa, static_cast<int>(temps.size()));
  if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, cwd.c_str());
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  // glibc's sigfillset leaves out its internal signals (32, 33), and for those posix_spawn sets
  // SIG_IGN in the child, which execve keeps: runc, and through it every container process, would
  // start with signal 32 ignored. Set in the mask by hand, they get SIG_DFL like every other.
  for (int sig : {32, 33}) {
    constexpr int kBits = 8 * sizeof(all.__val[0]);
    all.__val[(sig - 1) / kBits] |= 1UL << ((sig - 1) % kBits);
  }
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  short flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
  if (setsid_) flags |= POSIX_SPAWN_SETSID;
  else if (setpgid_) {
    flags |= POSIX_SPAWN_SETPGROUP;
    posix_spawnattr_setpgroup(&attr, 0);
  }
  posix_spawnattr_setflags(&attr, flags);
  auto cargv = CStrings(argv);
  auto cenv = CStrings(envv);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, file.c_str(), &fa, &attr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  for (int x : temps) close(x);
  if (devnull >= 0) close(devnull);
  if (rc != 0) return ThrowErrno(env, rc, "posix_spawn");
  return Napi::Number::New(env, pid);
}

static Napi::Value Setsid(const Napi::CallbackInfo& info) {
  pid_t sid = setsid();
  if (sid < 0) return ThrowErrno(info.Env(), errno, "setsid");
  return Napi::Number::New(info.Env(), sid);
}

Napi::Object InitProcess(Napi::Env env, Napi::Object exports) {
  exports.Set("setChildSubreaper", Napi::Function::New(env, SetChildSubreaper));
  exports.Set("isChildSubreaper", Napi::Function::New(env, IsChildSubreaper));
  exports.Set("reapAll", Napi::Function::New(env, ReapAll));
  exports.Set("spawn", Napi::Function::New(env, Spawn));
  exports.Set("setsid", Napi::Function::New(env, Setsid));
  return exports;
}

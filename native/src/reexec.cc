// Live upgrade: execve(2) in place (same pid, so the containers stay our children), keeping
// exactly the fds named. Node 20 has no process.execve. Which fds, and what they mean, is decided
// in TypeScript; this only marks every other fd above stderr close-on-exec and execs.
#include "util.h"
#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static std::vector<char*> Pointers(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

static void SetCloexec(int fd, bool on) {
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0) return;
  fcntl(fd, F_SETFD, on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC));
}

// execve({file, argv, env, keep}): returns only on failure (throws errno). fds in `keep` are
// inherited; every other fd above 2 is closed by the exec.
static Napi::Value Execve(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) return ThrowType(env, "execve: options object expected");
  Napi::Object o = info[0].As<Napi::Object>();
  std::string file = o.Get("file").ToString().Utf8Value();
  std::vector<std::string> argv = StringArray(o.Get("argv").As<Napi::Array>());
  std::vector<std::string> envv = StringArray(o.Get("env").As<Napi::Array>());
  std::vector<int> keep;
  Napi::Array k = o.Get("keep").As<Napi::Array>();
  for (uint32_t i = 0; i < k.Length(); i++) keep.push_back(k.Get(i).ToNumber().Int32Value());

  if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    return ThrowErrno(env, errno, "close_range");
  }
  for (int fd : keep) SetCloexec(fd, false);
  // Node's threads may have left signals blocked in this one; the new image starts clean.
  sigset_t all, old;
  sigemptyset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  std::vector<char*> a = Pointers(argv);
  std::vector<char*> e = Pointers(envv);
  execve(file.c_str(), a.data(), e.data());
  int err = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  // Every fd Node opens is close-on-exec: put the kept ones back.
  for (int fd : keep) SetCloexec(fd, true);
  return ThrowErrno(env, err, "execve");
}

// waitPid(pid): the exit status (128 + signal when killed) of that one child, or null while it
// runs. For the upgrade's check process, while the reaper is paused.
static Napi::Value WaitPid(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  pid_t pid = info[0].ToNumber().Int32Value();
  int status = 0;
  pid_t r;
  do r = waitpid(pid, &status, WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r < 0) return ThrowErrno(env, errno, "waitpid");
  if (r == 0) return env.Null();
  if (WIFSIGNALED(status)) return Napi::Number::New(env, 128 + WTERMSIG(status));
  return Napi::Number::New(env, WEXITSTATUS(status));
}

Napi::Object InitReexec(Napi::Env env, Napi::Object exports) {
  exports.Set("execve", Napi::Function::New(env, Execve));
  exports.Set("waitPid", Napi::Function::New(env, WaitPid));
  return exports;
}

// Forking a booted Node process, for the zygote (src/shim/handoff/zygote.ts): a spare made by
// fork(2) shares the zygote's loaded code and heap copy-on-write and costs no Node start-up. Node
// has no fork; these are the mechanics it lacks, nothing more.
#include "util.h"
#include <cstdio>
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <unistd.h>
#include <uv.h>

// V8 maps its heap MADV_DONTFORK: a forked Node would fault on its first heap access. Every
// mapping is made inheritable again (regions that refuse, such as [vsyscall], are left as they are).
static void MakeMappingsInheritable() {
  FILE* maps = fopen("/proc/self/maps", "re");
  if (maps == nullptr) return;
  char line[512];
  while (fgets(line, sizeof line, maps) != nullptr) {
    unsigned long start, end;
    if (sscanf(line, "%lx-%lx", &start, &end) == 2)
      madvise(reinterpret_cast<void*>(start), end - start, MADV_DOFORK);
  }
  fclose(maps);
}

// forkDetached(): this process forked into a grandchild leading a new session, whose parent is
// init (the intermediate child exits at once and is reaped here), as spawnDetached's are. Returns
// the grandchild's pid here, and 0 in the grandchild, whose event loop is re-made for it (a new
// epoll set and signal pipe). Only the calling thread goes on in the grandchild: the caller runs V8
// without background threads (--single-threaded) and forks only while idle.
static Napi::Value ForkDetached(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr)
    return ThrowType(env, "forkDetached: no event loop");
  int pidPipe[2];
  if (pipe2(pidPipe, O_CLOEXEC) != 0) return ThrowErrno(env, errno, "pipe2");
  MakeMappingsInheritable();
  pid_t child = fork();
  if (child == 0) {
    close(pidPipe[0]);
    pid_t grandchild = fork();
    if (grandchild != 0) {
      (void)!write(pidPipe[1], &grandchild, sizeof(grandchild));
      _exit(0);
    }
    close(pidPipe[1]);
    setsid();
    if (uv_loop_fork(loop) != 0) _exit(127);
    return Napi::Number::New(env, 0);
  }
  int forkErr = errno;
  close(pidPipe[1]);
  if (child < 0) {
    close(pidPipe[0]);
    return ThrowErrno(env, forkErr, "fork");
  }
  pid_t pid = ReapIntermediate(child, pidPipe[0]);
  if (pid <= 0) return ThrowErrno(env, EAGAIN, "fork");
  return Napi::Number::New(env, pid);
}

// processIds(): {pid, ppid} from the kernel (Node caches process.pid at start-up).
static Napi::Value ProcessIds(const Napi::CallbackInfo& info) {
  Napi::Object ids = Napi::Object::New(info.Env());
  ids.Set("pid", Napi::Number::New(info.Env(), getpid()));
  ids.Set("ppid", Napi::Number::New(info.Env(), getppid()));
  return ids;
}

// exitNow(code): _exit(2). A forked Node must not run Node's exit path, which joins the worker
// threads the fork did not copy. Output is unbuffered (stdio is pipes and files, written
// synchronously), so nothing is lost.
static Napi::Value ExitNow(const Napi::CallbackInfo& info) {
  _exit(info[0].ToNumber().Int32Value());
  return info.Env().Undefined();
}

// waitReadable(fd, ms): whether fd has input (or EOF) within ms milliseconds.
static Napi::Value WaitReadable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct pollfd p {};
  p.fd = info[0].ToNumber().Int32Value();
  p.events = POLLIN;
  int r;
  do r = poll(&p, 1, info[1].ToNumber().Int32Value());
  while (r < 0 && errno == EINTR);
  if (r < 0) return ThrowErrno(env, errno, "poll");
  return Napi::Boolean::New(env, r > 0);
}

Napi::Object InitZygote(Napi::Env env, Napi::Object exports) {
  exports.Set("forkDetached", Napi::Function::New(env, ForkDetached));
  exports.Set("processIds", Napi::Function::New(env, ProcessIds));
  exports.Set("exitNow", Napi::Function::New(env, ExitNow));
  exports.Set("waitReadable", Napi::Function::New(env, WaitReadable));
  return exports;
}

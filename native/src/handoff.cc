// Primitives for handing a shim's work between processes: a detached spawn (the child belongs to
// init, as a shim daemon must), peer credentials of a unix socket, and whole messages with an
// optional fd over a SOCK_SEQPACKET pair. Only mechanics: who gets what is decided in TypeScript.
#include "util.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void CloseRange(int from, int to) {
  if (from > to) return;
  if (syscall(SYS_close_range, static_cast<unsigned>(from), static_cast<unsigned>(to), 0U) != 0)
    for (int fd = from; fd <= to && fd < 4096; fd++) close(fd);
}

pid_t ReapIntermediate(pid_t child, int pidFd) {
  int status;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  pid_t pid = -1;
  ssize_t got;
  do got = read(pidFd, &pid, sizeof(pid));
  while (got < 0 && errno == EINTR);
  close(pidFd);
  return got == static_cast<ssize_t>(sizeof(pid)) ? pid : -1;
}

// spawnDetached({file, argv, env, cwd?, fds}): pid of a grandchild leading a new session, whose
// parent is init (the intermediate child exits at once and is reaped here). Child fd i = fds[i] (-1:
// /dev/null), nothing else inherited, signals reset. Throws the exec error if exec failed.
static Napi::Value SpawnDetached(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) return ThrowType(env, "spawnDetached: options object expected");
  Napi::Object o = info[0].As<Napi::Object>();
  std::string file = o.Get("file").ToString().Utf8Value();
  std::vector<std::string> argv = StringArray(o.Get("argv").As<Napi::Array>());
  std::vector<std::string> envv = StringArray(o.Get("env").As<Napi::Array>());
  std::string cwd = o.Has("cwd") && o.Get("cwd").IsString() ? o.Get("cwd").ToString().Utf8Value() : "";
  std::vector<int> fds;
  Napi::Array a = o.Get("fds").As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) fds.push_back(a.Get(i).ToNumber().Int32Value());

  // Everything is prepared before fork: after it, only async-signal-safe calls.
  int base = static_cast<int>(fds.size()) + 3;
  if (base < 10) base = 10;
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  std::vector<int> temps;
  for (int fd : fds) {
    int t = fcntl(fd < 0 ? devnull : fd, F_DUPFD_CLOEXEC, base);
    if (t < 0) {
      int err = errno;
      for (int x : temps) close(x);
      close(devnull);
      return ThrowErrno(env, err, "fcntl");
    }
    temps.push_back(t);
  }
  int pidPipe[2], errPipe[2];
  if (pipe2(pidPipe, O_CLOEXEC) != 0 || pipe2(errPipe, O_CLOEXEC) != 0) {
    int err = errno;
    for (int x : temps) close(x);
    close(devnull);
    return ThrowErrno(env, err, "pipe2");
  }
  std::vector<char*> cargv, cenv;
  for (auto& s : argv) cargv.push_back(s.data());
  cargv.push_back(nullptr);
  for (auto& s : envv) cenv.push_back(s.data());
  cenv.push_back(nullptr);
  int n = static_cast<int>(temps.size());
  // Above every target fd, so the fd map cannot overwrite it.
  int errFd = fcntl(errPipe[1], F_DUPFD_CLOEXEC, base);
  close(errPipe[1]);
  errPipe[1] = errFd;

  pid_t child = fork();
  if (child == 0) {
    pid_t grandchild = fork();
    if (grandchild == 0) {
      setsid();
      for (int i = 0; i < n; i++) dup2(temps[i], i);
      // Keep only the mapped fds and the exec-error pipe (close-on-exec).
      CloseRange(n, errFd - 1);
      CloseRange(errFd + 1, ~0U >> 1);
      struct sigaction dfl {};
      dfl.sa_handler = SIG_DFL;
      for (int sig = 1; sig < NSIG; sig++) sigaction(sig, &dfl, nullptr);
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      if (cwd.empty() || chdir(cwd.c_str()) == 0) execve(file.c_str(), cargv.data(), cenv.data());
      int err = errno;
      (void)!write(errFd, &err, sizeof(err));
      _exit(127);
    }
    (void)!write(pidPipe[1], &grandchild, sizeof(grandchild));
    _exit(0);
  }
  int forkErr = errno;
  close(pidPipe[1]);
  close(errPipe[1]);
  for (int x : temps) close(x);
  close(devnull);
  if (child < 0) {
    close(pidPipe[0]);
    close(errPipe[0]);
    return ThrowErrno(env, forkErr, "fork");
  }
  pid_t pid = ReapIntermediate(child, pidPipe[0]);
  int execErr = 0;
  ssize_t got;
  do got = read(errPipe[0], &execErr, sizeof(execErr));
  while (got < 0 && errno == EINTR);
  close(errPipe[0]);
  if (got == static_cast<ssize_t>(sizeof(execErr))) return ThrowErrno(env, execErr, "execve");
  if (pid <= 0) return ThrowErrno(env, ECHILD, "fork");
  return Napi::Number::New(env, pid);
}

// peerCred(fd): {pid, uid, gid} of the process that connected a unix socket.
static Napi::Value PeerCred(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (getsockopt(info[0].ToNumber().Int32Value(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
    return ThrowErrno(env, errno, "getsockopt");
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, cred.pid));
  out.Set("uid", Napi::Number::New(env, cred.uid));
  out.Set("gid", Napi::Number::New(env, cred.gid));
  return out;
}

// seqpacketPair(): [a, b], close-on-exec; message boundaries are kept.
static Napi::Value SeqpacketPair(const Napi::CallbackInfo& info) {
  int sp[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) != 0)
    return ThrowErrno(info.Env(), errno, "socketpair");
  Napi::Array out = Napi::Array::New(info.Env(), 2);
  out.Set(0u, Napi::Number::New(info.Env(), sp[0]));
  out.Set(1u, Napi::Number::New(info.Env(), sp[1]));
  return out;
}

// sendMessage(sock, data, fd): one message; fd >= 0 travels with it (SCM_RIGHTS).
static Napi::Value SendMessage(const Napi::CallbackInfo& info) {
  Napi::Buffer<char> data = info[1].As<Napi::Buffer<char>>();
  if (SendWithFd(info[0].ToNumber().Int32Value(), data.Data(), data.Length(),
                 info[2].ToNumber().Int32Value()) < 0)
    return ThrowErrno(info.Env(), errno, "sendmsg");
  return info.Env().Undefined();
}

// recvMessage(sock, maxBytes): {data, fd} (fd -1 if none; empty data and -1 at EOF), or null when
// a non-blocking socket has nothing yet.
static Napi::Value RecvMessage(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int sock = info[0].ToNumber().Int32Value();
  size_t max = info[1].ToNumber().Uint32Value();
  std::vector<char> data(max > 0 ? max : 1);
  iovec iov{data.data(), data.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n;
  do n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return env.Null();
  if (n < 0) return ThrowErrno(env, errno, "recvmsg");
  int fd = -1;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (c != nullptr && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
      c->cmsg_len == CMSG_LEN(sizeof(int)))
    memcpy(&fd, CMSG_DATA(c), sizeof(int));
  if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
    if (fd >= 0) close(fd);
    return ThrowErrno(env, EMSGSIZE, "recvmsg");
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("data", Napi::Buffer<char>::Copy(env, data.data(), static_cast<size_t>(n)));
  out.Set("fd", Napi::Number::New(env, fd));
  return out;
}

// dupFd(fd): a close-on-exec duplicate.
static Napi::Value DupFd(const Napi::CallbackInfo& info) {
  int fd = fcntl(info[0].ToNumber().Int32Value(), F_DUPFD_CLOEXEC, 3);
  if (fd < 0) return ThrowErrno(info.Env(), errno, "fcntl");
  return Napi::Number::New(info.Env(), fd);
}

Napi::Object InitHandoff(Napi::Env env, Napi::Object exports) {
  exports.Set("dupFd", Napi::Function::New(env, DupFd));
  exports.Set("spawnDetached", Napi::Function::New(env, SpawnDetached));
  exports.Set("peerCred", Napi::Function::New(env, PeerCred));
  exports.Set("seqpacketPair", Napi::Function::New(env, SeqpacketPair));
  exports.Set("sendMessage", Napi::Function::New(env, SendMessage));
  exports.Set("recvMessage", Napi::Function::New(env, RecvMessage));
  return exports;
}

// File-descriptor primitives Node lacks: anonymous pipes, a listening unix socket as a raw fd,
// receiving/sending an fd with SCM_RIGHTS (runc's --console-socket), pty window size.
#include "util.h"
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

static Napi::Value Pipe(const Napi::CallbackInfo& info) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return ThrowErrno(info.Env(), errno, "pipe2");
  Napi::Array out = Napi::Array::New(info.Env(), 2);
  out.Set(0u, Napi::Number::New(info.Env(), p[0]));
  out.Set(1u, Napi::Number::New(info.Env(), p[1]));
  return out;
}

static Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  if (close(info[0].ToNumber().Int32Value()) != 0) return ThrowErrno(info.Env(), errno, "close");
  return info.Env().Undefined();
}

static Napi::Value SetNonBlocking(const Napi::CallbackInfo& info) {
  int fd = info[0].ToNumber().Int32Value();
  bool on = info[1].ToBoolean().Value();
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return ThrowErrno(info.Env(), errno, "fcntl");
  flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (fcntl(fd, F_SETFL, flags) < 0) return ThrowErrno(info.Env(), errno, "fcntl");
  return info.Env().Undefined();
}

static bool FillAddr(const std::string& path, sockaddr_un* addr) {
  memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr->sun_path)) return false;
  memcpy(addr->sun_path, path.c_str(), path.size());
  return true;
}

// listenUnix(path, backlog): fd of a non-blocking, close-on-exec listening socket.
static Napi::Value ListenUnix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].ToString().Utf8Value();
  int backlog = info[1].ToNumber().Int32Value();
  sockaddr_un addr;
  if (!FillAddr(path, &addr)) return ThrowErrno(env, ENAMETOOLONG, "bind");
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return ThrowErrno(env, errno, "socket");
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, err, "bind");
  }
  if (listen(fd, backlog) != 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, err, "listen");
  }
  return Napi::Number::New(env, fd);
}

// acceptRecvFd(listenFd): {fd, name}; one connection carrying exactly one SCM_RIGHTS fd.
static Napi::Value AcceptRecvFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int lfd = info[0].ToNumber().Int32Value();
  int conn = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
  if (conn < 0) return ThrowErrno(env, errno, "accept4");
  char data[4096];
  iovec iov{data, sizeof(data)};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
  int err = errno;
  close(conn);
  if (n < 0) return ThrowErrno(env, err, "recvmsg");
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (c == nullptr || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
      c->cmsg_len != CMSG_LEN(sizeof(int)) || (msg.msg_flags & MSG_CTRUNC) != 0) {
    return ThrowErrno(env, EINVAL, "recvmsg");
  }
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof(int));
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", Napi::Number::New(env, fd));
  out.Set("name", Napi::String::New(env, std::string(data, static_cast<size_t>(n))));
  return out;
}

// One message with an optional fd (SCM_RIGHTS, fd < 0: none); -1 and errno on failure.
ssize_t SendWithFd(int sock, const void* data, size_t len, int fd) {
  iovec iov{const_cast<void*>(data), len};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  memset(control, 0, sizeof(control));
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
  }
  ssize_t n;
  do n = sendmsg(sock, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n;
}

// sendFd(sockFd, fd, name): the sending side, for tests.
static Napi::Value SendFd(const Napi::CallbackInfo& info) {
  std::string name = info[2].ToString().Utf8Value();
  if (SendWithFd(info[0].ToNumber().Int32Value(), name.data(), name.size(),
                 info[1].ToNumber().Int32Value()) < 0)
    return ThrowErrno(info.Env(), errno, "sendmsg");
  return info.Env().Undefined();
}

static Napi::Value SetWinsize(const Napi::CallbackInfo& info) {
  int fd = info[0].ToNumber().Int32Value();
  winsize ws{};
  ws.ws_row = static_cast<unsigned short>(info[1].ToNumber().Uint32Value());
  ws.ws_col = static_cast<unsigned short>(info[2].ToNumber().Uint32Value());
  if (ioctl(fd, TIOCSWINSZ, &ws) != 0) return ThrowErrno(info.Env(), errno, "ioctl");
  return info.Env().Undefined();
}

// unreadBytes(fd): bytes waiting in a pipe or FIFO (FIONREAD, valid on either end).
static Napi::Value UnreadBytes(const Napi::CallbackInfo& info) {
  int n = 0;
  if (ioctl(info[0].ToNumber().Int32Value(), FIONREAD, &n) != 0)
    return ThrowErrno(info.Env(), errno, "ioctl");
  return Napi::Number::New(info.Env(), n);
}

Napi::Object InitFd(Napi::Env env, Napi::Object exports) {
  exports.Set("pipe", Napi::Function::New(env, Pipe));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd));
  exports.Set("setNonBlocking", Napi::Function::New(env, SetNonBlocking));
  exports.Set("listenUnix", Napi::Function::New(env, ListenUnix));
  exports.Set("acceptRecvFd", Napi::Function::New(env, AcceptRecvFd));
  exports.Set("sendFd", Napi::Function::New(env, SendFd));
  exports.Set("setWinsize", Napi::Function::New(env, SetWinsize));
  exports.Set("unreadBytes", Napi::Function::New(env, UnreadBytes));
  return exports;
}

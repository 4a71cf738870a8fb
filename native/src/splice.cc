// Zero-copy output: splice(2) moves a container's output from its pipe into the stdio FIFO inside
// the kernel. Only the mechanics are here; when to copy and when to stop is decided in src/io.
#include "util.h"
#include <fcntl.h>
#include <poll.h>

// spliceOnce(in, out, max): bytes moved (> 0), 0 at the end of `in`, -1 when `in` has nothing
// yet, -2 when `out` is full; both fds non-blocking. Other errors throw (EINVAL: not spliceable).
static Napi::Value SpliceOnce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int in = info[0].ToNumber().Int32Value();
  int out = info[1].ToNumber().Int32Value();
  size_t max = info[2].ToNumber().Uint32Value();
  ssize_t n;
  do n = splice(in, nullptr, out, nullptr, max, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  while (n < 0 && errno == EINTR);
  if (n >= 0) return Napi::Number::New(env, static_cast<double>(n));
  if (errno != EAGAIN) return ThrowErrno(env, errno, "splice");
  // Which side would block: the answer decides which readiness to wait for.
  pollfd dst{out, POLLOUT, 0};
  bool writable = poll(&dst, 1, 0) == 1 && (dst.revents & POLLOUT) != 0;
  return Napi::Number::New(env, writable ? -1 : -2);
}

Napi::Object InitSplice(Napi::Env env, Napi::Object exports) {
  exports.Set("spliceOnce", Napi::Function::New(env, SpliceOnce));
  return exports;
}

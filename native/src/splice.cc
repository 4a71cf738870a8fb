// Zero-copy output: splice(2) moves a container's output from its pipe into the stdio FIFO inside
// the kernel, on a thread of its own so the bytes move without waiting for Node's event loop.
// Only the mechanics are here; when to copy and when to stop is decided in src/io.
#include "util.h"
#include <atomic>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

namespace {

constexpr size_t kChunk = 1 << 20;
// Woken by a little output, wait briefly for more before moving it, as long as more keeps coming
// and up to a batch: a writer of small chunks (4 KiB for busybox) then wakes the FIFO's reader
// once per batch instead of once per write. Moving each write at once made the copy a third
// slower than the reference's read/write loop, which batches by being slower to wake.
constexpr int kGatherBytes = 32 * 1024;
constexpr int kGatherRounds = 8;
constexpr useconds_t kGatherWaitUs = 25;
// The thread only loops over splice and poll: a small stack keeps its memory small.
constexpr size_t kStackBytes = 64 * 1024;

enum End { kRunning = 0, kEof = 1, kError = 2, kStopped = 3 };

// new SplicePump(src, dst): a thread moving src to dst until src ends, a splice fails or stop().
// `doneFd` (an eventfd) becomes readable when the thread has ended by itself; `state()` then says
// how. Neither copied fd is owned; the owner calls stop() before closing them.
class SplicePump : public Napi::ObjectWrap<SplicePump> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "SplicePump",
                       {InstanceMethod("state", &SplicePump::State),
                        InstanceMethod("stop", &SplicePump::Stop),
                        InstanceAccessor("doneFd", &SplicePump::DoneFd, nullptr)});
  }

  explicit SplicePump(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SplicePump>(info) {
    Napi::Env env = info.Env();
    src_ = info[0].ToNumber().Int32Value();
    dst_ = info[1].ToNumber().Int32Value();
    stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    done_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (stop_fd_ < 0 || done_fd_ < 0) {
      int err = errno;
      CloseEventFds();
      ThrowErrno(env, err, "eventfd");
      return;
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, kStackBytes);
    // Signals are the main thread's business: the pump starts with all of them blocked.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(&thread_, &attr, &SplicePump::Run, this);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    pthread_attr_destroy(&attr);
    if (err != 0) {
      CloseEventFds();
      ThrowErrno(env, err, "pthread_create");
      return;
    }
    joinable_ = true;
  }

  ~SplicePump() override {
    Join();
    CloseEventFds();
  }

 private:
  static void* Run(void* arg) {
    static_cast<SplicePump*>(arg)->Loop();
    return nullptr;
  }

  void Loop() {
    for (;;) {
      if (stopping_.load(std::memory_order_relaxed)) return Finish(kStopped, 0);
      ssize_t n = splice(src_, nullptr, dst_, nullptr, kChunk, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        moved_.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
        continue;
      }
      if (n == 0) return Finish(kEof, 0);
      if (errno == EINTR) continue;
      if (errno != EAGAIN) return Finish(kError, errno);
      // Wait for whichever side blocked, or for stop(): a full FIFO is back-pressure, nothing
      // more is taken from the pipe until its reader makes room.
      pollfd dst{dst_, POLLOUT, 0};
      bool out_full = !(poll(&dst, 1, 0) == 1 && (dst.revents & POLLOUT) != 0);
      pollfd fds[2] = {{out_full ? dst_ : src_, static_cast<short>(out_full ? POLLOUT : POLLIN), 0},
                       {stop_fd_, POLLIN, 0}};
      while (poll(fds, 2, -1) < 0 && errno == EINTR) {
      }
      if (fds[1].revents != 0) return Finish(kStopped, 0);
      // Input with its writers gone (POLLHUP) is all there is: move it at once.
      if (!out_full && (fds[0].revents & POLLHUP) == 0) Gather();
    }
  }

  void Gather() {
    int last = -1;
    for (int i = 0; i < kGatherRounds; i++) {
      int avail = 0;
      if (ioctl(src_, FIONREAD, &avail) != 0 || avail >= kGatherBytes || avail == last) return;
      last = avail;
      usleep(kGatherWaitUs);
    }
  }

  void Finish(End end, int err) {
    error_.store(err, std::memory_order_relaxed);
    end_.store(end, std::memory_order_release);
    if (end == kStopped) return;
    uint64_t one = 1;
    ssize_t ignored = write(done_fd_, &one, sizeof(one));
    (void)ignored;
  }

  void Join() {
    if (!joinable_) return;
    joinable_ = false;
    stopping_.store(true, std::memory_order_relaxed);
    uint64_t one = 1;
    ssize_t ignored = write(stop_fd_, &one, sizeof(one));
    (void)ignored;
    pthread_join(thread_, nullptr);
  }

  void CloseEventFds() {
    if (stop_fd_ >= 0) close(stop_fd_);
    if (done_fd_ >= 0) close(done_fd_);
    stop_fd_ = done_fd_ = -1;
  }

  // state(): { end: 'running' | 'eof' | 'error' | 'stopped', code (errno name), moved }.
  Napi::Value State(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    static const char* kNames[] = {"running", "eof", "error", "stopped"};
    Napi::Object out = Napi::Object::New(env);
    int end = end_.load(std::memory_order_acquire);
    out.Set("end", kNames[end]);
    int err = error_.load(std::memory_order_relaxed);
    out.Set("code", err == 0 ? env.Undefined() : Napi::String::New(env, ErrnoCode(err)));
    out.Set("moved",
            Napi::Number::New(env, static_cast<double>(moved_.load(std::memory_order_relaxed))));
    return out;
  }

  // stop(): the thread has left the fds alone once this returns (its end is recorded: the loop
  // only returns through Finish), and doneFd is closed (its watcher must be closed first); the
  // state stays readable. Idempotent.
  Napi::Value Stop(const Napi::CallbackInfo& info) {
    Join();
    CloseEventFds();
    return info.Env().Undefined();
  }

  Napi::Value DoneFd(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), done_fd_);
  }

  int src_ = -1;
  int dst_ = -1;
  int stop_fd_ = -1;
  int done_fd_ = -1;
  pthread_t thread_{};
  bool joinable_ = false;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> moved_{0};
  std::atomic<int> end_{kRunning};
  std::atomic<int> error_{0};
};

}  // namespace

Napi::Object InitSplice(Napi::Env env, Napi::Object exports) {
  exports.Set("SplicePump", SplicePump::Define(env));
  return exports;
}

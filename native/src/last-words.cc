// The daemon's last words: a fatal signal (V8 out of memory or a native assertion abort, a bus
// error...) would end it with nothing in containerd's log. stderr goes to the bundle's log FIFO,
// as the reference's panics do, and a handler writes one line naming the daemon's containers
// first. The line is composed in TypeScript; here it is only stored and written.
#include "util.h"
#include <atomic>
#include <climits>
#include <csignal>
#include <unistd.h>

namespace {

// The line goes out in one write(2) of at most PIPE_BUF bytes, which a FIFO takes whole: written
// piecemeal, containerd's own log lines landed in the middle of it (containerd copies the FIFO to
// its log as the bytes come).
constexpr size_t kMaxLine = PIPE_BUF;
constexpr char kSignalTag[] = " signal=";
// Room for the tag, a signal number and the newline.
constexpr size_t kMaxWords = kMaxLine - sizeof(kSignalTag) - 8;
// Two buffers: the handler reads the one published last while the other is rewritten.
char words[2][kMaxWords];
size_t wordsLength[2];
std::atomic<int> current{-1};
bool installed = false;

// SIGSEGV stays Node's: its WebAssembly trap handler must see segfaults first.
constexpr int kFatalSignals[] = {SIGABRT, SIGBUS, SIGILL, SIGFPE};

void WriteAll(const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = write(STDERR_FILENO, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void OnFatalSignal(int sig) {
  int i = current.load();
  if (i >= 0) {
    // Composed by hand: only async-signal-safe work here.
    char line[kMaxLine];
    size_t n = 0;
    for (size_t k = 0; k < wordsLength[i]; k++) line[n++] = words[i][k];
    for (size_t k = 0; k + 1 < sizeof(kSignalTag); k++) line[n++] = kSignalTag[k];
    char digits[8];
    int d = 0;
    for (int v = sig; v > 0 && d < 7; v /= 10) digits[d++] = static_cast<char>('0' + v % 10);
    while (d > 0) line[n++] = digits[--d];
    line[n++] = '\n';
    WriteAll(line, n);
  }
  // The action is back to default (SA_RESETHAND) and `sig` is blocked until we return: the
  // process dies of it then, as it would have without us (also for a kill from outside).
  raise(sig);
}

// setLastWords(line): the line (no newline) written to stderr on a fatal signal, " signal=N"
// appended; installs the handlers on first use.
Napi::Value SetLastWords(const Napi::CallbackInfo& info) {
  std::string line = info[0].ToString().Utf8Value();
  if (line.size() > kMaxWords) line.resize(kMaxWords);
  int next = current.load() == 0 ? 1 : 0;
  memcpy(words[next], line.data(), line.size());
  wordsLength[next] = line.size();
  current.store(next);
  if (!installed) {
    struct sigaction sa {};
    sa.sa_handler = OnFatalSignal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (int sig : kFatalSignals) {
      if (sigaction(sig, &sa, nullptr) != 0) return ThrowErrno(info.Env(), errno, "sigaction");
    }
    installed = true;
  }
  return info.Env().Undefined();
}

// redirectStderr(fd): fd 2 becomes a duplicate of `fd`.
Napi::Value RedirectStderr(const Napi::CallbackInfo& info) {
  int fd = info[0].ToNumber().Int32Value();
  int r;
  do r = dup2(fd, STDERR_FILENO);
  while (r < 0 && errno == EINTR);
  if (r < 0) return ThrowErrno(info.Env(), errno, "dup2");
  return info.Env().Undefined();
}

}  // namespace

Napi::Object InitLastWords(Napi::Env env, Napi::Object exports) {
  exports.Set("setLastWords", Napi::Function::New(env, SetLastWords));
  exports.Set("redirectStderr", Napi::Function::New(env, RedirectStderr));
  return exports;
}

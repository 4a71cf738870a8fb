// The executable containerd runs (containerd-shim-tsshim-v2 / containerd-shim-ts-v2). It starts in
// about a millisecond and makes no decision of its own: it relays the invocation (argv, env, cwd,
// and stdin when asked) to a warm Node process of this build serving this containerd, or else to
// a Node process it starts for this one request, and prints the answer byte for byte. The wire
// format is written down in src/shim/handoff/wire.ts; this file only packs and unpacks it.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

extern char** environ;

#define MAX_STDIN (4u << 20)
#define MAX_ANSWER (64u << 20)
#define MAX_CONF_LINES 64
// How long a warm process may take to acknowledge a request, and to answer it, before the
// launcher gives up on it and starts Node itself (a hung warm process must not hang containerd).
#define WARM_ACK_MS 5000
#define WARM_ANSWER_MS 60000
// With no warm process, one launcher at a time starts Node (holding the cold lock, which its Node
// hands to the warm process it starts, released once that one listens); the others wait for the
// warm process this long at most, then start Node themselves. So a burst of cold requests (50
// shims killed at once, then 50 deletes) boots Node about once, not once per request.
#define COLD_WAIT_MS 3000
#define COLD_POLL_MS 5
// Where a Node started for one request finds the socket to the launcher, and the cold lock.
#define RELAY_FD 3
#define LOCK_FD 4

// The package root, patched into installed copies by the build (see scripts/post-build.mjs), so a
// copy of this executable anywhere on disk still finds the package. Fixed size, NUL-padded.
static volatile const char embedded_root[4096] = "@@TSSHIM_PACKAGE_ROOT@@";

struct buf {
  char* p;
  size_t len;
};

static void die(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("containerd-shim-ts-v2: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

static void put(struct buf* b, const void* data, size_t n) {
  char* p = realloc(b->p, b->len + n + 1);
  if (p == NULL) die("out of memory");
  b->p = p;
  memcpy(b->p + b->len, data, n);
  b->len += n;
}

static void put_u32(struct buf* b, uint32_t v) {
  unsigned char le[4] = {v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >> 24) & 0xff};
  put(b, le, 4);
}

static void put_str(struct buf* b, const char* s) {
  size_t n = strlen(s);
  put_u32(b, (uint32_t)n);
  put(b, s, n);
}

static uint32_t get_u32(const unsigned char* p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

// ---- configuration written by the build: build id, warm socket dir, Node's command line ----

struct conf {
  char* build_id;
  char* warm_dir;
  char* exec[MAX_CONF_LINES + 1];
  int nexec;
};

#define ROOT_MARK "@ROOT@"

// An exec= line with the package root put in place of a leading @ROOT@ (the configuration is
// written once, for wherever the package ends up).
static char* with_root(const char* line, const char* root) {
  if (strncmp(line, ROOT_MARK, strlen(ROOT_MARK)) != 0) return (char*)line;
  size_t n = strlen(root) + strlen(line);
  char* out = malloc(n + 1);
  if (out == NULL) die("out of memory");
  snprintf(out, n + 1, "%s%s", root, line + strlen(ROOT_MARK));
  return out;
}

static int read_file(const char* path, struct buf* out) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char chunk[4096];
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    put(out, chunk, (size_t)n);
  }
  close(fd);
  if (out->p == NULL) put(out, "", 0);
  out->p[out->len] = '\0';
  return 0;
}

static int load_conf(const char* root, struct conf* c) {
  char path[PATH_MAX];
  if (snprintf(path, sizeof(path), "%s/build/launcher.conf", root) >= (int)sizeof(path)) return -1;
  struct buf text = {0};
  if (read_file(path, &text) != 0) return -1;
  memset(c, 0, sizeof(*c));
  for (char* line = strtok(text.p, "\n"); line != NULL; line = strtok(NULL, "\n")) {
    if (strncmp(line, "build_id=", 9) == 0) c->build_id = line + 9;
    else if (strncmp(line, "warm_dir=", 9) == 0) c->warm_dir = line + 9;
    else if (strncmp(line, "exec=", 5) == 0 && c->nexec < MAX_CONF_LINES)
      c->exec[c->nexec++] = with_root(line + 5, root);
  }
  return c->build_id != NULL && c->warm_dir != NULL && c->nexec > 0 ? 0 : -1;
}

// The package root: next to the real executable (bin/ in the package), else the embedded one.
static void find_conf(struct conf* c) {
  static char exe[PATH_MAX];
  if (realpath("/proc/self/exe", exe) != NULL) {
    char* slash = strrchr(exe, '/');
    if (slash != NULL) {
      *slash = '\0';
      slash = strrchr(exe, '/');
      if (slash != NULL) {
        *slash = '\0';
        if (load_conf(exe[0] ? exe : "/", c) == 0) return;
      }
    }
  }
  // A copy elsewhere: the root embedded by the build, the one named in containerd's
  // environment, then npm's global install locations.
  static char root[sizeof(embedded_root)];
  for (size_t i = 0; i < sizeof(root); i++) root[i] = embedded_root[i];
  root[sizeof(root) - 1] = '\0';
  if (root[0] == '/' && load_conf(root, c) == 0) return;
  const char* named = getenv("TSSHIM_PACKAGE_ROOT");
  if (named != NULL && named[0] == '/' && load_conf(named, c) == 0) return;
  static const char* const global[] = {"/usr/local/lib/node_modules/containerd-shim-ts-v2",
                                       "/usr/lib/node_modules/containerd-shim-ts-v2"};
  for (size_t i = 0; i < sizeof(global) / sizeof(global[0]); i++)
    if (load_conf(global[i], c) == 0) return;
  die("cannot find the installed package containerd-shim-ts-v2: not next to this executable, not "
      "in a global npm install, and TSSHIM_PACKAGE_ROOT is not set in containerd's environment");
}

// ---- the request and the relay ----

struct stdin_state {
  int read;
  struct buf data;
};

static void read_stdin(struct stdin_state* in) {
  if (in->read) return;
  in->read = 1;
  char chunk[65536];
  for (;;) {
    ssize_t n = read(0, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (in->data.len + (size_t)n > MAX_STDIN) die("stdin is larger than %u bytes", MAX_STDIN);
    put(&in->data, chunk, (size_t)n);
  }
}

static struct buf build_request(int argc, char** argv) {
  struct buf body = {0};
  put_u32(&body, (uint32_t)argc);
  for (int i = 0; i < argc; i++) put_str(&body, argv[i]);
  uint32_t envc = 0;
  for (char** e = environ; *e != NULL; e++) envc++;
  put_u32(&body, envc);
  for (char** e = environ; *e != NULL; e++) put_str(&body, *e);
  char cwd[PATH_MAX];
  put_str(&body, getcwd(cwd, sizeof(cwd)) != NULL ? cwd : "");
  struct buf req = {0};
  put(&req, "TSR1", 4);
  put_u32(&req, (uint32_t)body.len);
  put(&req, body.p, body.len);
  free(body.p);
  return req;
}

static int write_all(int fd, const void* data, size_t n) {
  const char* p = data;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

// Reads exactly n bytes, waiting at most timeout_ms for each (-1: no limit).
static int read_exact(int fd, void* data, size_t n, int timeout_ms) {
  char* p = data;
  while (n > 0) {
    struct pollfd pfd = {fd, POLLIN, 0};
    int r = poll(&pfd, 1, timeout_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    ssize_t got = read(fd, p, n);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return -1;
    p += got;
    n -= (size_t)got;
  }
  return 0;
}

static int read_blob(int fd, struct buf* out, int timeout_ms) {
  unsigned char len[4];
  if (read_exact(fd, len, 4, timeout_ms) != 0) return -1;
  uint32_t n = get_u32(len);
  if (n > MAX_ANSWER) return -1;
  out->p = malloc(n + 1);
  if (out->p == NULL) die("out of memory");
  out->len = n;
  return read_exact(fd, out->p, n, timeout_ms);
}

enum relay_result { RELAY_DONE, RELAY_DIRECT, RELAY_FAILED };

// Sends the request, answers stdin requests, and on a complete answer prints it and sets *code.
// Nothing is printed unless the whole answer arrived, so a failed relay can be retried.
static enum relay_result relay(int fd, const struct buf* req, struct stdin_state* in,
                               int ack_ms, int answer_ms, int* code) {
  if (write_all(fd, req->p, req->len) != 0) return RELAY_FAILED;
  int timeout = ack_ms;
  for (;;) {
    char op;
    if (read_exact(fd, &op, 1, timeout) != 0) return RELAY_FAILED;
    timeout = answer_ms;
    if (op == 'A') {
      continue;  // accepted: the work may take a while now
    } else if (op == 'I') {
      read_stdin(in);
      struct buf frame = {0};
      put_u32(&frame, (uint32_t)in->data.len);
      if (in->data.len > 0) put(&frame, in->data.p, in->data.len);
      int rc = write_all(fd, frame.p, frame.len);
      free(frame.p);
      if (rc != 0) return RELAY_FAILED;
    } else if (op == 'C') {
      return RELAY_DIRECT;
    } else if (op == 'R') {
      unsigned char status[4];
      struct buf out = {0}, err = {0};
      if (read_exact(fd, status, 4, timeout) != 0 || read_blob(fd, &out, timeout) != 0 ||
          read_blob(fd, &err, timeout) != 0)
        return RELAY_FAILED;
      if (write_all(1, out.p, out.len) != 0 || write_all(2, err.p, err.len) != 0) *code = 1;
      else *code = (int)get_u32(status);
      return RELAY_DONE;
    } else {
      return RELAY_FAILED;
    }
  }
}

// ---- where to relay ----

// FNV-1a 64 of containerd's address: only a routing key (the warm process checks the address).
static uint64_t fnv1a64(const char* s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 0x100000001b3ULL;
  }
  return h;
}

// containerd's address, the one flag the launcher reads (to route; Node parses the command line).
static const char* address_flag(int argc, char** argv) {
  for (int i = 1; i < argc; i++) {
    const char* a = argv[i];
    if (a[0] != '-') continue;
    if (a[1] == '-') a++;
    if (strcmp(a, "-address") == 0) return i + 1 < argc ? argv[i + 1] : NULL;
    if (strncmp(a, "-address=", 9) == 0) return a + 9;
  }
  return NULL;
}

static const char* warm_dir(const struct conf* c) {
  const char* dir = getenv("TSSHIM_WARM_DIR");
  return dir == NULL || dir[0] == '\0' ? c->warm_dir : dir;
}

// The warm socket's path, or with suffix ".lock" its cold lock's.
static int warm_path(const struct conf* c, const char* address, const char* suffix, char* out,
                     size_t size) {
  const char* dir = warm_dir(c);
  int n = snprintf(out, size, "%s/%016llx-%s%s", dir, (unsigned long long)fnv1a64(address),
                   c->build_id, suffix);
  return n < 0 || (size_t)n >= size ? -1 : 0;
}

static int connect_warm(const struct conf* c, const char* address) {
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  if (warm_path(c, address, ".sock", sa.sun_path, sizeof(sa.sun_path)) != 0) return -1;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr*)&sa, sizeof(sa)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// A connection to the warm process, or -1 with *lock set to the held cold lock (or -1 when the
// wait ran out or no lock could be had: start Node anyway).
static int connect_or_lock(const struct conf* c, const char* address, int* lock) {
  *lock = -1;
  int fd = connect_warm(c, address);
  if (fd >= 0) return fd;
  char path[PATH_MAX];
  int lfd = -1;
  if (warm_path(c, address, ".lock", path, sizeof(path)) == 0) {
    lfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    // No warm process has run yet: the directory it would make (root-only; it checks the owner).
    if (lfd < 0 && errno == ENOENT && mkdir(warm_dir(c), 0700) == 0)
      lfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  }
  if (lfd < 0) return -1;
  for (int waited = 0;; waited += COLD_POLL_MS) {
    if (waited > 0 && (fd = connect_warm(c, address)) >= 0) {
      close(lfd);
      return fd;
    }
    if (flock(lfd, LOCK_EX | LOCK_NB) == 0) {
      // A warm process may have come up between the connect and the lock.
      fd = connect_warm(c, address);
      if (fd >= 0) {
        close(lfd);
        return fd;
      }
      *lock = lfd;
      return -1;
    }
    if (waited >= COLD_WAIT_MS) {
      close(lfd);
      return -1;
    }
    usleep(COLD_POLL_MS * 1000);
  }
}

// ---- starting Node ----

static char** node_argv(const struct conf* c, int argc, char** argv) {
  char** out = calloc((size_t)(c->nexec + argc + 1), sizeof(char*));
  if (out == NULL) die("out of memory");
  int n = 0;
  for (int i = 0; i < c->nexec; i++) out[n++] = c->exec[i];
  for (int i = 1; i < argc; i++) out[n++] = argv[i];
  out[n] = NULL;
  return out;
}

static void exec_node(char** args) {
  execv(args[0], args);
  // The Node the package was built with is gone (e.g. upgraded): the one on PATH.
  execvp("node", args);
}

// Runs Node in place of this process, with the original stdio; stdin already consumed is replayed.
static void exec_direct(const struct conf* c, int argc, char** argv, struct stdin_state* in) {
  if (in->read) {
    int mfd = memfd_create("stdin", MFD_CLOEXEC);
    if (mfd < 0 || write_all(mfd, in->data.p ? in->data.p : "", in->data.len) != 0 ||
        lseek(mfd, 0, SEEK_SET) != 0 || dup2(mfd, 0) < 0)
      die("cannot replay stdin: %s", strerror(errno));
    close(mfd);
  }
  exec_node(node_argv(c, argc, argv));
  die("cannot execute node: %s", strerror(errno));
}

// Starts Node for this one request in its own session, with no stdio of ours, the socket's other
// end as RELAY_FD and the cold lock (if held) as LOCK_FD, and relays to it. It may stay on as the
// container's shim daemon.
static int spawn_relay(const struct conf* c, int argc, char** argv, int lock) {
  int sp[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0)
    die("socketpair: %s", strerror(errno));
  char** args = node_argv(c, argc, argv);
  pid_t pid = fork();
  if (pid < 0) die("fork: %s", strerror(errno));
  if (pid == 0) {
    setsid();
    // Above the targets first, so that placing one cannot clobber the other.
    int relay_fd = fcntl(sp[1], F_DUPFD, 10);
    int lock_fd = lock >= 0 ? fcntl(lock, F_DUPFD, 10) : -1;
    int nul = open("/dev/null", O_RDWR);
    if (relay_fd < 0 || nul < 0 || dup2(nul, 0) < 0 || dup2(nul, 1) < 0 || dup2(nul, 2) < 0 ||
        dup2(relay_fd, RELAY_FD) < 0 || (lock >= 0 && (lock_fd < 0 || dup2(lock_fd, LOCK_FD) < 0)))
      _exit(127);
    int first_closed = lock >= 0 ? LOCK_FD + 1 : RELAY_FD + 1;
    if (syscall(SYS_close_range, (unsigned)first_closed, ~0U, 0U) != 0)
      for (int fd = first_closed; fd < 1024; fd++) close(fd);
    setenv("TSSHIM_RELAY_FD", "3", 1);
    if (lock >= 0) setenv("TSSHIM_COLD_LOCK_FD", "4", 1);
    exec_node(args);
    _exit(127);
  }
  free(args);
  close(sp[1]);
  // The lock stays held by the child's copy.
  if (lock >= 0) close(lock);
  return sp[0];
}

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  // fds 0-2 must exist, or the socket below could land on one of them.
  int spare_fd;
  while ((spare_fd = open("/dev/null", O_RDWR)) >= 0 && spare_fd <= 2) {
  }
  if (spare_fd > 2) close(spare_fd);
  struct conf c;
  find_conf(&c);
  struct buf req = build_request(argc, argv);
  struct stdin_state in = {0};
  int code = 1;

  // A live upgrade (a daemon re-executing this binary in place) and its state check run Node
  // right here: same pid, the fds the daemon hands over, nothing relayed.
  const char* direct = getenv("TSSHIM_DIRECT");
  if (direct != NULL && strcmp(direct, "1") == 0) exec_direct(&c, argc, argv, &in);

  const char* warm = getenv("TSSHIM_WARM");
  const char* address = address_flag(argc, argv);
  int lock = -1;
  if (address != NULL && !(warm != NULL && strcmp(warm, "0") == 0)) {
    int fd = connect_or_lock(&c, address, &lock);
    if (fd >= 0) {
      enum relay_result r = relay(fd, &req, &in, WARM_ACK_MS, WARM_ANSWER_MS, &code);
      close(fd);
      if (r == RELAY_DONE) return code;
      if (r == RELAY_DIRECT) exec_direct(&c, argc, argv, &in);
      // The warm process failed or hung: start Node ourselves (start and delete are idempotent).
    }
  }

  int fd = spawn_relay(&c, argc, argv, lock);
  enum relay_result r = relay(fd, &req, &in, -1, -1, &code);
  close(fd);
  if (r == RELAY_DONE) return code;
  if (r == RELAY_DIRECT) exec_direct(&c, argc, argv, &in);
  die("the shim process exited without answering (see containerd's log)");
  return 1;
}

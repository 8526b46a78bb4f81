/*
 * berth-monitor: the process that sits beside each container (and each exec session) for its
 * whole life. It runs `runc create` (or `runc exec -d`), then holds the container's stdio, writes
 * the log, serves the attach socket, applies terminal resizes, notices OOM kills and records the
 * exit status, so berthd can be restarted (or killed) without the container noticing.
 *
 * It implements the subset of conmon's command line and on-disk/fd protocol that berth uses,
 * so berthd runs either binary unchanged:
 *   - fds named by _OCI_SYNCPIPE / _OCI_STARTPIPE / _OCI_ATTACHPIPE carry one JSON object a
 *     line: {"data": N} or {"data": -1, "message": "..."}
 *   - the log is CRI "k8s-file": "TIMESTAMP STREAM F|P content" lines (P: no newline yet)
 *   - the attach socket is SOCK_SEQPACKET at BUNDLE/attach, reached through the short symlink
 *     SOCKET_DIR/CUUID -> BUNDLE; output packets start with one byte naming the stream (2
 *     stdout, 3 stderr), input packets go to the container's stdin, a client's EOF closes stdin
 *     unless --leave-stdin-open
 *   - BUNDLE/ctl takes "1 HEIGHT WIDTH\n" (resize) and "2 0 0\n" (reopen the log), BUNDLE/winsz
 *     takes "HEIGHT WIDTH\n"
 *   - the exit status (128+N for signal N) goes to PERSIST/exit and EXIT_DIR/CID, each written
 *     to a temp name "NAME.XXXXXX" and renamed, so an inotify watcher never reads half a file;
 *     PERSIST/oom and BUNDLE/oom appear first if the kernel OOM-killed anything in the container
 *   - with --run (berth's own mode, not conmon's) the runtime starts at once and BUNDLE/config.json
 *     is a symlink to the start pipe: runc's start-up overlaps berthd's preparation, and runc
 *     reads the spec when berthd writes it there, after the attach handshake
 *
 * Why not conmon: it links glib and the shared glibc, about 2.3 MiB RSS per container. This is
 * one static binary with no allocations on the steady path beyond queued attach output.
 *
 * Build: cc -static -O2 -Wall -Wextra -o berth-monitor berth-monitor.c
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>

#define MONITOR_VERSION "1.0.0"

/* Stream marks on the attach socket, as conmon numbers them. */
#define STREAM_STDOUT 2
#define STREAM_STDERR 3

/* One read of container output; also the largest attach packet (plus the mark byte). */
#define OUT_CHUNK 16384
/* berthd sends stdin in packets of at most 4096 bytes; twice that leaves room. */
#define IN_CHUNK 8192
#define MAX_CLIENTS 64
#define MAX_RUNTIME_ARGS 64
/* A client further behind than this pauses reading container output (backpressure)... */
#define CLIENT_HIGH_WATER (1u << 20)
/* ...but one that makes no progress for this long is dropped, so a stuck client cannot stall the
 * container forever. */
#define CLIENT_STALL_MS 10000
/* After the exit: how long to keep reading output that is still buffered, and to hand queued
 * output to clients, before giving up on them. */
#define DRAIN_MS 1000
#define FINAL_FLUSH_MS 2000
/* A pty master with no slave open reports POLLHUP continuously; look again after this. */
#define PTY_HUP_RETRY_MS 100

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

/* ---- options ---------------------------------------------------------------------------- */

static struct {
  const char *cid, *cuuid, *runtime, *bundle, *container_pidfile, *monitor_pidfile;
  const char *log_path, *exit_dir, *persist_dir, *socket_dir, *exec_spec;
  const char *runtime_args[MAX_RUNTIME_ARGS];
  int n_runtime_args;
  bool terminal, stdin_open, leave_stdin_open, exec, exec_attach, run;
} opt;

/* ---- state ------------------------------------------------------------------------------ */

static int null_r = -1, null_w = -1;
static int sync_fd = -1, start_fd = -1, attach_pipe_fd = -1;
/* The first {"data": ...} went out: later failures can no longer be reported as start errors. */
static bool sync_reported;

static int sig_fd = -1;
static pid_t runtime_pid = -1, container_pid = -1;
static int runtime_status, container_status;
static bool runtime_exited, container_exited, started;

/* Exits of children we could not attribute yet (an exec can finish before runc exec does). */
static struct { pid_t pid; int status; } early_exits[32];
static unsigned n_early_exits;

/* Container stdio as the monitor holds it. With a terminal out_fd is the pty master and in_fd a
 * dup of it (so closing stdin leaves output alone); err_fd then only carries runc's stderr. */
static int out_fd = -1, err_fd = -1, in_fd = -1, master_fd = -1;
static int64_t out_paused_until;
static bool stdin_close_pending;

static int log_fd = -1;

static int console_listen_fd = -1;
static char console_dir[64], console_path[80];

static int attach_listen_fd = -1;
static char symlink_path[PATH_MAX];

struct line_reader {
  int fd, dummy_writer;
  size_t len;
  char buf[256];
};
static struct line_reader ctl = {-1, -1, 0, {0}}, winsz = {-1, -1, 0, {0}};

static int oom_event_fd = -1, oom_control_fd = -1;
static bool cgroup_v2, oom_written;
static char memory_cgroup[PATH_MAX];

struct packet {
  struct packet *next;
  size_t len;
  unsigned char data[];
};
struct client {
  int fd;
  bool readable;
  struct packet *head, *tail;
  size_t queued;
  int64_t last_progress;
};
static struct client clients[MAX_CLIENTS];
static int n_clients;

/* Input from clients waiting for the container's stdin to take it. */
static unsigned char in_buf[IN_CHUNK];
static size_t in_len, in_off;

/* ---- small helpers ---------------------------------------------------------------------- */

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_nonblocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0) fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

/* Writes everything, waiting out EAGAIN: the sync/attach pipes may be non-blocking sockets. */
static int write_all(int fd, const void *data, size_t len) {
  const char *p = data;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n > 0) {
      p += n;
      len -= (size_t)n;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      struct pollfd pfd = {fd, POLLOUT, 0};
      if (poll(&pfd, 1, 5000) <= 0) return -1;
    } else {
      return -1;
    }
  }
  return 0;
}

/* One blocking read of whatever the peer sent (or EOF): the start pipe's "go ahead". */
static ssize_t read_wait(int fd, void *buf, size_t size) {
  for (;;) {
    ssize_t n = read(fd, buf, size);
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return -1;
    struct pollfd pfd = {fd, POLLIN, 0};
    poll(&pfd, 1, -1);
  }
}

static bool path_join(char *out, size_t size, const char *dir, const char *name) {
  int n = snprintf(out, size, "%s/%s", dir, name);
  return n > 0 && (size_t)n < size;
}

/* Temp name then rename: readers (the exit watcher, berthd reading pid files) see all or nothing.
 * No fsync: everything written here lives under berthd's exec root, which a reboot clears. */
static int write_file_atomic(const char *path, const char *data, size_t len) {
  char tmp[PATH_MAX];
  if (snprintf(tmp, sizeof tmp, "%s.XXXXXX", path) >= (int)sizeof tmp) return -1;
  int fd = mkostemp(tmp, O_CLOEXEC);
  if (fd < 0) return -1;
  if (fchmod(fd, 0644) < 0 || write_all(fd, data, len) < 0) {
    close(fd);
    unlink(tmp);
    return -1;
  }
  close(fd);
  if (rename(tmp, path) < 0) {
    unlink(tmp);
    return -1;
  }
  return 0;
}

/* Reads a small file into buf (NUL-terminated); returns the length or -1. */
static ssize_t read_small_file(const char *path, char *buf, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t len = 0;
  while (len + 1 < size) {
    ssize_t n = read(fd, buf + len, size - 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += (size_t)n;
  }
  close(fd);
  buf[len] = '\0';
  return (ssize_t)len;
}

/* ---- the sync protocol ------------------------------------------------------------------ */

/* {"data": N} or {"data": N, "message": "..."} plus a newline, conmon's wire format. */
static void send_sync(int fd, int data, const char *message) {
  if (fd < 0) return;
  char buf[4096];
  size_t n = (size_t)snprintf(buf, sizeof buf, "{\"data\": %d", data);
  if (message) {
    n += (size_t)snprintf(buf + n, sizeof buf - n, ", \"message\": \"");
    for (const unsigned char *p = (const unsigned char *)message; *p && n < sizeof buf - 16; p++) {
      if (*p == '"' || *p == '\\') {
        buf[n++] = '\\';
        buf[n++] = (char)*p;
      } else if (*p == '\n') {
        buf[n++] = '\\';
        buf[n++] = 'n';
      } else if (*p == '\t') {
        buf[n++] = '\\';
        buf[n++] = 't';
      } else if (*p < 0x20 || *p == 0x7f) {
        n += (size_t)snprintf(buf + n, sizeof buf - n, "\\u%04x", *p);
      } else {
        buf[n++] = (char)*p;
      }
    }
    buf[n++] = '"';
  }
  buf[n++] = '}';
  buf[n++] = '\n';
  write_all(fd, buf, n);
}

static void remove_console_socket(void) {
  if (console_path[0]) unlink(console_path);
  if (console_dir[0]) rmdir(console_dir);
  console_path[0] = console_dir[0] = '\0';
}

static void remove_transient_files(void) {
  if (symlink_path[0]) unlink(symlink_path);
  remove_console_socket();
}

/* Gives up: the message reaches berthd as the start error if nothing was reported yet. */
static void __attribute__((noreturn, format(printf, 1, 2))) fail(const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  /* stderr is berthd's pipe until the monitor detaches, /dev/null after. */
  dprintf(STDERR_FILENO, "berth-monitor: %s\n", msg);
  if (!sync_reported) send_sync(sync_fd, -1, msg);
  if (runtime_pid > 0) kill(runtime_pid, SIGKILL);
  remove_transient_files();
  _exit(1);
}

/* ---- command line ----------------------------------------------------------------------- */

enum { O_NONE, O_ARG, O_OPTIONAL_NUMBER };

struct optdef {
  const char *name;
  char short_name;
  int arg;
  const char **target; /* string options */
  bool *flag;          /* flags */
};

static const char *api_version, *log_level, *unused_name;
static const char *log_specs[8];
static int n_log_specs;

static const struct optdef OPTIONS[] = {
    {"api-version", 0, O_OPTIONAL_NUMBER, &api_version, NULL},
    {"cid", 'c', O_ARG, &opt.cid, NULL},
    {"cuuid", 'u', O_ARG, &opt.cuuid, NULL},
    {"name", 'n', O_ARG, &unused_name, NULL},
    {"runtime", 'r', O_ARG, &opt.runtime, NULL},
    {"bundle", 'b', O_ARG, &opt.bundle, NULL},
    {"container-pidfile", 'p', O_ARG, &opt.container_pidfile, NULL},
    {"pidfile", 0, O_ARG, &opt.container_pidfile, NULL},
    {"conmon-pidfile", 'P', O_ARG, &opt.monitor_pidfile, NULL},
    {"log-path", 'l', O_ARG, NULL, NULL},
    {"exit-dir", 0, O_ARG, &opt.exit_dir, NULL},
    {"persist-dir", 0, O_ARG, &opt.persist_dir, NULL},
    {"socket-dir-path", 0, O_ARG, &opt.socket_dir, NULL},
    {"log-level", 0, O_ARG, &log_level, NULL},
    {"runtime-arg", 0, O_ARG, NULL, NULL},
    {"exec-process-spec", 0, O_ARG, &opt.exec_spec, NULL},
    {"terminal", 't', O_NONE, NULL, &opt.terminal},
    {"stdin", 'i', O_NONE, NULL, &opt.stdin_open},
    {"leave-stdin-open", 0, O_NONE, NULL, &opt.leave_stdin_open},
    {"exec", 'e', O_NONE, NULL, &opt.exec},
    {"exec-attach", 0, O_NONE, NULL, &opt.exec_attach},
    /* berth's own: `runc run --detach` (create and start in one runtime process) once berthd's
     * second start-pipe write says its attach clients are connected; with --exec-attach. */
    {"run", 0, O_NONE, NULL, &opt.run},
};

static void __attribute__((noreturn)) usage_error(const char *what, const char *arg) {
  fail("%s: %s (see berth-monitor --help)", what, arg);
}

static void take_value(const struct optdef *o, const char *value) {
  if (strcmp(o->name, "log-path") == 0) {
    if (n_log_specs == (int)(sizeof log_specs / sizeof log_specs[0])) usage_error("too many log paths", value);
    log_specs[n_log_specs++] = value;
  } else if (strcmp(o->name, "runtime-arg") == 0) {
    if (opt.n_runtime_args == MAX_RUNTIME_ARGS) usage_error("too many runtime args", value);
    opt.runtime_args[opt.n_runtime_args++] = value;
  } else {
    *o->target = value;
  }
}

static void parse_args(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    const struct optdef *o = NULL;
    const char *inline_value = NULL;
    if (strcmp(arg, "--version") == 0) {
      printf("berth-monitor version %s (conmon-compatible subset)\n", MONITOR_VERSION);
      exit(0);
    }
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      printf("Usage: berth-monitor -c ID -r RUNTIME -b BUNDLE -p PIDFILE [options]\n"
             "A per-container monitor speaking the conmon options berthd uses:\n"
             "  --api-version N, -c/--cid, -u/--cuuid, -n/--name, -r/--runtime, -b/--bundle,\n"
             "  -p/--container-pidfile, -P/--conmon-pidfile, -l/--log-path (k8s-file:PATH|none:),\n"
             "  --exit-dir, --persist-dir, --socket-dir-path, --log-level, --runtime-arg,\n"
             "  -t/--terminal, -i/--stdin, --leave-stdin-open, -e/--exec, --exec-process-spec,\n"
             "  --exec-attach, --run (runc run --detach, its spec read from the start pipe)\n");
      exit(0);
    }
    if (arg[0] == '-' && arg[1] == '-') {
      const char *name = arg + 2;
      const char *eq = strchr(name, '=');
      size_t len = eq ? (size_t)(eq - name) : strlen(name);
      for (size_t k = 0; k < sizeof OPTIONS / sizeof OPTIONS[0]; k++) {
        if (strlen(OPTIONS[k].name) == len && strncmp(OPTIONS[k].name, name, len) == 0) o = &OPTIONS[k];
      }
      if (eq) inline_value = eq + 1;
    } else if (arg[0] == '-' && arg[1] && arg[2] == '\0') {
      for (size_t k = 0; k < sizeof OPTIONS / sizeof OPTIONS[0]; k++) {
        if (OPTIONS[k].short_name == arg[1]) o = &OPTIONS[k];
      }
    }
    if (!o) usage_error("unknown option", arg);
    if (o->arg == O_NONE) {
      if (inline_value) usage_error("option takes no value", arg);
      *o->flag = true;
    } else if (o->arg == O_OPTIONAL_NUMBER) {
      /* conmon's --api-version is a plain flag; berthd passes "--api-version 1". */
      if (inline_value) take_value(o, inline_value);
      else if (i + 1 < argc && argv[i + 1][0] >= '0' && argv[i + 1][0] <= '9') take_value(o, argv[++i]);
      else take_value(o, "1");
    } else {
      if (inline_value) take_value(o, inline_value);
      else if (i + 1 < argc) take_value(o, argv[++i]);
      else usage_error("option needs a value", arg);
    }
  }
  if (!opt.cid) usage_error("missing option", "--cid");
  if (!opt.runtime) usage_error("missing option", "--runtime");
  if (!opt.container_pidfile) usage_error("missing option", "--container-pidfile");
  if (opt.exec && !opt.exec_spec) usage_error("missing option", "--exec-process-spec");
  if (!opt.exec && !opt.run && opt.exec_attach) usage_error("option needs --exec or --run", "--exec-attach");
  if (opt.run && (opt.exec || !opt.exec_attach || !opt.bundle)) usage_error("--run goes with --exec-attach and --bundle, not --exec", "--run");
  if (!opt.cuuid) opt.cuuid = opt.cid;
  if (!opt.socket_dir) opt.socket_dir = "/var/run/crio";
  if (strchr(opt.cid, '/') || strchr(opt.cuuid, '/')) usage_error("ids must not contain '/'", opt.cid);
  /* -l none: keeps no log; k8s-file:PATH (or a bare PATH, as conmon reads it) writes one. */
  for (int k = 0; k < n_log_specs; k++) {
    const char *spec = log_specs[k];
    const char *colon = strchr(spec, ':');
    if (!colon) {
      opt.log_path = spec;
    } else if (strncmp(spec, "k8s-file:", 9) == 0 && spec[9]) {
      opt.log_path = spec + 9;
    } else if (strncmp(spec, "none:", 5) == 0 || strncmp(spec, "off:", 4) == 0 || strncmp(spec, "null:", 5) == 0) {
      /* no log */
    } else {
      usage_error("unsupported log driver", spec);
    }
  }
}

/* ---- fd hygiene ------------------------------------------------------------------------- */

static int pipe_fd_from_env(const char *name) {
  const char *value = getenv(name);
  if (!value) return -1;
  char *end;
  errno = 0;
  long fd = strtol(value, &end, 10);
  if (errno || *end || fd < 3 || fd > INT_MAX) usage_error("bad fd number", name);
  if (fcntl((int)fd, F_GETFD) < 0) usage_error("fd is not open", name);
  return (int)fd;
}

/*
 * Everything berthd handed over besides stdio and the protocol pipes is closed, and the pipes are
 * close-on-exec: runc (and through it the container) must not hold berthd's end of a sync pipe,
 * or berthd would never see EOF on it.
 */
static void close_inherited_fds(void) {
  DIR *dir = opendir("/proc/self/fd");
  if (!dir) {
    for (int fd = 3; fd < 1024; fd++) {
      if (fd != sync_fd && fd != start_fd && fd != attach_pipe_fd) close(fd);
    }
  } else {
    int own = dirfd(dir);
    struct dirent *e;
    int doomed[256];
    int n = 0;
    while ((e = readdir(dir)) != NULL && n < 256) {
      int fd = atoi(e->d_name);
      if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd < 3 || fd == own) continue;
      if (fd != sync_fd && fd != start_fd && fd != attach_pipe_fd) doomed[n++] = fd;
    }
    closedir(dir);
    for (int k = 0; k < n; k++) close(doomed[k]);
  }
  if (sync_fd >= 0) fcntl(sync_fd, F_SETFD, FD_CLOEXEC);
  if (start_fd >= 0) fcntl(start_fd, F_SETFD, FD_CLOEXEC);
  if (attach_pipe_fd >= 0) fcntl(attach_pipe_fd, F_SETFD, FD_CLOEXEC);
}

static void set_oom_score_adj(const char *value) {
  int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  if (write(fd, value, strlen(value)) < 0) {
    /* Not permitted (no CAP_SYS_RESOURCE): the monitor just stays an ordinary OOM candidate. */
  }
  close(fd);
}

/* ---- the log ---------------------------------------------------------------------------- */

static void open_log(void) {
  if (!opt.log_path) return;
  log_fd = open(opt.log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (log_fd < 0) fail("cannot open log file %s: %s", opt.log_path, strerror(errno));
}

/* RFC 3339 with nanoseconds and the local offset, conmon's k8s-file timestamp. */
static size_t log_prefix(char *out, size_t size, int stream) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  localtime_r(&ts.tv_sec, &tm);
  long off = tm.tm_gmtoff;
  char sign = off < 0 ? '-' : '+';
  if (off < 0) off = -off;
  size_t n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
  n += (size_t)snprintf(out + n, size - n, ".%09ld%c%02ld:%02ld %s ", ts.tv_nsec, sign, off / 3600, (off % 3600) / 60,
                        stream == STREAM_STDERR ? "stderr" : "stdout");
  return n;
}

/* writev until done; a failing log (full disk) drops the record rather than stall the container. */
static void writev_all(int fd, struct iovec *iov, int cnt) {
  while (cnt > 0) {
    ssize_t n = writev(fd, iov, cnt);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    while (cnt > 0 && (size_t)n >= iov->iov_len) {
      n -= (ssize_t)iov->iov_len;
      iov++;
      cnt--;
    }
    if (cnt > 0) {
      iov->iov_base = (char *)iov->iov_base + n;
      iov->iov_len -= (size_t)n;
    }
  }
}

/* One record per line; the tail without a newline becomes a P (partial) record. */
static void write_log(int stream, const char *data, size_t len) {
  if (log_fd < 0 || len == 0) return;
  char prefix[64];
  size_t plen = log_prefix(prefix, sizeof prefix, stream);
  struct iovec iov[64];
  int cnt = 0;
  while (len > 0) {
    const char *nl = memchr(data, '\n', len);
    size_t line = nl ? (size_t)(nl - data) + 1 : len;
    if (cnt + 4 > (int)(sizeof iov / sizeof iov[0])) {
      writev_all(log_fd, iov, cnt);
      cnt = 0;
    }
    iov[cnt++] = (struct iovec){prefix, plen};
    iov[cnt++] = (struct iovec){nl ? "F " : "P ", 2};
    iov[cnt++] = (struct iovec){(void *)data, line};
    if (!nl) iov[cnt++] = (struct iovec){"\n", 1};
    data += line;
    len -= line;
  }
  writev_all(log_fd, iov, cnt);
}

/* ---- attach clients --------------------------------------------------------------------- */

static void drop_client(int i) {
  struct client *c = &clients[i];
  close(c->fd);
  while (c->head) {
    struct packet *next = c->head->next;
    free(c->head);
    c->head = next;
  }
  clients[i] = clients[--n_clients];
}

/* Sends what is queued; false when the client is gone. SEQPACKET sends are all or nothing. */
static bool flush_client(struct client *c) {
  while (c->head) {
    ssize_t n = send(c->fd, c->head->data, c->head->len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == ENOBUFS;
    }
    struct packet *done = c->head;
    c->head = done->next;
    if (!c->head) c->tail = NULL;
    c->queued -= done->len;
    free(done);
    c->last_progress = now_ms();
  }
  return true;
}

static bool send_to_client(struct client *c, const unsigned char *data, size_t len) {
  if (!c->head) {
    for (;;) {
      ssize_t n = send(c->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n >= 0) {
        c->last_progress = now_ms();
        return true;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != ENOBUFS) return false;
      break;
    }
  }
  struct packet *p = malloc(sizeof *p + len);
  if (!p) return false;
  p->next = NULL;
  p->len = len;
  memcpy(p->data, data, len);
  if (c->tail) c->tail->next = p;
  else c->head = p;
  c->tail = p;
  c->queued += len;
  return true;
}

static bool clients_congested(void) {
  for (int i = 0; i < n_clients; i++) {
    if (clients[i].queued > CLIENT_HIGH_WATER) return true;
  }
  return false;
}

/* Drops clients that sat over the high-water mark without taking anything for too long. */
static void drop_stalled_clients(void) {
  int64_t now = now_ms();
  for (int i = n_clients - 1; i >= 0; i--) {
    if (clients[i].queued > CLIENT_HIGH_WATER && now - clients[i].last_progress > CLIENT_STALL_MS) drop_client(i);
  }
}

static void accept_clients(void) {
  for (;;) {
    int fd = accept4(attach_listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno == EINTR) continue;
      return; /* EAGAIN, or a client that went away before we got to it */
    }
    if (n_clients == MAX_CLIENTS) {
      close(fd);
      continue;
    }
    clients[n_clients++] = (struct client){fd, true, NULL, NULL, 0, now_ms()};
  }
}

/* ---- container stdio -------------------------------------------------------------------- */

/* The stdin writes that were waiting, then a requested close once they are through. */
static bool stdin_expected(void);

static void pump_stdin(void) {
  if (in_fd < 0) {
    /* Nowhere to write: keep the input only while a terminal is still to come. */
    if (!stdin_expected()) {
      in_len = in_off = 0;
      stdin_close_pending = false;
    }
    return;
  }
  while (in_fd >= 0 && in_off < in_len) {
    ssize_t n = write(in_fd, in_buf + in_off, in_len - in_off);
    if (n > 0) {
      in_off += (size_t)n;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      return;
    } else {
      /* The container closed its stdin (EPIPE): nothing more will be read. */
      close_fd(&in_fd);
    }
  }
  in_len = in_off = 0;
  if (stdin_close_pending) {
    close_fd(&in_fd);
    stdin_close_pending = false;
  }
}

/* Stdin may still appear: the terminal arrives while runc runs. */
static bool stdin_expected(void) {
  return opt.terminal && master_fd < 0 && !started;
}

static void client_input(int i) {
  struct client *c = &clients[i];
  ssize_t n = recv(c->fd, in_buf, sizeof in_buf, MSG_DONTWAIT);
  if (n > 0) {
    if (in_fd >= 0 || stdin_expected()) {
      in_len = (size_t)n;
      in_off = 0;
      pump_stdin();
    }
    return;
  }
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n < 0) {
    drop_client(i);
    return;
  }
  /* EOF: the client closed its input (docker's stdin end, or a detach). As conmon does, that
   * closes the container's stdin unless berthd asked to leave it open (StdinOnce=false). */
  c->readable = false;
  if (opt.stdin_open && !opt.leave_stdin_open && (in_fd >= 0 || stdin_expected())) {
    stdin_close_pending = true;
    if (in_len == 0) pump_stdin();
  }
}

static void broadcast(unsigned char *packet, size_t len) {
  for (int i = n_clients - 1; i >= 0; i--) {
    if (!send_to_client(&clients[i], packet, len)) drop_client(i);
  }
}

/* Reads one chunk of output into the log and out to attached clients; false if nothing came. */
static bool read_output(int *fd, int stream) {
  unsigned char buf[OUT_CHUNK + 1];
  ssize_t n = read(*fd, buf + 1, OUT_CHUNK);
  if (n > 0) {
    write_log(stream, (char *)buf + 1, (size_t)n);
    buf[0] = (unsigned char)stream;
    broadcast(buf, (size_t)n + 1);
    return true;
  }
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return false;
  if (*fd == master_fd) {
    /* EIO: no process has the terminal open right now. One may open /dev/console again, so
     * keep the master (resizes need it too) and look again shortly. */
    out_paused_until = now_ms() + PTY_HUP_RETRY_MS;
    return false;
  }
  close_fd(fd);
  return false;
}

/* ---- terminal --------------------------------------------------------------------------- */

/* runc connects to the console socket and passes the pty master with SCM_RIGHTS. */
static void receive_console(void) {
  int conn = accept4(console_listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (conn < 0) return;
  char name[PATH_MAX];
  struct iovec iov = {name, sizeof name};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  struct msghdr msg = {0};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  ssize_t n;
  do n = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  close(conn);
  struct cmsghdr *cm = n < 0 ? NULL : CMSG_FIRSTHDR(&msg);
  if (!cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len != CMSG_LEN(sizeof(int))) {
    fail("the runtime sent no terminal over the console socket");
  }
  int fd;
  memcpy(&fd, CMSG_DATA(cm), sizeof fd);
  /* docker's terminals translate \n to \r\n on output, as conmon sets up too. */
  struct termios t;
  if (tcgetattr(fd, &t) == 0) {
    t.c_oflag |= ONLCR;
    tcsetattr(fd, TCSANOW, &t);
  }
  set_nonblocking(fd);
  master_fd = out_fd = fd;
  in_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  close_fd(&console_listen_fd);
  remove_console_socket();
  if (in_len || stdin_close_pending) pump_stdin();
}

static void setup_console_socket(void) {
  strcpy(console_dir, "/tmp/berth-monitor-XXXXXX");
  if (!mkdtemp(console_dir)) {
    console_dir[0] = '\0';
    fail("cannot create the console socket directory: %s", strerror(errno));
  }
  snprintf(console_path, sizeof console_path, "%s/tty", console_dir);
  console_listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (console_listen_fd < 0) fail("console socket: %s", strerror(errno));
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  strcpy(addr.sun_path, console_path);
  if (bind(console_listen_fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(console_listen_fd, 4) < 0) {
    fail("console socket %s: %s", console_path, strerror(errno));
  }
}

static void resize(int height, int width) {
  if (master_fd < 0 || height <= 0 || width <= 0) return;
  struct winsize ws = {.ws_row = (unsigned short)height, .ws_col = (unsigned short)width};
  ioctl(master_fd, TIOCSWINSZ, &ws);
}

static void reopen_log(void) {
  if (!opt.log_path) return;
  int fd = open(opt.log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return; /* keep writing to the old file rather than lose output */
  close_fd(&log_fd);
  log_fd = fd;
}

/* ctl: "TYPE A B\n" (1 = resize to A rows, B columns; 2 = reopen the log). winsz: "ROWS COLS\n". */
static void handle_line(struct line_reader *r, const char *line) {
  int type, a, b;
  if (r == &ctl) {
    if (sscanf(line, "%d %d %d", &type, &a, &b) != 3) return;
    if (type == 1) resize(a, b);
    else if (type == 2) reopen_log();
  } else if (sscanf(line, "%d %d", &a, &b) == 2) {
    resize(a, b);
  }
}

static void read_lines(struct line_reader *r) {
  for (;;) {
    ssize_t n = read(r->fd, r->buf + r->len, sizeof r->buf - 1 - r->len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    r->len += (size_t)n;
    r->buf[r->len] = '\0';
    char *start = r->buf, *nl;
    while ((nl = memchr(start, '\n', r->len - (size_t)(start - r->buf))) != NULL) {
      *nl = '\0';
      handle_line(r, start);
      start = nl + 1;
    }
    r->len -= (size_t)(start - r->buf);
    memmove(r->buf, start, r->len);
    /* A line longer than the buffer is garbage: drop it rather than wedge the reader. */
    if (r->len == sizeof r->buf - 1) r->len = 0;
  }
}

/* A fifo in the bundle, opened for reading plus a writer of our own, so the last outside writer
 * closing never reads as EOF (and poll never spins on POLLHUP). */
static void setup_fifo(struct line_reader *r, const char *name) {
  char path[PATH_MAX];
  if (!path_join(path, sizeof path, opt.bundle, name)) fail("bundle path too long");
  unlink(path);
  if (mkfifo(path, 0660) < 0) fail("mkfifo %s: %s", path, strerror(errno));
  r->fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (r->fd < 0) fail("open %s: %s", path, strerror(errno));
  r->dummy_writer = open(path, O_WRONLY | O_CLOEXEC);
  if (r->dummy_writer < 0) fail("open %s: %s", path, strerror(errno));
}

/*
 * --run: BUNDLE/config.json becomes /proc/OUR_PID/fd/START_FD, so the runtime, started at once,
 * opens the start pipe as its spec (an anonymous pipe opened through /proc never waits for a
 * writer) and reads it when berthd writes it: the Go runtime's start-up and runc's own argument
 * handling (a third of `runc run` here) happen while berthd still prepares the container, and
 * nothing of the container exists before the spec arrives. berthd ending the pipe without a
 * spec makes runc fail on an empty config before it created anything. berthd also renames a
 * copy of the spec over the link (for later execs): a runtime that opens it after that reads the
 * same spec from the file.
 */
static void link_spec_to_start_pipe(void) {
  char path[PATH_MAX], target[64];
  if (!path_join(path, sizeof path, opt.bundle, "config.json")) fail("bundle path too long");
  snprintf(target, sizeof target, "/proc/%d/fd/%d", (int)getpid(), start_fd);
  if (unlink(path) < 0 && errno != ENOENT) fail("cannot replace %s: %s", path, strerror(errno));
  if (symlink(target, path) < 0) fail("cannot link %s: %s", path, strerror(errno));
}

/* ---- attach socket ---------------------------------------------------------------------- */

/*
 * BUNDLE/attach, bound through /proc/self/fd/DIRFD so a bundle path longer than sun_path's 108
 * bytes still works; clients reach it through SOCKET_DIR/CUUID, a symlink to the bundle.
 */
static void setup_attach_socket(void) {
  if (!path_join(symlink_path, sizeof symlink_path, opt.socket_dir, opt.cuuid)) fail("socket dir path too long");
  /* Same guard as conmon: a symlink exactly as long as the socket path would collide with it. */
  if (strlen(symlink_path) == sizeof(((struct sockaddr_un *)0)->sun_path) - 1) symlink_path[strlen(symlink_path) - 1] = '\0';
  if (unlink(symlink_path) < 0 && errno != ENOENT) fail("cannot replace %s: %s", symlink_path, strerror(errno));
  if (symlink(opt.bundle, symlink_path) < 0) fail("cannot link %s: %s", symlink_path, strerror(errno));

  char sock_path[PATH_MAX];
  if (!path_join(sock_path, sizeof sock_path, opt.bundle, "attach")) fail("bundle path too long");
  if (unlink(sock_path) < 0 && errno != ENOENT) fail("cannot remove %s: %s", sock_path, strerror(errno));
  int dir = open(opt.bundle, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) fail("cannot open bundle %s: %s", opt.bundle, strerror(errno));
  attach_listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (attach_listen_fd < 0) fail("attach socket: %s", strerror(errno));
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  snprintf(addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d/attach", dir);
  fchmod(attach_listen_fd, 0700);
  if (bind(attach_listen_fd, (struct sockaddr *)&addr, sizeof addr) < 0) fail("bind %s: %s", sock_path, strerror(errno));
  close(dir);
  chmod(sock_path, 0700);
  if (listen(attach_listen_fd, 10) < 0) fail("listen %s: %s", sock_path, strerror(errno));
}

/* ---- OOM -------------------------------------------------------------------------------- */

/* The container's memory cgroup directory from /proc/PID/cgroup ("ID:CONTROLLERS:PATH"). */
static bool find_memory_cgroup(pid_t pid) {
  char path[64], buf[8192];
  snprintf(path, sizeof path, "/proc/%d/cgroup", (int)pid);
  if (read_small_file(path, buf, sizeof buf) <= 0) return false;
  for (char *line = buf; line && *line;) {
    char *next = strchr(line, '\n');
    if (next) *next++ = '\0';
    char *controllers = strchr(line, ':');
    char *cgpath = controllers ? strchr(controllers + 1, ':') : NULL;
    if (cgpath) {
      *cgpath++ = '\0';
      controllers++;
      if (cgroup_v2 && strcmp(line, "0") == 0 && controllers[0] == '\0') {
        snprintf(memory_cgroup, sizeof memory_cgroup, "/sys/fs/cgroup%s", cgpath);
        return true;
      }
      if (!cgroup_v2) {
        for (char *c = strtok(controllers, ","); c; c = strtok(NULL, ",")) {
          if (strcmp(c, "memory") == 0) {
            snprintf(memory_cgroup, sizeof memory_cgroup, "/sys/fs/cgroup/memory%s", cgpath);
            return true;
          }
        }
      }
    }
    line = next;
  }
  return false;
}

static void write_oom_files(void) {
  if (oom_written) return;
  oom_written = true;
  char path[PATH_MAX];
  if (opt.persist_dir && path_join(path, sizeof path, opt.persist_dir, "oom")) close(open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
  if (opt.bundle && path_join(path, sizeof path, opt.bundle, "oom")) close(open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
}

/* The kernel's count of OOM kills in the container's cgroup (v1 memory.oom_control, v2
 * memory.events, both "oom_kill N"). Read at exit too: the event can trail the SIGCHLD. */
static long oom_kill_count(void) {
  char path[PATH_MAX], buf[1024];
  if (!memory_cgroup[0] || !path_join(path, sizeof path, memory_cgroup, cgroup_v2 ? "memory.events" : "memory.oom_control")) return 0;
  if (read_small_file(path, buf, sizeof buf) <= 0) return 0;
  for (char *p = buf; (p = strstr(p, "oom_kill ")) != NULL; p++) {
    if (p == buf || p[-1] == '\n') return strtol(p + 9, NULL, 10);
  }
  return 0;
}

static void setup_oom_watch(pid_t pid) {
  struct statfs fs;
  cgroup_v2 = statfs("/sys/fs/cgroup", &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
  if (!find_memory_cgroup(pid)) return;
  char path[PATH_MAX];
  if (cgroup_v2) {
    /* memory.events changes on every event; the count decides. */
    oom_event_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (oom_event_fd >= 0 && (!path_join(path, sizeof path, memory_cgroup, "memory.events") || inotify_add_watch(oom_event_fd, path, IN_MODIFY) < 0)) {
      close_fd(&oom_event_fd);
    }
    return;
  }
  /* v1: an eventfd registered through cgroup.event_control fires on each OOM in the cgroup. */
  if (!path_join(path, sizeof path, memory_cgroup, "memory.oom_control")) return;
  oom_control_fd = open(path, O_RDONLY | O_CLOEXEC);
  if (!path_join(path, sizeof path, memory_cgroup, "cgroup.event_control")) return;
  int control = open(path, O_WRONLY | O_CLOEXEC);
  oom_event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (oom_control_fd >= 0 && control >= 0 && oom_event_fd >= 0) {
    char line[32];
    int n = snprintf(line, sizeof line, "%d %d", oom_event_fd, oom_control_fd);
    if (write_all(control, line, (size_t)n) < 0) close_fd(&oom_event_fd);
  } else {
    close_fd(&oom_event_fd);
  }
  if (control >= 0) close(control);
}

static void oom_event(void) {
  if (cgroup_v2) {
    char events[4096];
    while (read(oom_event_fd, events, sizeof events) > 0) {
    }
    if (oom_kill_count() > 0) write_oom_files();
    return;
  }
  uint64_t count;
  if (read(oom_event_fd, &count, sizeof count) != (ssize_t)sizeof count) return;
  /* The eventfd also fires once when the cgroup is removed: that alone is no OOM. */
  char path[PATH_MAX];
  bool removed = path_join(path, sizeof path, memory_cgroup, "cgroup.event_control") && access(path, F_OK) < 0;
  if (count == 1 && removed) return;
  write_oom_files();
}

/* ---- children --------------------------------------------------------------------------- */

static void child_exited(pid_t pid, int status) {
  if (pid == runtime_pid) {
    runtime_status = status;
    runtime_exited = true;
    runtime_pid = -1;
  } else if (container_pid > 0 && pid == container_pid) {
    container_status = status;
    container_exited = true;
  } else {
    /* The container (an exec'd process) may be reaped before its pid file is read; orphans
     * that are not the container land here too, since the monitor is a subreaper. */
    early_exits[n_early_exits % 32].pid = pid;
    early_exits[n_early_exits % 32].status = status;
    n_early_exits++;
  }
}

static void reap_children(void) {
  for (;;) {
    int status;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid < 0 && errno == EINTR) continue;
    if (pid <= 0) return;
    child_exited(pid, status);
  }
}

static void handle_signals(void) {
  struct signalfd_siginfo si;
  while (read(sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
    if (si.ssi_signo == SIGCHLD) continue;
    /* SIGTERM/SIGINT/SIGQUIT to the monitor are meant for the container, as with conmon. */
    pid_t target = container_pid > 0 && !container_exited ? container_pid : runtime_pid;
    if (target > 0) kill(target, (int)si.ssi_signo);
  }
  reap_children();
}

static int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

/* ---- running the runtime ---------------------------------------------------------------- */

static void build_runtime_argv(const char **argv) {
  int n = 0;
  argv[n++] = opt.runtime;
  for (int i = 0; i < opt.n_runtime_args; i++) argv[n++] = opt.runtime_args[i];
  if (opt.exec) {
    argv[n++] = "exec";
    argv[n++] = "--pid-file";
    argv[n++] = opt.container_pidfile;
    argv[n++] = "--process";
    argv[n++] = opt.exec_spec;
    argv[n++] = "--detach";
    if (opt.terminal) argv[n++] = "--tty";
  } else {
    argv[n++] = opt.run ? "run" : "create";
    if (opt.run) argv[n++] = "--detach";
    argv[n++] = "--bundle";
    argv[n++] = opt.bundle;
    argv[n++] = "--pid-file";
    argv[n++] = opt.container_pidfile;
  }
  if (opt.terminal) {
    argv[n++] = "--console-socket";
    argv[n++] = console_path;
  }
  argv[n++] = opt.cid;
  argv[n] = NULL;
}

/*
 * Forks runc with the container's ends of the stdio pipes as its 0/1/2: `runc create` and
 * `runc exec -d` hand their own stdio to the container process. With a terminal, runc's stdout
 * is /dev/null and its stderr a pipe we read for error messages.
 */
static void start_runtime(int child_in, int child_out, int child_err, const sigset_t *old_mask) {
  const char *argv[MAX_RUNTIME_ARGS + 20];
  build_runtime_argv(argv);
  runtime_pid = fork();
  if (runtime_pid < 0) fail("fork: %s", strerror(errno));
  if (runtime_pid > 0) return;

  /* The child: runc must start with default signal handling and an empty mask, since both are
   * inherited across exec and then by the container. */
  signal(SIGPIPE, SIG_DFL);
  sigprocmask(SIG_SETMASK, old_mask, NULL);
  prctl(PR_SET_PDEATHSIG, SIGKILL); /* a monitor that dies mid-create takes runc with it */
  if (dup2(child_in, 0) < 0 || dup2(child_out, 1) < 0 || dup2(child_err, 2) < 0) _exit(127);
  if (opt.exec_attach && start_fd >= 0 && !opt.run) {
    /* Wait for berthd's second start-pipe write: its client is connected, so no output of a
     * short exec can be missed. (--run waits in the runtime itself: see link_spec_to_start_pipe.) */
    char buf[64];
    read_wait(start_fd, buf, sizeof buf);
  }
  /* The monitor itself stays out of the OOM killer's way; runc and the container must not. */
  set_oom_score_adj("0");
  execv(opt.runtime, (char *const *)argv);
  dprintf(2, "cannot run %s: %s\n", opt.runtime, strerror(errno));
  _exit(127);
}

/* After runc returned: the container's pid, or the error runc printed. */
static void runtime_finished(void) {
  if (!WIFEXITED(runtime_status) || WEXITSTATUS(runtime_status) != 0) {
    char msg[8192];
    size_t len = 0;
    for (;;) {
      ssize_t n = err_fd < 0 ? 0 : read(err_fd, msg + len, sizeof msg - 1 - len);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || (len += (size_t)n) == sizeof msg - 1) break;
    }
    msg[len] = '\0';
    if (len == 0) fail("%s %s exited with status %d", opt.runtime, opt.exec ? "exec" : opt.run ? "run" : "create", exit_code(runtime_status));
    /* Sent as is: berthd extracts runc's msg="..." itself. */
    send_sync(sync_fd, -1, msg);
    sync_reported = true;
    fail("runtime failed: %s", msg);
  }
  if (opt.terminal && master_fd < 0) {
    /* runc has sent the terminal before exiting; it waits in the socket's backlog. */
    receive_console();
    if (master_fd < 0) fail("the runtime did not set up a terminal");
  }
  char buf[32];
  if (read_small_file(opt.container_pidfile, buf, sizeof buf) <= 0) fail("cannot read pid file %s: %s", opt.container_pidfile, strerror(errno));
  container_pid = (pid_t)strtol(buf, NULL, 10);
  if (container_pid <= 0) fail("bad pid file %s", opt.container_pidfile);
  send_sync(sync_fd, container_pid, NULL);
  sync_reported = true;
  /* A container's sync pipe carries only the pid; an exec's carries its exit code later too. */
  if (!opt.exec) close_fd(&sync_fd);
  for (unsigned i = 0; i < n_early_exits && i < 32; i++) {
    if (early_exits[i].pid == container_pid) {
      container_status = early_exits[i].status;
      container_exited = true;
    }
  }
  if (!container_exited && kill(container_pid, 0) < 0 && errno == ESRCH) {
    /* Gone, and not through our waitpid (a zombie would still answer): something else reaped
     * it, so its status is lost. Record 255 rather than wait for an exit that never comes. */
    container_status = 255 << 8;
    container_exited = true;
  }
  if (!opt.exec) setup_oom_watch(container_pid);
  close_fd(&start_fd);
  started = true;
}

/* ---- the event loop --------------------------------------------------------------------- */

enum kind { K_SIGNAL, K_CONSOLE, K_LISTEN, K_CLIENT, K_OUT, K_ERR, K_IN, K_CTL, K_WINSZ, K_OOM };

static void run_loop(void) {
  struct pollfd pfd[16 + MAX_CLIENTS];
  int kind[16 + MAX_CLIENTS], owner[16 + MAX_CLIENTS];
  while (!container_exited) {
    int n = 0;
    int timeout = -1;
    int64_t now = now_ms();
#define WATCH(fd_, events_, kind_, owner_) \
  do {                                     \
    pfd[n] = (struct pollfd){(fd_), (events_), 0}; \
    kind[n] = (kind_);                     \
    owner[n++] = (owner_);                 \
  } while (0)
    WATCH(sig_fd, POLLIN, K_SIGNAL, 0);
    if (console_listen_fd >= 0) WATCH(console_listen_fd, POLLIN, K_CONSOLE, 0);
    if (attach_listen_fd >= 0 && n_clients < MAX_CLIENTS) WATCH(attach_listen_fd, POLLIN, K_LISTEN, 0);
    for (int i = 0; i < n_clients; i++) {
      short ev = (clients[i].readable && in_len == 0 ? POLLIN : 0) | (clients[i].head ? POLLOUT : 0);
      /* A client with nothing to do is left out: a closed peer would report POLLHUP forever. */
      if (ev) WATCH(clients[i].fd, ev, K_CLIENT, i);
    }
    bool congested = clients_congested();
    if (congested) timeout = 500;
    if (started && !congested) {
      if (out_fd >= 0) {
        if (out_paused_until > now) timeout = (int)(out_paused_until - now);
        else WATCH(out_fd, POLLIN, K_OUT, 0);
      }
      if (err_fd >= 0 && err_fd != out_fd) WATCH(err_fd, POLLIN, K_ERR, 0);
    }
    if (in_fd >= 0 && in_len > in_off) WATCH(in_fd, POLLOUT, K_IN, 0);
    /* Resizes wait in the fifo until there is a terminal to apply them to. */
    if (!opt.terminal || master_fd >= 0) {
      if (ctl.fd >= 0) WATCH(ctl.fd, POLLIN, K_CTL, 0);
      if (winsz.fd >= 0) WATCH(winsz.fd, POLLIN, K_WINSZ, 0);
    }
    if (oom_event_fd >= 0) WATCH(oom_event_fd, POLLIN, K_OOM, 0);
#undef WATCH

    int ready = poll(pfd, (nfds_t)n, timeout);
    if (ready < 0) {
      if (errno == EINTR) continue;
      fail("poll: %s", strerror(errno));
    }
    /* Clients are handled last and from the highest index down: dropping one moves the last
     * client into its slot, which must not be one still to be visited. */
    for (int i = 0; i < n; i++) {
      short re = pfd[i].revents;
      if (!re) continue;
      switch (kind[i]) {
        case K_SIGNAL: handle_signals(); break;
        case K_CONSOLE: receive_console(); break;
        case K_LISTEN: accept_clients(); break;
        case K_OUT:
          if (out_fd >= 0) {
            if (re & POLLIN) read_output(&out_fd, STREAM_STDOUT);
            else if (out_fd == master_fd) out_paused_until = now_ms() + PTY_HUP_RETRY_MS;
            else close_fd(&out_fd); /* POLLHUP with nothing left: the writers are gone */
          }
          break;
        case K_ERR:
          if (err_fd >= 0) {
            if (re & POLLIN) read_output(&err_fd, opt.terminal ? STREAM_STDOUT : STREAM_STDERR);
            else close_fd(&err_fd);
          }
          break;
        case K_IN: pump_stdin(); break;
        case K_CTL: read_lines(&ctl); break;
        case K_WINSZ: read_lines(&winsz); break;
        case K_OOM: oom_event(); break;
        default: break;
      }
    }
    for (int i = n - 1; i >= 0; i--) {
      if (kind[i] != K_CLIENT || !pfd[i].revents) continue;
      int c = owner[i];
      if (c >= n_clients || clients[c].fd != pfd[i].fd) continue;
      short re = pfd[i].revents;
      if ((re & POLLOUT) && !flush_client(&clients[c])) {
        drop_client(c);
        continue;
      }
      if (re & POLLIN) {
        client_input(c);
      } else if (re & (POLLHUP | POLLERR)) {
        /* Gone without a final EOF read (POLLIN comes with the EOF normally). */
        if (clients[c].readable) client_input(c);
        else drop_client(c);
      }
    }
    if (congested) drop_stalled_clients();
    if (runtime_exited && !started) runtime_finished();
  }
}

/* Output still buffered when the container exited: read it (within reason) and hand it over. */
static void drain_and_flush(void) {
  int64_t deadline = now_ms() + DRAIN_MS;
  /* A client that connected just before the exit (berthd attaches, then lets a short exec run)
   * may still sit in the listen backlog: it is owed that output too. */
  if (attach_listen_fd >= 0) accept_clients();
  if (master_fd >= 0) out_paused_until = 0;
  bool more = true;
  while (more && now_ms() < deadline) {
    more = false;
    if (out_fd >= 0 && read_output(&out_fd, STREAM_STDOUT)) more = true;
    if (err_fd >= 0 && err_fd != out_fd && read_output(&err_fd, opt.terminal ? STREAM_STDOUT : STREAM_STDERR)) more = true;
    for (int i = n_clients - 1; i >= 0; i--) {
      if (!flush_client(&clients[i])) drop_client(i);
    }
    if (master_fd >= 0 && out_paused_until) break; /* EIO: the terminal is empty */
  }
  deadline = now_ms() + FINAL_FLUSH_MS;
  for (;;) {
    struct pollfd pfd[MAX_CLIENTS];
    int n = 0;
    for (int i = 0; i < n_clients; i++) {
      if (clients[i].head) pfd[n++] = (struct pollfd){clients[i].fd, POLLOUT, 0};
    }
    int64_t left = deadline - now_ms();
    if (n == 0 || left <= 0) break;
    if (poll(pfd, (nfds_t)n, (int)left) < 0 && errno != EINTR) break;
    for (int i = n_clients - 1; i >= 0; i--) {
      if (!flush_client(&clients[i])) drop_client(i);
    }
  }
  while (n_clients > 0) drop_client(n_clients - 1);
}

static void record_exit(int code) {
  char text[16], path[PATH_MAX];
  int len = snprintf(text, sizeof text, "%d", code);
  /* The oom marker first: berthd reads it when the exit file appears. */
  if (!opt.exec && !oom_written && oom_kill_count() > 0) write_oom_files();
  if (opt.persist_dir && path_join(path, sizeof path, opt.persist_dir, "exit")) write_file_atomic(path, text, (size_t)len);
  if (opt.exit_dir && path_join(path, sizeof path, opt.exit_dir, opt.cid)) write_file_atomic(path, text, (size_t)len);
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN); /* a reader that went away is an error return, not our death */
  sync_fd = pipe_fd_from_env("_OCI_SYNCPIPE");
  start_fd = pipe_fd_from_env("_OCI_STARTPIPE");
  attach_pipe_fd = pipe_fd_from_env("_OCI_ATTACHPIPE");
  parse_args(argc, argv);
  if (!opt.exec_attach) attach_pipe_fd = -1; /* closed below with the other strays */
  close_inherited_fds();
  tzset();

  if (start_fd >= 0) {
    /* berthd's first write lets us go on (podman uses the pause to move conmon into a cgroup). */
    char buf[64];
    if (read_wait(start_fd, buf, sizeof buf) < 0) fail("start pipe: %s", strerror(errno));
    if (!opt.exec_attach) close_fd(&start_fd);
  }

  null_r = open("/dev/null", O_RDONLY | O_CLOEXEC);
  null_w = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (null_r < 0 || null_w < 0) fail("/dev/null: %s", strerror(errno));

  /* Detach: the process berthd started writes our pid and exits at once, so berthd need not
   * wait for us; we go on in our own session, and survive berthd itself. */
  pid_t monitor = fork();
  if (monitor < 0) fail("fork: %s", strerror(errno));
  if (monitor > 0) {
    if (opt.monitor_pidfile) {
      char text[16];
      int len = snprintf(text, sizeof text, "%d", (int)monitor);
      if (write_file_atomic(opt.monitor_pidfile, text, (size_t)len) < 0) {
        dprintf(STDERR_FILENO, "berth-monitor: cannot write %s: %s\n", opt.monitor_pidfile, strerror(errno));
        kill(monitor, SIGKILL);
        _exit(1);
      }
    }
    _exit(0);
  }
  setsid();
  /* Orphans of runc (the container's init once `runc create` exits) become our children, so
   * waitpid sees the container's exit. */
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) fail("cannot become a subreaper: %s", strerror(errno));
  set_oom_score_adj("-1000");
  /* berthd holds the other end of our stderr; it must not keep a pipe open to us. */
  if (dup2(null_r, STDIN_FILENO) < 0 || dup2(null_w, STDOUT_FILENO) < 0 || dup2(null_w, STDERR_FILENO) < 0) fail("dup2: %s", strerror(errno));

  sigset_t mask, old_mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGQUIT);
  sigprocmask(SIG_BLOCK, &mask, &old_mask);
  sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sig_fd < 0) fail("signalfd: %s", strerror(errno));

  open_log();

  /* Pipes: ours non-blocking, the container's ends as runc expects (blocking). */
  int fds[2];
  int child_in = null_r, child_out = null_w, child_err;
  if (opt.terminal) {
    setup_console_socket();
  } else {
    if (opt.stdin_open) {
      if (pipe2(fds, O_CLOEXEC) < 0) fail("pipe: %s", strerror(errno));
      child_in = fds[0];
      in_fd = fds[1];
      set_nonblocking(in_fd);
    }
    if (pipe2(fds, O_CLOEXEC) < 0) fail("pipe: %s", strerror(errno));
    out_fd = fds[0];
    child_out = fds[1];
    set_nonblocking(out_fd);
  }
  /* Always a stderr pipe: it carries runc's error message when create/exec fails. */
  if (pipe2(fds, O_CLOEXEC) < 0) fail("pipe: %s", strerror(errno));
  err_fd = fds[0];
  child_err = fds[1];
  set_nonblocking(err_fd);

  /* --run: the runtime comes first, held by its spec (see link_spec_to_start_pipe), so its
   * start-up overlaps the rest of ours and berthd's preparation. */
  if (opt.run) {
    link_spec_to_start_pipe();
    start_runtime(child_in, child_out, child_err, &old_mask);
  }
  if (opt.bundle) {
    setup_attach_socket();
    setup_fifo(&ctl, "ctl");
    setup_fifo(&winsz, "winsz");
  }
  if (opt.exec_attach) {
    /* The socket listens: berthd may connect its client now, then lets the runtime go. */
    send_sync(attach_pipe_fd, 0, NULL);
    close_fd(&attach_pipe_fd);
  }

  if (!opt.run) start_runtime(child_in, child_out, child_err, &old_mask);
  if (child_in != null_r) close(child_in);
  if (child_out != null_w) close(child_out);
  close(child_err);
  /* --run: the runtime opens the start pipe through our /proc entry; it stays until runc is done. */
  if (!opt.run) close_fd(&start_fd);

  run_loop();

  drain_and_flush();
  close_fd(&attach_listen_fd);
  int code = exit_code(container_status);
  record_exit(code);
  if (opt.exec) send_sync(sync_fd, code, NULL);
  remove_transient_files();
  return 0;
}

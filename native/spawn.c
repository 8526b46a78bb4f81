/*
 * posix_spawn(3) for Node, used to start the per-container monitor.
 *
 * Why native: child_process.spawn forks the daemon. fork(2) copies the page tables of a
 * ~100 MB process and libuv then waits for the child's exec, 1.5-2 ms during which the event
 * loop runs nothing, and the monitor is started on the path every `docker run` waits on (and
 * every exec). glibc's posix_spawn clones with CLONE_VM|CLONE_VFORK instead: no copy, and the
 * parent resumes as soon as the child has exec'd, with exec's errno if it failed.
 *
 * The child gets (if asked) its own session, default signal dispositions, an empty signal mask,
 * a working directory, an environment, and for each of its first N fds either /dev/null or one
 * end of a new pipe whose other end is returned to the caller (non-blocking and close-on-exec,
 * ready for net.Socket({ fd })). Nothing else is inherited: libuv opens every fd close-on-exec.
 *
 * libuv reaps only the children it started, so waitpid() for this one runs on the thread pool
 * (napi async work): the monitor's first process exits as soon as it has forked the monitor.
 *
 * JS API (see src/sys/spawn.ts):
 *   spawn(file, argv, env, cwd, stdio, flags) -> { pid, fds }
 *     flags: 1 = a session of its own (setsid), 2 = look FILE up in this process's PATH.
 *     stdio[i]: 0 = /dev/null, 1 = a pipe the child reads (fds[i]: its write end),
 *               2 = a pipe the child writes (fds[i]: its read end); fds[i] is -1 for /dev/null.
 *     Throws an Error with `code` (the errno name) and `errno` when the spawn fails.
 *   wait(pid) -> Promise<{ code: number | null, signal: number | null }>
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_STDIO 16
/* Parent-side copies of the child's ends are moved above this, so that no source fd of a dup2
 * file action can equal a target slot (dup2(x, x) would keep close-on-exec set). */
#define FD_FLOOR 64

static void throw_errno(napi_env env, int err, const char *what) {
  char message[256];
  snprintf(message, sizeof message, "%s: %s", what, strerror(err));
  napi_value msg, error, code, num;
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, NULL, msg, &error);
  const char *name = err == ENOENT ? "ENOENT" : err == EACCES ? "EACCES" : err == ENOEXEC ? "ENOEXEC" : err == ENOMEM ? "ENOMEM" : err == EMFILE ? "EMFILE" : "ESPAWN";
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_set_named_property(env, error, "code", code);
  napi_create_int32(env, err, &num);
  napi_set_named_property(env, error, "errno", num);
  napi_throw(env, error);
}

static char *get_string(napi_env env, napi_value v) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
  char *s = malloc(len + 1);
  if (s && napi_get_value_string_utf8(env, v, s, len + 1, &len) != napi_ok) {
    free(s);
    return NULL;
  }
  return s;
}

/* A NULL-terminated copy of a JS string array, or NULL (bad argument or no memory). */
static char **get_string_array(napi_env env, napi_value v) {
  bool is_array = false;
  uint32_t n = 0;
  if (napi_is_array(env, v, &is_array) != napi_ok || !is_array || napi_get_array_length(env, v, &n) != napi_ok) return NULL;
  char **out = calloc(n + 1, sizeof(char *));
  if (!out) return NULL;
  for (uint32_t i = 0; i < n; i++) {
    napi_value item;
    napi_valuetype type;
    if (napi_get_element(env, v, i, &item) != napi_ok || napi_typeof(env, item, &type) != napi_ok || type != napi_string || !(out[i] = get_string(env, item))) {
      for (uint32_t j = 0; j < i; j++) free(out[j]);
      free(out);
      return NULL;
    }
  }
  return out;
}

static void free_string_array(char **a) {
  if (!a) return;
  for (char **p = a; *p; p++) free(*p);
  free(a);
}

static napi_value js_spawn(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value args[6];
  int32_t flags = 0;
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  char *file = NULL, *cwd = NULL, **argv = NULL, **envp = NULL;
  int slots[MAX_STDIO], parent_fd[MAX_STDIO], child_fd[MAX_STDIO];
  uint32_t nslots = 0;
  napi_value result = NULL;
  for (int i = 0; i < MAX_STDIO; i++) parent_fd[i] = child_fd[i] = -1;

  bool is_array = false;
  if (argc < 5 || !(file = get_string(env, args[0])) || !(argv = get_string_array(env, args[1])) || !(envp = get_string_array(env, args[2])) ||
      !(cwd = get_string(env, args[3])) || napi_is_array(env, args[4], &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, args[4], &nslots) != napi_ok || nslots > MAX_STDIO || (argc > 5 && napi_get_value_int32(env, args[5], &flags) != napi_ok)) {
    napi_throw_type_error(env, NULL, "spawn(file, argv, env, cwd, stdio, flags): bad arguments");
    goto out;
  }
  for (uint32_t i = 0; i < nslots; i++) {
    napi_value item;
    if (napi_get_element(env, args[4], i, &item) != napi_ok || napi_get_value_int32(env, item, &slots[i]) != napi_ok || slots[i] < 0 || slots[i] > 2) {
      napi_throw_type_error(env, NULL, "spawn: stdio entries are 0 (/dev/null), 1 (child reads) or 2 (child writes)");
      goto out;
    }
  }
  for (uint32_t i = 0; i < nslots; i++) {
    if (slots[i] == 0) continue;
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
      throw_errno(env, errno, "pipe2");
      goto out;
    }
    int theirs = slots[i] == 1 ? p[0] : p[1], ours = slots[i] == 1 ? p[1] : p[0];
    child_fd[i] = fcntl(theirs, F_DUPFD_CLOEXEC, FD_FLOOR);
    close(theirs);
    parent_fd[i] = ours;
    if (child_fd[i] < 0 || fcntl(ours, F_SETFL, fcntl(ours, F_GETFL) | O_NONBLOCK) < 0) {
      throw_errno(env, errno, "preparing a pipe");
      goto out;
    }
  }

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  for (uint32_t i = 0; i < nslots; i++) {
    if (slots[i] == 0) posix_spawn_file_actions_addopen(&actions, (int)i, "/dev/null", O_RDWR, 0);
    else posix_spawn_file_actions_adddup2(&actions, child_fd[i], (int)i);
  }
  posix_spawn_file_actions_addchdir_np(&actions, cwd);
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, ((flags & 1) ? POSIX_SPAWN_SETSID : 0) | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  pid_t pid;
  int rc = (flags & 2) ? posix_spawnp(&pid, file, &actions, &attr, argv, envp) : posix_spawn(&pid, file, &actions, &attr, argv, envp);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    throw_errno(env, rc, file);
    goto out;
  }

  napi_value pid_value, fds, fd_value;
  napi_create_object(env, &result);
  napi_create_int32(env, pid, &pid_value);
  napi_set_named_property(env, result, "pid", pid_value);
  napi_create_array_with_length(env, nslots, &fds);
  for (uint32_t i = 0; i < nslots; i++) {
    napi_create_int32(env, parent_fd[i], &fd_value);
    napi_set_element(env, fds, i, fd_value);
    parent_fd[i] = -1; /* handed over */
  }
  napi_set_named_property(env, result, "fds", fds);

out:
  for (int i = 0; i < MAX_STDIO; i++) {
    if (child_fd[i] >= 0) close(child_fd[i]);
    if (parent_fd[i] >= 0) close(parent_fd[i]);
  }
  free(file);
  free(cwd);
  free_string_array(argv);
  free_string_array(envp);
  return result;
}

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  pid_t pid;
  int status;
  int err;
} wait_t;

static void wait_execute(napi_env env, void *data) {
  (void)env;
  wait_t *w = data;
  pid_t r;
  do r = waitpid(w->pid, &w->status, 0);
  while (r < 0 && errno == EINTR);
  w->err = r < 0 ? errno : 0;
}

static void wait_complete(napi_env env, napi_status status, void *data) {
  (void)status;
  wait_t *w = data;
  napi_value result, code, sig;
  if (w->err) {
    napi_value msg, error;
    napi_create_string_utf8(env, strerror(w->err), NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &error);
    napi_reject_deferred(env, w->deferred, error);
  } else {
    napi_create_object(env, &result);
    if (WIFEXITED(w->status)) napi_create_int32(env, WEXITSTATUS(w->status), &code);
    else napi_get_null(env, &code);
    if (WIFSIGNALED(w->status)) napi_create_int32(env, WTERMSIG(w->status), &sig);
    else napi_get_null(env, &sig);
    napi_set_named_property(env, result, "code", code);
    napi_set_named_property(env, result, "signal", sig);
    napi_resolve_deferred(env, w->deferred, result);
  }
  napi_delete_async_work(env, w->work);
  free(w);
}

static napi_value js_wait(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg, promise, name;
  int32_t pid = 0;
  napi_get_cb_info(env, info, &argc, &arg, NULL, NULL);
  if (argc < 1 || napi_get_value_int32(env, arg, &pid) != napi_ok || pid <= 0) {
    napi_throw_type_error(env, NULL, "wait(pid): pid must be a positive integer");
    return NULL;
  }
  wait_t *w = calloc(1, sizeof *w);
  if (!w) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  w->pid = pid;
  napi_create_promise(env, &w->deferred, &promise);
  napi_create_string_utf8(env, "waitpid", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, wait_execute, wait_complete, w, &w->work);
  napi_queue_async_work(env, w->work);
  return promise;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
    { "spawn", NULL, js_spawn, NULL, NULL, NULL, napi_default, NULL },
    { "wait", NULL, js_wait, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

/*
 * mount(2) and umount2(2) for Node, used for container overlay mounts.
 *
 * Why native: every container start mounted its overlay by spawning mount(8) and every exit
 * unmounted it by spawning umount(8). Forking the daemon, exec'ing the tool and letting libmount
 * parse /proc/self/mountinfo cost 10-30 ms per call on a busy 2-core machine, twice on the path
 * that `docker run --rm` waits on. The syscalls themselves take well under a millisecond.
 *
 * Both calls run on libuv's thread pool (napi async work), so a slow mount never blocks the
 * event loop, and resolve a Promise: undefined on success, or reject with an Error whose
 * `code` is the errno name (EBUSY, EINVAL, ENOENT, ...) and `errno` the number.
 *
 * Relative paths in the mount data (overlay's lowerdir) would be resolved against the process's
 * working directory, which a pool thread cannot change for itself alone: callers that need a
 * working directory keep spawning mount(8) with a cwd (see src/sys/fs.ts).
 *
 * removeTree does a recursive delete on the same pool: node's recursive rm makes one thread-pool
 * round trip (and a little JavaScript) per entry, work the event loop pays for at every container
 * removal. It never crosses into another filesystem (EXDEV: something is still mounted there)
 * and never follows a symlink.
 *
 * JS API (see src/sys/fs.ts):
 *   mount(source, target, fstype, flags, data) -> Promise<void>
 *   umount2(target, flags) -> Promise<void>
 *   removeTree(path) -> Promise<void>      (a missing path is not an error)
 *   x32Syscalls() -> boolean | undefined   (see src/sys/abi.ts)
 *   sealedCopy(path, name) -> fd           (see src/runtime/runtime-binary.ts)
 */
#define NAPI_VERSION 8
#define _GNU_SOURCE
#include <node_api.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { OP_MOUNT, OP_UMOUNT, OP_REMOVE_TREE };

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  int kind;
  char *source;
  char *target;
  char *fstype;
  char *data;
  unsigned long flags;
  int err;
} op_t;

/* Copies a JS string argument into a malloc'd C string; NULL for null/undefined. */
static int get_string(napi_env env, napi_value v, char **out) {
  napi_valuetype type;
  *out = NULL;
  if (napi_typeof(env, v, &type) != napi_ok) return -1;
  if (type == napi_null || type == napi_undefined) return 0;
  if (type != napi_string) return -1;
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return -1;
  *out = malloc(len + 1);
  if (*out == NULL) return -1;
  if (napi_get_value_string_utf8(env, v, *out, len + 1, &len) != napi_ok) return -1;
  return 0;
}

static void free_op(op_t *op) {
  free(op->source);
  free(op->target);
  free(op->fstype);
  free(op->data);
  free(op);
}

/* Removes NAME under PARENTFD and, for a directory, everything in it; 0 or an errno. */
static int remove_at(int parentfd, const char *name, dev_t dev, int depth) {
  if (unlinkat(parentfd, name, 0) == 0 || errno == ENOENT) return 0;
  if (errno != EISDIR && errno != EPERM) return errno;
  if (depth > 10000) return ELOOP;
  int fd = openat(parentfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? 0 : errno;
  struct stat st;
  if (fstat(fd, &st) < 0) {
    int err = errno;
    close(fd);
    return err;
  }
  if (st.st_dev != dev) {
    close(fd);
    return EXDEV;
  }
  DIR *dir = fdopendir(fd);
  if (dir == NULL) {
    int err = errno;
    close(fd);
    return err;
  }
  int err = 0;
  for (int pass = 0; pass < 2 && err == 0; pass++) {
    struct dirent *entry;
    while (err == 0 && (entry = readdir(dir)) != NULL) {
      if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
      err = remove_at(dirfd(dir), entry->d_name, dev, depth + 1);
    }
    if (err) break;
    if (unlinkat(parentfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT) break;
    /* Entries read while others were unlinked can be missed: one more pass, then give up. */
    if (errno != ENOTEMPTY || pass == 1) err = errno;
    else rewinddir(dir);
  }
  closedir(dir);
  return err;
}

static int remove_tree(const char *path) {
  struct stat st;
  if (lstat(path, &st) < 0) return errno == ENOENT ? 0 : errno;
  return remove_at(AT_FDCWD, path, st.st_dev, 0);
}

static void execute(napi_env env, void *data) {
  (void)env;
  op_t *op = data;
  if (op->kind == OP_REMOVE_TREE) {
    op->err = remove_tree(op->target);
    return;
  }
  int rc = op->kind == OP_UMOUNT ? umount2(op->target, (int)op->flags)
                                 : mount(op->source, op->target, op->fstype, op->flags, op->data);
  op->err = rc == 0 ? 0 : errno;
}

static const char *errno_name(int err) {
  switch (err) {
    case EBUSY: return "EBUSY";
    case EINVAL: return "EINVAL";
    case ENOENT: return "ENOENT";
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case ENOTDIR: return "ENOTDIR";
    case ENODEV: return "ENODEV";
    case ENOMEM: return "ENOMEM";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ELOOP: return "ELOOP";
    case ENOTBLK: return "ENOTBLK";
    case ENXIO: return "ENXIO";
    case EROFS: return "EROFS";
    case EXDEV: return "EXDEV";
    case ENOTEMPTY: return "ENOTEMPTY";
    case EISDIR: return "EISDIR";
    case ESTALE: return "ESTALE";
    default: return "EIO";
  }
}

static void complete(napi_env env, napi_status status, void *data) {
  op_t *op = data;
  if (status == napi_ok && op->err == 0) {
    napi_value undef;
    napi_get_undefined(env, &undef);
    napi_resolve_deferred(env, op->deferred, undef);
  } else {
    int err = status == napi_ok ? op->err : ECANCELED;
    napi_value msg, code, error, errnum;
    napi_create_string_utf8(env, strerror(err), NAPI_AUTO_LENGTH, &msg);
    napi_create_string_utf8(env, errno_name(err), NAPI_AUTO_LENGTH, &code);
    napi_create_error(env, code, msg, &error);
    napi_create_int32(env, err, &errnum);
    napi_set_named_property(env, error, "errno", errnum);
    napi_reject_deferred(env, op->deferred, error);
  }
  napi_delete_async_work(env, op->work);
  free_op(op);
}

static napi_value queue(napi_env env, op_t *op) {
  napi_value promise, name;
  if (napi_create_promise(env, &op->deferred, &promise) != napi_ok) {
    free_op(op);
    return NULL;
  }
  napi_create_string_utf8(env, op->kind == OP_UMOUNT ? "umount2" : op->kind == OP_REMOVE_TREE ? "removeTree" : "mount", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, execute, complete, op, &op->work);
  napi_queue_async_work(env, op->work);
  return promise;
}

/* A zeroed operation, or NULL with an out-of-memory error pending. */
static op_t *new_op(napi_env env) {
  op_t *op = calloc(1, sizeof *op);
  if (op == NULL) napi_throw_error(env, "ENOMEM", "out of memory");
  return op;
}

/* Frees a half-filled operation and leaves a TypeError pending. */
static napi_value bad_arguments(napi_env env, op_t *op, const char *message) {
  free_op(op);
  napi_throw_type_error(env, NULL, message);
  return NULL;
}

static napi_value js_mount(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  op_t *op = new_op(env);
  if (op == NULL) return NULL;
  double flags = 0;
  if (argc < 5 || get_string(env, argv[0], &op->source) || get_string(env, argv[1], &op->target) ||
      get_string(env, argv[2], &op->fstype) || napi_get_value_double(env, argv[3], &flags) != napi_ok ||
      get_string(env, argv[4], &op->data) || op->target == NULL) {
    return bad_arguments(env, op, "mount(source, target, fstype, flags, data): bad arguments");
  }
  op->flags = (unsigned long)flags;
  return queue(env, op);
}

/* An operation whose first argument is a path (umount2, removeTree; for the latter it must be
 * absolute): NULL, with a TypeError pending, when the arguments don't fit. ARGV receives all
 * WANT arguments. */
static op_t *path_op(napi_env env, napi_callback_info info, int kind, size_t want, napi_value *argv, const char *usage) {
  size_t argc = want;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  op_t *op = new_op(env);
  if (op == NULL) return NULL;
  op->kind = kind;
  if (argc < want || get_string(env, argv[0], &op->target) || op->target == NULL || (kind == OP_REMOVE_TREE && op->target[0] != '/')) {
    bad_arguments(env, op, usage);
    return NULL;
  }
  return op;
}

static napi_value js_umount2(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  const char *usage = "umount2(target, flags): bad arguments";
  op_t *op = path_op(env, info, OP_UMOUNT, 2, argv, usage);
  if (op == NULL) return NULL;
  double flags = 0;
  if (napi_get_value_double(env, argv[1], &flags) != napi_ok) return bad_arguments(env, op, usage);
  op->flags = (unsigned long)flags;
  return queue(env, op);
}

static napi_value js_remove_tree(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  op_t *op = path_op(env, info, OP_REMOVE_TREE, 1, argv, "removeTree(path): path must be an absolute path");
  return op == NULL ? NULL : queue(env, op);
}

/*
 * Whether this kernel runs x32 system calls (CONFIG_X86_X32_ABI): one is tried, getpid with
 * the x32 bit set. ENOSYS says the ABI is compiled out; anything else (a pid, or a refusal by a
 * seccomp filter this daemon itself runs under) counts as present. Undefined off x86-64.
 */
static napi_value js_x32_syscalls(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
#if defined(__x86_64__)
  long pid = syscall(0x40000000L | SYS_getpid);
  napi_get_boolean(env, !(pid < 0 && errno == ENOSYS), &result);
#else
  napi_get_undefined(env, &result);
#endif
  return result;
}

/*
 * A sealed memfd (no write, grow, shrink or further seals) holding a copy of the file at PATH:
 * runc run from such a copy knows it cannot be overwritten through /proc/self/exe by a
 * container (CVE-2019-5736) and skips making its own copy at every start. Synchronous: done
 * once at start-up. Close-on-exec: it is reached through /proc/PID/fd/N, never inherited.
 */
static napi_value js_sealed_copy(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  char path[4096], name[64];
  size_t len;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != napi_ok || len == 0 || len >= sizeof path - 1 ||
      napi_get_value_string_utf8(env, argv[1], name, sizeof name, &len) != napi_ok || len == 0 || len >= sizeof name - 1) {
    napi_throw_type_error(env, NULL, "sealedCopy(path, name): bad arguments");
    return NULL;
  }
  int src = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  int fd = -1, err = 0;
  if (src < 0 || fstat(src, &st) < 0) {
    err = errno;
  } else if ((fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING)) < 0) {
    err = errno;
  } else {
    off_t offset = 0;
    while (offset < st.st_size) {
      ssize_t n = sendfile(fd, src, &offset, (size_t)(st.st_size - offset));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        err = n < 0 ? errno : EIO;
        break;
      }
    }
    if (!err && fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0) err = errno;
  }
  if (src >= 0) close(src);
  if (err) {
    if (fd >= 0) close(fd);
    napi_value code, message, error;
    napi_create_string_utf8(env, strerror(err), NAPI_AUTO_LENGTH, &message);
    napi_create_string_utf8(env, "ESEALEDCOPY", NAPI_AUTO_LENGTH, &code);
    napi_create_error(env, code, message, &error);
    napi_throw(env, error);
    return NULL;
  }
  napi_value result;
  napi_create_int32(env, fd, &result);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "mount", NULL, js_mount, NULL, NULL, NULL, napi_default, NULL },
    { "umount2", NULL, js_umount2, NULL, NULL, NULL, napi_default, NULL },
    { "removeTree", NULL, js_remove_tree, NULL, NULL, NULL, napi_default, NULL },
    { "x32Syscalls", NULL, js_x32_syscalls, NULL, NULL, NULL, napi_default, NULL },
    { "sealedCopy", NULL, js_sealed_copy, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)

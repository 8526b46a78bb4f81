/*
 * A SOCK_SEQPACKET unix-socket client for Node, used to talk to conmon's attach socket.
 *
 * Why native: node's net module only opens SOCK_STREAM unix sockets, and libuv refuses to wrap
 * a SOCK_SEQPACKET fd (uv_guess_handle says "unknown"), so the fd cannot be handed to
 * net.Socket either. Bridging through socat or python would cost a process per attach and
 * lose packet boundaries, and conmon marks every packet with a leading stream byte (stdout or
 * stderr), so boundaries carry meaning. This addon is small: connect, watch the fd with
 * uv_poll on Node's own loop, deliver one Buffer per packet, send, shut down, close.
 *
 * JS API (see src/sys/seqpacket.ts):
 *   open(path, onPacket(buf), onEnd(errno)) -> handle    errno 0 means the peer closed
 *   send(handle, buf) -> bytes sent, or -errno (-EAGAIN when the socket buffer is full)
 *   shutdownWrite(handle)                                 peer reads EOF: "no more stdin"
 *   close(handle)
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <fcntl.h>

#define PACKET_MAX 65536

typedef struct {
  uv_poll_t poll;
  int fd;
  int closed;
  napi_env env;
  napi_ref on_packet;
  napi_ref on_end;
  napi_async_context async_ctx;
} conn_t;

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char code[32];
  const char *name = "EIO";
  switch (err) {
    case ENOENT: name = "ENOENT"; break;
    case ECONNREFUSED: name = "ECONNREFUSED"; break;
    case EACCES: name = "EACCES"; break;
    case ENAMETOOLONG: name = "ENAMETOOLONG"; break;
    case ENOTSOCK: name = "ENOTSOCK"; break;
    case EPROTOTYPE: name = "EPROTOTYPE"; break;
    default: snprintf(code, sizeof code, "E%d", err); name = code; break;
  }
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, name, msg);
  return NULL;
}

static conn_t *get_conn(napi_env env, napi_value v) {
  void *data = NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, NULL, "expected a seqpacket handle");
    return NULL;
  }
  return (conn_t *)data;
}

static void call(conn_t *c, napi_ref ref, int argc, napi_value *argv) {
  napi_env env = c->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value fn, recv, result;
  napi_get_reference_value(env, ref, &fn);
  napi_get_global(env, &recv);
  /* make_callback, not call_function: microtasks (promise continuations) run afterwards. */
  napi_make_callback(env, c->async_ctx, recv, fn, argc, argv, &result);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) {
    napi_value ex;
    napi_get_and_clear_last_exception(env, &ex);
    napi_fatal_exception(env, ex);
  }
  napi_close_handle_scope(env, scope);
}

static void on_closed(uv_handle_t *h) {
  conn_t *c = (conn_t *)h->data;
  napi_delete_reference(c->env, c->on_packet);
  napi_delete_reference(c->env, c->on_end);
  napi_async_destroy(c->env, c->async_ctx);
  free(c);
}

static void stop(conn_t *c) {
  if (c->closed) return;
  c->closed = 1;
  uv_poll_stop(&c->poll);
  close(c->fd);
  uv_close((uv_handle_t *)&c->poll, on_closed);
}

static void end_with(conn_t *c, int err) {
  uv_poll_stop(&c->poll);
  napi_handle_scope scope;
  napi_open_handle_scope(c->env, &scope);
  napi_value code;
  napi_create_int32(c->env, err, &code);
  call(c, c->on_end, 1, &code);
  napi_close_handle_scope(c->env, scope);
}

static void on_readable(uv_poll_t *p, int status, int events) {
  conn_t *c = (conn_t *)p->data;
  if (c->closed) return;
  if (status < 0) {
    end_with(c, -status);
    return;
  }
  if (!(events & (UV_READABLE | UV_DISCONNECT))) return;
  static char buf[PACKET_MAX];
  /* Bounded so one busy container cannot starve the loop. */
  for (int i = 0; i < 64 && !c->closed; i++) {
    ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR) continue;
      end_with(c, errno);
      return;
    }
    if (n == 0) {
      end_with(c, 0);
      return;
    }
    napi_handle_scope scope;
    napi_open_handle_scope(c->env, &scope);
    napi_value out;
    void *dst;
    napi_create_buffer_copy(c->env, (size_t)n, buf, &dst, &out);
    call(c, c->on_packet, 1, &out);
    napi_close_handle_scope(c->env, scope);
  }
}

static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3) {
    napi_throw_type_error(env, NULL, "open(path, onPacket, onEnd)");
    return NULL;
  }
  char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
  size_t len = 0;
  if (napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "path must be a string");
    return NULL;
  }
  struct sockaddr_un addr;
  if (len >= sizeof addr.sun_path) return throw_errno(env, "connect", ENAMETOOLONG);
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, path, len + 1);

  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  /* A local connect either succeeds or fails at once; non-blocking only after it. */
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "connect", err);
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);

  conn_t *c = (conn_t *)calloc(1, sizeof *c);
  c->fd = fd;
  c->env = env;
  napi_create_reference(env, argv[1], 1, &c->on_packet);
  napi_create_reference(env, argv[2], 1, &c->on_end);
  napi_value resource_name;
  napi_create_string_utf8(env, "berth.seqpacket", NAPI_AUTO_LENGTH, &resource_name);
  napi_value resource;
  napi_create_object(env, &resource);
  napi_async_init(env, resource, resource_name, &c->async_ctx);
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  uv_poll_init(loop, &c->poll, fd);
  c->poll.data = c;
  uv_poll_start(&c->poll, UV_READABLE | UV_DISCONNECT, on_readable);

  napi_value handle;
  napi_create_external(env, c, NULL, NULL, &handle);
  return handle;
}

static napi_value js_send(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  conn_t *c = get_conn(env, argv[0]);
  if (!c) return NULL;
  void *data;
  size_t len;
  if (napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "send(handle, buffer)");
    return NULL;
  }
  ssize_t n;
  if (c->closed) n = -EBADF;
  else {
    do n = send(c->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0) n = -errno;
  }
  napi_value out;
  napi_create_int64(env, (int64_t)n, &out);
  return out;
}

static napi_value js_shutdown_write(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  conn_t *c = get_conn(env, argv[0]);
  if (c && !c->closed) shutdown(c->fd, SHUT_WR);
  return NULL;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  conn_t *c = get_conn(env, argv[0]);
  if (c) stop(c);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL},
    {"send", NULL, js_send, NULL, NULL, NULL, napi_default, NULL},
    {"shutdownWrite", NULL, js_shutdown_write, NULL, NULL, NULL, napi_default, NULL},
    {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)

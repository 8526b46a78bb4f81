/*
 * A container's network namespace and veth wiring over rtnetlink, for Node.
 *
 * Why native: wiring a container to a bridge took three processes (unshare(1) to pin a fresh
 * namespace, nsenter(1)+ip(8) for the inside, ip(8) for the host end), 10-12 ms of the ~90 ms
 * that `docker run --rm` waits on; the kernel work itself is well under a millisecond. And the
 * teardown deleted the host veth (`ip link del`), where the kernel waits for RCU grace periods:
 * 15-30 ms on this 2-core machine, again on the waited-for path. Detaching the host end from
 * the bridge and taking it down costs a fraction of that; the pair itself then goes when the
 * namespace does, in the kernel's own netns cleanup work after its last user left.
 *
 * Namespace changes are per thread, and libuv's pool threads also resolve host names and do
 * file I/O for the daemon, so no pool thread ever enters another namespace: each operation
 * that needs one runs on a short-lived pthread of its own, started and joined from the pool
 * thread (napi async work), so the event loop never waits either.
 *
 * JS API (see src/sys/netlink.ts); every call returns a Promise that rejects with an Error
 * whose `code` is the errno name and whose message names the step that failed:
 *   createNetns(path)            pins a new network namespace on the file `path` (made if missing)
 *   addVeth(netnsPath, spec)     spec: { inside, hostName, bridge, mac, address, prefixLength,
 *                                gateway?, mtu?, loopback } -- see wire() below
 *   detachLink(name)             the host end: no master, down; resolves false if it is absent
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- rtnetlink messages ---- */

#define MSG_CAPACITY 1024

typedef struct {
  struct nlmsghdr *hdr;
  char buf[MSG_CAPACITY];
} msg_t;

static void *msg_init(msg_t *m, int type, int flags, size_t body) {
  memset(m->buf, 0, sizeof(m->buf));
  m->hdr = (struct nlmsghdr *)m->buf;
  m->hdr->nlmsg_len = NLMSG_LENGTH(body);
  m->hdr->nlmsg_type = type;
  m->hdr->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
  return NLMSG_DATA(m->hdr);
}

/* Appends an attribute; returns it so nested attributes can be closed by nest_end. */
static struct rtattr *attr(msg_t *m, int type, const void *data, size_t len) {
  size_t at = NLMSG_ALIGN(m->hdr->nlmsg_len);
  if (at + RTA_SPACE(len) > sizeof(m->buf)) return NULL;
  struct rtattr *rta = (struct rtattr *)(m->buf + at);
  rta->rta_type = type;
  rta->rta_len = RTA_LENGTH(len);
  if (len) {
    if (data) memcpy(RTA_DATA(rta), data, len);
    else memset(RTA_DATA(rta), 0, len);
  }
  m->hdr->nlmsg_len = at + RTA_ALIGN(rta->rta_len);
  return rta;
}

static void nest_end(msg_t *m, struct rtattr *nest) {
  nest->rta_len = (unsigned short)(m->buf + m->hdr->nlmsg_len - (char *)nest);
}

static int nl_open(void) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return -errno;
  struct sockaddr_nl local = {.nl_family = AF_NETLINK};
  if (bind(fd, (struct sockaddr *)&local, sizeof(local)) < 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  return fd;
}

/* Sends one request and waits for its acknowledgement: 0, or the kernel's negative errno. */
static int nl_talk(int fd, msg_t *m) {
  static __thread unsigned seq;
  m->hdr->nlmsg_seq = ++seq;
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  ssize_t sent;
  do {
    sent = sendto(fd, m->buf, m->hdr->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel));
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) return -errno;
  char reply[4096];
  for (;;) {
    ssize_t got = recv(fd, reply, sizeof(reply), 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    for (struct nlmsghdr *h = (struct nlmsghdr *)reply; NLMSG_OK(h, (size_t)got); h = NLMSG_NEXT(h, got)) {
      if (h->nlmsg_seq != m->hdr->nlmsg_seq) continue;
      if (h->nlmsg_type == NLMSG_ERROR) return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
    }
  }
}

/* Sets IFF_UP (or clears it) on a link named `name`, optionally changing its master. */
static int link_set(int fd, const char *name, int up, int set_master, unsigned master) {
  msg_t m;
  struct ifinfomsg *ifi = msg_init(&m, RTM_NEWLINK, 0, sizeof(*ifi));
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_change = IFF_UP;
  ifi->ifi_flags = up ? IFF_UP : 0;
  if (!attr(&m, IFLA_IFNAME, name, strlen(name) + 1)) return -ENOBUFS;
  /* The master first, then up: a port comes up already in the bridge (ip(8)'s order too). */
  if (set_master && !attr(&m, IFLA_MASTER, &master, sizeof(master))) return -ENOBUFS;
  return nl_talk(fd, &m);
}

/* ---- operations (each on its own thread when it changes namespace) ---- */

typedef struct {
  /* in */
  char *netns;
  char *inside;
  char *host_name;
  char *bridge;
  unsigned char mac[6];
  int has_mac;
  struct in_addr address;
  int prefix_length;
  struct in_addr gateway;
  int has_gateway;
  unsigned mtu;
  int loopback;
  /* out */
  int err;            /* positive errno, 0 on success */
  const char *step;   /* what failed */
  int absent;         /* detachLink: the link did not exist */
} op_args_t;

#define FAIL(a, e, what) \
  do {                   \
    (a)->err = (e);      \
    (a)->step = (what);  \
    goto out;            \
  } while (0)

static void *create_netns_thread(void *p) {
  op_args_t *a = p;
  char self[64];
  /* The bind mount's target: made here, on this thread, rather than by two more round trips
   * through node's thread pool. */
  int fd = open(a->netns, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    a->err = errno;
    a->step = "creating the namespace file";
    return NULL;
  }
  close(fd);
  if (unshare(CLONE_NEWNET) < 0) {
    a->err = errno;
    a->step = "unshare(CLONE_NEWNET)";
    return NULL;
  }
  snprintf(self, sizeof(self), "/proc/self/task/%ld/ns/net", (long)syscall(SYS_gettid));
  if (mount(self, a->netns, NULL, MS_BIND, NULL) < 0) {
    a->err = errno;
    a->step = "bind-mounting the namespace";
  }
  return NULL;
}

static void *add_veth_thread(void *p) {
  op_args_t *a = p;
  int host_ns = -1, target_ns = -1, host_sock = -1, inner_sock = -1, rc;
  unsigned bridge_index = 0, inside_index;
  msg_t m;

  /* Everything of the host's is taken before entering the container's namespace. */
  host_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (host_ns < 0) FAIL(a, errno, "opening this namespace");
  bridge_index = if_nametoindex(a->bridge);
  if (bridge_index == 0) FAIL(a, errno, "finding the bridge");
  host_sock = nl_open();
  if (host_sock < 0) FAIL(a, -host_sock, "opening netlink");
  target_ns = open(a->netns, O_RDONLY | O_CLOEXEC);
  if (target_ns < 0) FAIL(a, errno, "opening the container's namespace");
  if (setns(target_ns, CLONE_NEWNET) < 0) FAIL(a, errno, "entering the container's namespace");
  inner_sock = nl_open();
  if (inner_sock < 0) FAIL(a, -inner_sock, "opening netlink in the container's namespace");

  if (a->loopback && (rc = link_set(inner_sock, "lo", 1, 0, 0)) < 0) FAIL(a, -rc, "bringing up lo");

  /* The pair is made inside; its peer is created straight in the host's namespace. */
  struct ifinfomsg *ifi = msg_init(&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, sizeof(*ifi));
  ifi->ifi_family = AF_UNSPEC;
  attr(&m, IFLA_IFNAME, a->inside, strlen(a->inside) + 1);
  if (a->has_mac) attr(&m, IFLA_ADDRESS, a->mac, sizeof(a->mac));
  if (a->mtu) attr(&m, IFLA_MTU, &a->mtu, sizeof(a->mtu));
  struct rtattr *linkinfo = attr(&m, IFLA_LINKINFO, NULL, 0);
  attr(&m, IFLA_INFO_KIND, "veth", 5);
  struct rtattr *data = attr(&m, IFLA_INFO_DATA, NULL, 0);
  struct rtattr *peer = attr(&m, VETH_INFO_PEER, NULL, sizeof(struct ifinfomsg));
  if (!peer) FAIL(a, ENOBUFS, "building the veth request");
  attr(&m, IFLA_IFNAME, a->host_name, strlen(a->host_name) + 1);
  attr(&m, IFLA_NET_NS_FD, &host_ns, sizeof(host_ns));
  if (a->mtu && !attr(&m, IFLA_MTU, &a->mtu, sizeof(a->mtu))) FAIL(a, ENOBUFS, "building the veth request");
  nest_end(&m, peer);
  nest_end(&m, data);
  nest_end(&m, linkinfo);
  if ((rc = nl_talk(inner_sock, &m)) < 0) FAIL(a, -rc, "creating the veth pair");

  inside_index = if_nametoindex(a->inside);
  if (inside_index == 0) FAIL(a, errno, "finding the new interface");
  struct ifaddrmsg *ifa = msg_init(&m, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, sizeof(*ifa));
  ifa->ifa_family = AF_INET;
  ifa->ifa_prefixlen = (unsigned char)a->prefix_length;
  ifa->ifa_index = inside_index;
  attr(&m, IFA_LOCAL, &a->address, sizeof(a->address));
  attr(&m, IFA_ADDRESS, &a->address, sizeof(a->address));
  if ((rc = nl_talk(inner_sock, &m)) < 0) FAIL(a, -rc, "adding the address");
  if ((rc = link_set(inner_sock, a->inside, 1, 0, 0)) < 0) FAIL(a, -rc, "bringing up the interface");

  if (a->has_gateway) {
    struct rtmsg *rt = msg_init(&m, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, sizeof(*rt));
    rt->rtm_family = AF_INET;
    rt->rtm_table = RT_TABLE_MAIN;
    rt->rtm_protocol = RTPROT_BOOT;
    rt->rtm_scope = RT_SCOPE_UNIVERSE;
    rt->rtm_type = RTN_UNICAST;
    attr(&m, RTA_GATEWAY, &a->gateway, sizeof(a->gateway));
    attr(&m, RTA_OIF, &inside_index, sizeof(inside_index));
    if ((rc = nl_talk(inner_sock, &m)) < 0) FAIL(a, -rc, "adding the default route");
  }

  if ((rc = link_set(host_sock, a->host_name, 1, 1, bridge_index)) < 0) FAIL(a, -rc, "plugging the host end into the bridge");

out:
  if (inner_sock >= 0) close(inner_sock);
  if (host_sock >= 0) close(host_sock);
  if (target_ns >= 0) close(target_ns);
  if (host_ns >= 0) close(host_ns);
  return NULL;
}

static void detach_link(op_args_t *a) {
  int fd = nl_open();
  if (fd < 0) {
    a->err = -fd;
    a->step = "opening netlink";
    return;
  }
  int rc = link_set(fd, a->host_name, 0, 1, 0);
  close(fd);
  if (rc == -ENODEV) a->absent = 1;
  else if (rc < 0) {
    a->err = -rc;
    a->step = "detaching the link";
  }
}

/* ---- N-API plumbing ---- */

typedef enum { OP_CREATE_NETNS, OP_ADD_VETH, OP_DETACH } op_kind_t;

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  op_kind_t kind;
  op_args_t args;
} op_t;

static void free_op(op_t *op) {
  free(op->args.netns);
  free(op->args.inside);
  free(op->args.host_name);
  free(op->args.bridge);
  free(op);
}

static void run_on_own_thread(op_args_t *a, void *(*fn)(void *)) {
  pthread_t thread;
  int rc = pthread_create(&thread, NULL, fn, a);
  if (rc != 0) {
    a->err = rc;
    a->step = "starting a thread";
    return;
  }
  pthread_join(thread, NULL);
}

static void execute(napi_env env, void *data) {
  (void)env;
  op_t *op = data;
  switch (op->kind) {
    case OP_CREATE_NETNS: run_on_own_thread(&op->args, create_netns_thread); break;
    case OP_ADD_VETH: run_on_own_thread(&op->args, add_veth_thread); break;
    case OP_DETACH: detach_link(&op->args); break;
  }
}

static void complete(napi_env env, napi_status status, void *data) {
  op_t *op = data;
  op_args_t *a = &op->args;
  if (status == napi_ok && a->err == 0) {
    napi_value result;
    if (op->kind == OP_DETACH) napi_get_boolean(env, !a->absent, &result);
    else napi_get_undefined(env, &result);
    napi_resolve_deferred(env, op->deferred, result);
  } else {
    int err = a->err ? a->err : EIO;
    char text[256];
    snprintf(text, sizeof(text), "%s: %s", a->step ? a->step : "netlink", strerror(err));
    const char *name = strerrorname_np(err);
    napi_value message, code, errno_value, error;
    napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &message);
    napi_create_string_utf8(env, name ? name : "EIO", NAPI_AUTO_LENGTH, &code);
    napi_create_int32(env, err, &errno_value);
    napi_create_error(env, code, message, &error);
    napi_set_named_property(env, error, "errno", errno_value);
    napi_reject_deferred(env, op->deferred, error);
  }
  napi_delete_async_work(env, op->work);
  free_op(op);
}

static int get_string(napi_env env, napi_value v, char **out) {
  napi_valuetype type;
  *out = NULL;
  if (napi_typeof(env, v, &type) != napi_ok || type != napi_string) return -1;
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return -1;
  *out = malloc(len + 1);
  if (*out == NULL) return -1;
  return napi_get_value_string_utf8(env, v, *out, len + 1, &len) == napi_ok ? 0 : -1;
}

/* A named property of `obj`: 1 if present and not undefined, 0 if absent, -1 on error. */
static int get_prop(napi_env env, napi_value obj, const char *key, napi_value *out) {
  bool has = false;
  if (napi_has_named_property(env, obj, key, &has) != napi_ok) return -1;
  if (!has) return 0;
  if (napi_get_named_property(env, obj, key, out) != napi_ok) return -1;
  napi_valuetype type;
  napi_typeof(env, *out, &type);
  return type == napi_undefined || type == napi_null ? 0 : 1;
}

static napi_value start(napi_env env, op_t *op) {
  napi_value promise, name;
  napi_create_promise(env, &op->deferred, &promise);
  napi_create_string_utf8(env, "berth-netlink", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, execute, complete, op, &op->work);
  napi_queue_async_work(env, op->work);
  return promise;
}

static napi_value fail(napi_env env, op_t *op, const char *message) {
  if (op) free_op(op);
  napi_throw_type_error(env, NULL, message);
  return NULL;
}

/* An operation whose one argument is a string (the namespace path for createNetns, the link
 * name for detachLink); NULL, with a TypeError pending, when it is missing or not a string. */
static op_t *string_op(napi_env env, napi_callback_info info, op_kind_t kind, const char *usage) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  op_t *op = calloc(1, sizeof(*op));
  if (!op) {
    fail(env, NULL, "out of memory");
    return NULL;
  }
  op->kind = kind;
  char **slot = kind == OP_CREATE_NETNS ? &op->args.netns : &op->args.host_name;
  if (argc < 1 || get_string(env, argv[0], slot) != 0) {
    fail(env, op, usage);
    return NULL;
  }
  return op;
}

static napi_value js_create_netns(napi_env env, napi_callback_info info) {
  op_t *op = string_op(env, info, OP_CREATE_NETNS, "createNetns(path): path must be a string");
  return op ? start(env, op) : NULL;
}

static int parse_mac(const char *text, unsigned char mac[6]) {
  unsigned v[6];
  char extra;
  if (sscanf(text, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &extra) != 6) return -1;
  for (int i = 0; i < 6; i++) mac[i] = (unsigned char)v[i];
  return 0;
}

static napi_value js_add_veth(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], v;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  op_t *op = calloc(1, sizeof(*op));
  if (!op) return fail(env, NULL, "out of memory");
  op->kind = OP_ADD_VETH;
  op_args_t *a = &op->args;
  if (argc < 2 || get_string(env, argv[0], &a->netns) != 0) return fail(env, op, "addVeth(netns, spec): netns must be a string");
  napi_value spec = argv[1];
  char *text = NULL;
  if (get_prop(env, spec, "inside", &v) != 1 || get_string(env, v, &a->inside) != 0) return fail(env, op, "addVeth: spec.inside must be a string");
  if (get_prop(env, spec, "hostName", &v) != 1 || get_string(env, v, &a->host_name) != 0) return fail(env, op, "addVeth: spec.hostName must be a string");
  if (get_prop(env, spec, "bridge", &v) != 1 || get_string(env, v, &a->bridge) != 0) return fail(env, op, "addVeth: spec.bridge must be a string");
  if (strlen(a->inside) >= IFNAMSIZ || strlen(a->host_name) >= IFNAMSIZ || strlen(a->bridge) >= IFNAMSIZ) return fail(env, op, "addVeth: interface names are at most 15 bytes");
  if (get_prop(env, spec, "mac", &v) == 1) {
    if (get_string(env, v, &text) != 0 || parse_mac(text, a->mac) != 0) {
      free(text);
      return fail(env, op, "addVeth: spec.mac must look like 02:42:ac:11:00:02");
    }
    a->has_mac = 1;
    free(text);
    text = NULL;
  }
  if (get_prop(env, spec, "address", &v) != 1 || get_string(env, v, &text) != 0 || inet_pton(AF_INET, text, &a->address) != 1) {
    free(text);
    return fail(env, op, "addVeth: spec.address must be an IPv4 address");
  }
  free(text);
  text = NULL;
  int32_t prefix = -1;
  if (get_prop(env, spec, "prefixLength", &v) != 1 || napi_get_value_int32(env, v, &prefix) != napi_ok || prefix < 0 || prefix > 32) {
    return fail(env, op, "addVeth: spec.prefixLength must be 0-32");
  }
  a->prefix_length = prefix;
  if (get_prop(env, spec, "gateway", &v) == 1) {
    if (get_string(env, v, &text) != 0 || inet_pton(AF_INET, text, &a->gateway) != 1) {
      free(text);
      return fail(env, op, "addVeth: spec.gateway must be an IPv4 address");
    }
    a->has_gateway = 1;
    free(text);
    text = NULL;
  }
  if (get_prop(env, spec, "mtu", &v) == 1) {
    uint32_t mtu = 0;
    if (napi_get_value_uint32(env, v, &mtu) != napi_ok || mtu < 68) return fail(env, op, "addVeth: spec.mtu must be a number >= 68");
    a->mtu = mtu;
  }
  if (get_prop(env, spec, "loopback", &v) == 1) {
    bool b = false;
    napi_get_value_bool(env, v, &b);
    a->loopback = b;
  }
  return start(env, op);
}

static napi_value js_detach_link(napi_env env, napi_callback_info info) {
  op_t *op = string_op(env, info, OP_DETACH, "detachLink(name): name must be an interface name");
  if (!op) return NULL;
  if (strlen(op->args.host_name) >= IFNAMSIZ) return fail(env, op, "detachLink(name): name must be an interface name");
  return start(env, op);
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "createNetns", NAPI_AUTO_LENGTH, js_create_netns, NULL, &fn);
  napi_set_named_property(env, exports, "createNetns", fn);
  napi_create_function(env, "addVeth", NAPI_AUTO_LENGTH, js_add_veth, NULL, &fn);
  napi_set_named_property(env, exports, "addVeth", fn);
  napi_create_function(env, "detachLink", NAPI_AUTO_LENGTH, js_detach_link, NULL, &fn);
  napi_set_named_property(env, exports, "detachLink", fn);
  return exports;
}

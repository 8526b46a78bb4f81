#!/usr/bin/env bash
# Sets Berth up on a Debian 12 machine (as root) and runs a first container.
# Safe to run again: every step checks whether it is already done.
#
#   scripts/setup.sh              packages, npm deps, build, busybox image, berthd, hello container
#   scripts/setup.sh --deps-only  packages and npm deps only (what .ci/run needs before npm test)
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$(pwd)
deps_only=false
[ "${1:-}" = "--deps-only" ] && deps_only=true

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'setup: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root: berthd mounts overlayfs, runs runc and writes cgroups"
command -v node >/dev/null || die "Node.js 20 or newer is required (https://nodejs.org/en/download)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "Node.js $(node --version) is too old: Berth needs 20 or newer"

# runc runs containers; berth-monitor (native/berth-monitor.c, built statically: gcc and
# libc6-dev's libc.a) holds each one's stdio and exit code, conmon is its configurable fallback;
# busybox-static is the test image, iptables is for port mapping, attr (getfattr/setfattr) for
# overlay whiteouts, gcc and libc6-dev also build the native addons (native/seqpacket.c, ...);
# skopeo and docker-registry (the reference registry) are clients and peers in the registry tests,
# docker-compose (1.29) the compatibility client of the compose tests; etcd-server is the
# discovery store of the cluster (`berth swarm etcd`, and the 3-member etcd of the tests); tini
# (its /usr/bin/tini-static) is the docker-init of `run --init` and compose's `init: true`;
# openssl makes the machine store's certificates, openssh-server's sshd is the remote host of
# the ssh machine driver's test (run by the test inside its own network namespace).
packages=(runc conmon tini busybox-static iptables attr gcc libc6-dev skopeo docker-registry docker-compose etcd-server openssl openssh-server)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # docker-registry, etcd-server and openssh-server would start system services (ports 5000,
  # 2379, 22) on install; Berth only runs them itself, in tests. Debian's policy-rc.d (exit 101:
  # action forbidden) keeps the install from starting anything, and is removed afterwards.
  policy=/usr/sbin/policy-rc.d
  own_policy=false
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && own_policy=true
  fi
  apt-get install -y -q --no-install-recommends "${missing[@]}" || { $own_policy && rm -f "$policy"; exit 1; }
  if $own_policy; then rm -f "$policy"; fi
fi

# npm's hidden lockfile in node_modules is rewritten by every install, so a package-lock.json
# newer than it means the dependencies changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies"
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
fi
$deps_only && exit 0

say "building"
npm run --silent build

rootfs="$repo/dist/busybox-rootfs.tar"
say "making the busybox rootfs ($rootfs)"
scripts/make-busybox-rootfs.sh "$rootfs"

socket=/run/berth/berth.sock
log=/var/log/berthd.log
# GET on the daemon's socket; succeeds on HTTP 200. Asks the API itself, not the CLI, so a
# half-built CLI cannot make setup think the daemon or the image is missing.
api_ok() {
  node -e '
    const req = require("node:http").get({ socketPath: process.argv[1], path: process.argv[2], timeout: 2000 },
      (res) => { res.resume(); process.exit(res.statusCode === 200 ? 0 : 1); });
    req.on("error", () => process.exit(1));
    req.on("timeout", () => process.exit(1));' "$socket" "$1"
}
ping() { api_ok /_ping; }
if ping; then
  say "berthd is already running on $socket"
else
  say "starting berthd (log: $log)"
  # setsid: the daemon must outlive this script and the terminal that ran it.
  setsid "$repo/bin/berthd" >>"$log" 2>&1 </dev/null &
  for _ in $(seq 1 100); do
    ping && break
    kill -0 $! 2>/dev/null || die "berthd exited at start; see $log: $(tail -n 20 "$log")"
    sleep 0.2
  done
  ping || die "berthd did not answer on $socket within 20 s; see $log"
fi

export BERTH_HOST="unix://$socket"
if ! api_ok /images/busybox:latest/json; then
  say "importing busybox:latest"
  bin/berth import "$rootfs" busybox:latest >/dev/null
fi

say "running a container"
bin/berth run --rm busybox echo "hello from a berth container"

#!/usr/bin/env bash
# Builds a minimal busybox root filesystem as a tar, for `berth import` / `docker import`.
# No registry is reachable from the machines Berth is developed and tested on, so every test
# image starts from Debian's busybox-static binary.
#
# Usage: scripts/make-busybox-rootfs.sh OUTPUT.tar [BUSYBOX_BINARY]
#
# The tar is reproducible (same busybox binary -> same bytes), so an image imported from it
# gets the same layer digest on every machine and every run: sorted entries, a fixed mtime,
# numeric 0:0 ownership, explicit modes and GNU format (no pax atime/ctime headers).
set -euo pipefail

out=${1:?usage: $0 OUTPUT.tar [BUSYBOX_BINARY]}
bb=${2:-}
if [ -z "$bb" ]; then
  for candidate in /bin/busybox /usr/bin/busybox; do
    # Only a static binary works inside an empty rootfs: there is no libc in the image.
    if [ -x "$candidate" ] && ! ldd "$candidate" >/dev/null 2>&1; then bb=$candidate; break; fi
  done
fi
if [ -z "$bb" ] || [ ! -x "$bb" ]; then
  echo "make-busybox-rootfs: no static busybox found; install it with: apt-get install -y busybox-static" >&2
  exit 1
fi

stage=$(mktemp -d "${TMPDIR:-/tmp}/berth-rootfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT
# Nothing from the host's umask or file modes should decide the image's modes.
umask 022

root="$stage/rootfs"
mkdir -p "$root"/{bin,etc,proc,sys,dev,root,home,tmp,var/spool/mail,usr/bin,usr/sbin,sbin}
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"
# Copy the bytes only: cp -p would carry the host file's owner/mtime/xattrs into the stage.
cat "$bb" > "$root/bin/busybox"
chmod 0755 "$root/bin/busybox"

# One link per applet, all in /bin like the busybox image on Docker Hub; the default PATH
# docker gives a container without ENV PATH includes /bin.
"$bb" --list | while IFS= read -r applet; do
  case "$applet" in ''|busybox|*/*) continue ;; esac
  ln -s busybox "$root/bin/$applet"
done

cat > "$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/home:/bin/false
PASSWD
cat > "$root/etc/group" <<'GROUP'
root:x:0:
nogroup:x:65534:
GROUP
chmod 0644 "$root/etc/passwd" "$root/etc/group"

mkdir -p "$(dirname "$out")"
tmp_out="$out.tmp.$$"
# The `.` entry is left out: images imported by docker have no entry for the root itself.
(cd "$root" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort) > "$stage/list"
tar --create --file "$tmp_out" --directory "$root" \
  --format=gnu --no-recursion --verbatim-files-from --files-from "$stage/list" \
  --owner=0 --group=0 --numeric-owner --mtime='@0' --no-acls --no-xattrs --no-selinux
mv -f "$tmp_out" "$out"

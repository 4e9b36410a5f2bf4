#!/usr/bin/env bash
# Acceptance test of the Debian package (docs/adr/0031): builds it with
# scripts/package-deb.sh, makes a fresh Debian 12 root (debootstrap
# bookworm, minbase), installs the package there with apt-get (which
# resolves its Depends), then checks that banger runs (--version, doctor, a
# daemon auto-started on /var/lib/banger), that the completions, man pages,
# unit and agent are where they belong and the group and VMM user exist, that
# `dpkg -r` removes the binaries and the unit but keeps /var/lib/banger and
# that `dpkg -P` then removes it.
# Everything runs in private mount and PID namespaces (unshare -m -p): /proc
# and the apt cache mounted into the root vanish with them, and nothing in the
# root sees or signals the host's processes (the purge stops VMMs: without
# its own PID namespace it would stop every test's VMs running beside this
# one). The root is deleted on every exit path, after any process left
# running in it is killed.
# Usage: package_deb_test.sh SOURCE_DIR BUILD_DIR
# Env: BANGER_DEBIAN_MIRROR (default http://deb.debian.org/debian),
#      BANGER_APT_CACHE (default /var/cache/apt/archives: the .debs
#      debootstrap and apt-get fetch are kept there and reused).
set -euo pipefail

skip() {
  # ctest's SKIP_REGULAR_EXPRESSION is ": Skipped"; the reason follows on
  # the next line, as in gtest's output (scripts/test.sh lists it).
  echo "$0: Skipped"
  echo "$1"
  exit 0
}
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
now() { date +%s%N; }
took() {
  local ms=$((($(now) - $1) / 1000000))
  printf '%d.%d s' $((ms / 1000)) $((ms % 1000 / 100))
}
# dpkg-query's format, not the shell's.
status_of() { in_root dpkg-query -W -f="\${Status}" banger; }

if [ "${1:-}" = --inner ]; then
  # In the private mount namespace: $2 the root, $3 the .deb, $4 the apt cache.
  root=$2 deb=$3 cache=$4
  in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }
  mount -t proc proc "$root/proc"
  mount --bind "$cache" "$root/var/cache/apt/archives"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  # Nothing started by maintainer scripts in the root (no init there anyway).
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod 0755 "$root/usr/sbin/policy-rc.d"
  cp "$deb" "$root/tmp/"
  debname=$(basename "$deb")

  t=$(now)
  in_root apt-get update -qq
  in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "/tmp/$debname" >"$root/tmp/apt.log" 2>&1 || { tail -n 30 "$root/tmp/apt.log"; fail "apt-get install ./$debname"; }
  echo "package: apt-get install of the package and its dependencies: $(took "$t")"
  [ "$(status_of)" = "install ok installed" ] || fail "banger is not installed"

  # The CLI runs from the package.
  v=$(in_root banger --version) || fail "banger --version failed"
  # The shim runs from the package's PATH as containerd would find it (and needs no
  # library the package does not depend on).
  in_root containerd-shim-banger-v2 -v | grep -q '^containerd-shim-banger-v2' || fail "containerd-shim-banger-v2 -v failed"
  echo "package: banger --version: $v"
  [[ "$v" == *"$(in_root dpkg-query -W -f="\${Version}" banger)"* ]] || fail "banger --version ($v) is not the package's version"
  in_root bangerd --version >/dev/null || fail "bangerd --version failed"
  doctor_rc=0
  in_root banger doctor >"$root/tmp/doctor.out" 2>&1 || doctor_rc=$?
  cat "$root/tmp/doctor.out"
  [ "$doctor_rc" -le 1 ] || fail "banger doctor exited $doctor_rc"
  checks=$(grep -cE '^(ok|warn|FAIL) +[a-z0-9_-]+: ' "$root/tmp/doctor.out" || true)
  [ "$checks" -ge 3 ] || fail "banger doctor printed $checks checks"

  # The layout.
  for f in /usr/bin/banger /usr/bin/bangerd /usr/lib/banger/banger-agent /usr/bin/containerd-shim-banger-v2 \
    /lib/systemd/system/bangerd.service /lib/systemd/system/bangerd.socket \
    /usr/share/bash-completion/completions/banger /usr/share/zsh/vendor-completions/_banger \
    /usr/share/fish/vendor_completions.d/banger.fish /usr/share/man/man1/banger.1.gz \
    /usr/share/man/man8/bangerd.8.gz /usr/share/doc/banger/copyright /etc/banger/bangerd.toml; do
    [ -s "$root$f" ] || fail "$f is missing or empty"
  done
  ls "$root"/usr/share/man/man1/banger-*.1.gz >/dev/null 2>&1 || fail "no banger-*.1 man pages"
  if readelf -l "$root/usr/lib/banger/banger-agent" | grep -q INTERP; then
    fail "the packaged agent is not static (it goes into guests as it is)"
  fi
  in_root getent group banger >/dev/null || fail "no banger group"
  in_root getent passwd banger-vmm >/dev/null || fail "no banger-vmm user"

  # The daemon runs from the package: root's CLI auto-starts it on the
  # system home with the package's config (socket_group "banger").
  in_root banger vm list >/dev/null || { cat "$root/var/lib/banger/bangerd.out" 2>/dev/null; fail "banger vm list (daemon auto-start) failed"; }
  [ -S "$root/var/lib/banger/bangerd.sock" ] || fail "no daemon socket in /var/lib/banger"
  # The root's group names, not the host's.
  sock_perm=$(in_root stat -c '%G %a' /var/lib/banger/bangerd.sock)
  [ "$sock_perm" = "banger 660" ] ||
    fail "socket is $sock_perm, not group banger 0660 (config /etc/banger/bangerd.toml)"
  [ -f "$root/var/lib/banger/banger.db" ] || fail "no store in /var/lib/banger"
  # `banger version` shows the client and the running daemon (as docker, it
  # exits 1 when no daemon answers, so it is checked with the daemon up).
  in_root banger version >"$root/tmp/version.out" 2>&1 || { cat "$root/tmp/version.out"; fail "banger version failed"; }
  grep -q '^Server' "$root/tmp/version.out" || { cat "$root/tmp/version.out"; fail "banger version shows no daemon"; }

  # Remove: binaries and unit go (the prerm stops the daemon), data stays.
  in_root dpkg -r banger >"$root/tmp/remove.log" 2>&1 || { cat "$root/tmp/remove.log"; fail "dpkg -r banger"; }
  for f in /usr/bin/banger /usr/bin/bangerd /usr/lib/banger/banger-agent /lib/systemd/system/bangerd.service \
    /lib/systemd/system/bangerd.socket /usr/share/bash-completion/completions/banger \
    /usr/bin/containerd-shim-banger-v2; do
    [ ! -e "$root$f" ] || fail "dpkg -r left $f"
  done
  [ -f "$root/var/lib/banger/banger.db" ] || fail "dpkg -r deleted the VM data in /var/lib/banger"
  [ ! -S "$root/var/lib/banger/bangerd.sock" ] || fail "dpkg -r left the daemon running"
  [ -f "$root/etc/banger/bangerd.toml" ] || fail "dpkg -r removed the conffile (only purge does)"
  [ "$(status_of)" = "deinstall ok config-files" ] || fail "not in config-files state after dpkg -r"

  # Purge: the data goes too, and this home's VMMs with it, never another
  # home's (they run as the same VMM user). Two stand-ins, as the VMM user,
  # whose argv names a VM directory as a VMM's does.
  vmm() { chroot "$root" setpriv --reuid=banger-vmm --regid=banger-vmm --clear-groups sh -c 'sleep 300; :' "$1" & }
  vmm /var/lib/banger/vms/0123456789abcdef/api.sock
  mine=$!
  vmm /srv/other-home/vms/0123456789abcdef/api.sock
  other=$!
  # Running (not exited, not a zombie: this script, PID 1 here, reaps none).
  running() {
    local st
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)
    [ -n "$st" ] && [ "$st" != Z ]
  }
  for _ in $(seq 50); do
    if grep -qF /var/lib/banger/vms/ "/proc/$mine/cmdline" 2>/dev/null &&
      grep -qF /srv/other-home/vms/ "/proc/$other/cmdline" 2>/dev/null; then break; fi
    sleep 0.1
  done
  in_root dpkg -P banger >"$root/tmp/purge.log" 2>&1 || { cat "$root/tmp/purge.log"; fail "dpkg -P banger"; }
  ! running "$mine" || fail "dpkg -P left the home's VMM (a process naming /var/lib/banger/vms/) running"
  running "$other" || fail "dpkg -P stopped another home's VMM"
  kill -KILL "$other" 2>/dev/null || true
  [ ! -e "$root/var/lib/banger" ] || fail "dpkg -P left /var/lib/banger"
  [ ! -e "$root/etc/banger" ] || fail "dpkg -P left /etc/banger"
  echo "package: dpkg -r kept /var/lib/banger, dpkg -P removed it"
  exit 0
fi

src=$(realpath "$1")
build=$(realpath "$2")
[ "$(id -u)" -eq 0 ] || skip "needs root (debootstrap, chroot, unshare -m)"
command -v debootstrap >/dev/null 2>&1 || skip "debootstrap is not installed (apt-get install debootstrap)"
command -v unshare >/dev/null 2>&1 || skip "unshare (util-linux) is not installed"
mirror=${BANGER_DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${BANGER_APT_CACHE:-/var/cache/apt/archives}
mkdir -p "$cache/partial"

start=$(now)
t=$(now)
"$src/scripts/package-deb.sh" "$build"
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
deb=$build/banger_${version}_$(dpkg --print-architecture).deb
[ -f "$deb" ] || fail "scripts/package-deb.sh made no $deb"
echo "package: built $(basename "$deb") in $(took "$t")"

work=$(mktemp -d /var/tmp/banger-pkgtest.XXXXXX)
root=$work/root
cleanup() {
  # Whatever still runs in the root (a daemon the test started): killed by
  # its root directory, nothing else.
  if [ -d "$root" ]; then
    local want pid p
    want=$(stat -c '%d:%i' "$root")
    for p in /proc/[0-9]*; do
      pid=${p#/proc/}
      if [ "$(stat -L -c '%d:%i' "$p/root" 2>/dev/null)" = "$want" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
    done
  fi
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT

t=$(now)
if ! debootstrap --variant=minbase --cache-dir="$cache" bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1; then
  tail -n 20 "$work/debootstrap.log"
  fail "debootstrap bookworm from $mirror"
fi
echo "package: debootstrap bookworm minbase: $(took "$t")"
# The security and updates suites too, as on a real Debian 12 host (and as
# the host whose apt cache is reused).
cat >"$root/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SOURCES

unshare -m -p -f --mount-proc --propagation private "$0" --inner "$root" "$deb" "$cache"
echo "package: PASS in $(took "$start")"

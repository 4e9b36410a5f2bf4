#!/usr/bin/env bash
# `systemd-analyze verify` of packaging/systemd/bangerd.{service,socket}
# (docs/adr/0031), offline: systemd need not be PID 1. The units are checked
# in a scratch root holding this build's bangerd at /usr/bin/bangerd (as the
# package installs it) and the host's own units (the targets they name).
# Any diagnostic fails the test: verify exits 0 on unknown keys and bad
# values, which it only reports.
# Usage: systemd_verify_test.sh SOURCE_DIR BANGERD
set -euo pipefail
src=$1 bangerd=$2
# ctest's SKIP_REGULAR_EXPRESSION is ": Skipped"; the reason follows on the
# next line, as in gtest's output (scripts/test.sh lists it).
skip() {
  echo "$0: Skipped"
  echo "$1"
  exit 0
}

if ! command -v systemd-analyze >/dev/null 2>&1; then
  skip "systemd-analyze is not installed (apt-get install systemd)"
fi
units=/lib/systemd/system
[ -d "$units" ] || units=/usr/lib/systemd/system
if [ ! -f "$units/multi-user.target" ]; then
  skip "no systemd unit directory with multi-user.target on this host"
fi

root=$(mktemp -d /tmp/banger-sdverify.XXXXXX)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/bin" "$root/lib/systemd"
cp -a "$units" "$root/lib/systemd/system"
install -m 0755 "$bangerd" "$root/usr/bin/bangerd"
install -m 0644 "$src/packaging/systemd/bangerd.service" "$src/packaging/systemd/bangerd.socket" \
  "$root/lib/systemd/system/"

out=$(systemd-analyze verify --man=no --generators=no --root="$root" \
  /lib/systemd/system/bangerd.service /lib/systemd/system/bangerd.socket 2>&1) && rc=0 || rc=$?
if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
  echo "FAIL: systemd-analyze verify (exit $rc):"
  echo "$out"
  exit 1
fi

# What the unit must say, beyond being well-formed.
svc="$src/packaging/systemd/bangerd.service"
for line in "Type=notify" "KillMode=process" "ExecStart=/usr/bin/bangerd --foreground --home /var/lib/banger"; do
  grep -qx "$line" "$svc" || { echo "FAIL: bangerd.service lacks \"$line\""; exit 1; }
done
grep -qx "ListenStream=/var/lib/banger/bangerd.sock" "$src/packaging/systemd/bangerd.socket" ||
  { echo "FAIL: bangerd.socket does not listen on the service's socket /var/lib/banger/bangerd.sock"; exit 1; }
echo "PASS: bangerd.service and bangerd.socket verify cleanly"

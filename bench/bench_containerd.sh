#!/bin/bash
# A container through containerd-shim-banger-v2 against the same root booted by
# banger itself and against runc (the floor), wall time of each command:
#   shim:   ctr run --rm --runtime SHIM_BIN IMAGE bN /bin/true  (a banger VM per task)
#   banger: banger vm run --rm --image bb -- true                (an image built from the same OCI layout)
#   runc:   ctr run --rm IMAGE rN /bin/true                      (containerd's default runtime)
#
#   BANGER_BIN=build/src/main/banger SHIM_BIN=/path/to/containerd-shim-banger-v2 bench/bench_containerd.sh [N]
#
# Root needed. Makes a busybox OCI image with umoci, builds banger image "bb" from
# it in a private home (QEMU TCG, network off; the build fetches the guest kernel
# through apt, so it runs in the host's network namespace), then re-runs itself
# under `unshare --net --mount` with a private tmpfs over /run (containerd, runc
# and ctr keep sockets, state and FIFOs in /run/containerd) and starts a private
# containerd (its own root, state, socket and config; never the host's) whose
# PATH has SHIM_BIN's directory and whose BANGER_HOME is that home. One warm-up
# run of each (the shim's first task builds its VM root), then N rounds (default
# 5) of the three, alternated; every run must exit 0. Prints p50/p90 in ms and
# the ratios of the medians.
set -euo pipefail

n=${1:-5}
[[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "usage: bench_containerd.sh [N]" >&2; exit 2; }

if [ -z "${BANGER_BENCH_INNER:-}" ]; then
  : "${BANGER_BIN:?set BANGER_BIN to the banger binary}"
  : "${SHIM_BIN:?set SHIM_BIN to the containerd-shim-banger-v2 binary}"
  [ "$(id -u)" -eq 0 ] || { echo "bench_containerd: needs root" >&2; exit 1; }
  for tool in containerd ctr umoci unshare runc containerd-shim-runc-v2 /bin/busybox; do
    command -v "$tool" >/dev/null || { echo "bench_containerd: $tool missing" >&2; exit 1; }
  done
  BANGER_BIN=$(realpath "$BANGER_BIN")
  SHIM_BIN=$(realpath "$SHIM_BIN")
  # Short: containerd's socket and the shims' live under it.
  work=$(mktemp -d /tmp/bgcb-XXXXXX)
  home=$work/h
  # shellcheck disable=SC2317  # run by the EXIT trap
  cleanup() {
    "$BANGER_BIN" --home "$home" daemon stop >/dev/null 2>&1 || true
    rm -rf -- "$work"
  }
  trap cleanup EXIT
  mkdir -p "$home"
  cat >"$home/config.toml" <<EOF
backend = "qemu"
qemu_accel = "tcg"
network = "off"
default_image_name = "bb"
[vm_defaults]
vcpu_count = 1
memory_mib = 256
EOF

  echo "making the busybox image ..." >&2
  layout=$work/img/layout
  bundle=$work/img/bundle
  umoci init --layout "$layout"
  umoci new --image "$layout:bb"
  umoci unpack --image "$layout:bb" "$bundle" >/dev/null
  mkdir -p "$bundle/rootfs/bin" "$bundle/rootfs/etc" "$bundle/rootfs/root" "$bundle/rootfs/tmp"
  cp /bin/busybox "$bundle/rootfs/bin/busybox"
  for a in $(/bin/busybox --list); do
    [ "$a" = busybox ] || ln -s busybox "$bundle/rootfs/bin/$a"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' >"$bundle/rootfs/etc/passwd"
  echo 'root:x:0:' >"$bundle/rootfs/etc/group"
  umoci repack --image "$layout:bb" "$bundle"
  umoci config --image "$layout:bb" --config.cmd /bin/sh
  umoci gc --layout "$layout"
  rm -rf -- "$bundle"
  # ctr image import --base-name B names it B:bb (the layout's ref.name is the tag).
  tar -C "$layout" -cf "$work/bb.tar" .

  echo "building banger image bb from it (fetches the guest kernel) ..." >&2
  "$BANGER_BIN" --home "$home" image build bb --from-oci "$layout" >/dev/null
  "$BANGER_BIN" --home "$home" daemon stop >/dev/null

  BANGER_BENCH_INNER=1 BANGER_BENCH_WORK=$work BANGER_BENCH_OUTER_MNT_NS=$(readlink /proc/self/ns/mnt) \
    BANGER_BIN=$BANGER_BIN SHIM_BIN=$SHIM_BIN \
    unshare --net --mount --propagation=private -- "$0" "$n"
  exit
fi

# Inside the namespaces.
work=$BANGER_BENCH_WORK
home=$work/h
c=$work/c
addr=$c/c.sock
ns=bench
image=localhost/banger-bench:bb
if [ "$(readlink /proc/self/ns/mnt)" = "${BANGER_BENCH_OUTER_MNT_NS:-}" ]; then
  echo "bench_containerd: not in a mount namespace of its own: not mounting over /run" >&2
  exit 1
fi
mount -t tmpfs -o mode=0755,size=64m banger-bench-run /run
ip link set lo up

ctr_() { ctr --address "$addr" --namespace "$ns" "$@"; }

ctrd_pid=
inner_cleanup() {
  set +e
  if [ -n "$ctrd_pid" ]; then
    for id in $(ctr_ task ls -q 2>/dev/null); do ctr_ task delete --force "$id" >/dev/null 2>&1; done
    for id in $(ctr_ container ls -q 2>/dev/null); do ctr_ container delete "$id" >/dev/null 2>&1; done
    kill -TERM "$ctrd_pid" 2>/dev/null
    for _ in $(seq 200); do kill -0 "$ctrd_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$ctrd_pid" 2>/dev/null
    wait "$ctrd_pid" 2>/dev/null
  fi
  # Shims still serving this containerd, then the home's daemon and VMMs.
  pkill -KILL -f -- "-address $addr( |\$)" 2>/dev/null
  "$BANGER_BIN" --home "$home" daemon stop >/dev/null 2>&1
  pkill -KILL -f -- "$home/" 2>/dev/null
  # Whatever is still mounted under the work directory, deepest first.
  awk -v d="$work" '$5 == d || index($5, d "/") == 1 { print length($5), $5 }' /proc/self/mountinfo |
    sort -rn | cut -d' ' -f2- | while read -r m; do umount -l "$m"; done
}
trap inner_cleanup EXIT

# overlayfs where it works on this filesystem (it does on ext4), else native.
snapshotter=native
probe=$work/probe
mkdir -p "$probe/l" "$probe/u" "$probe/w" "$probe/m"
if mount -t overlay overlay -o "lowerdir=$probe/l,upperdir=$probe/u,workdir=$probe/w" "$probe/m" 2>/dev/null; then
  snapshotter=overlayfs
  umount "$probe/m"
fi
rm -rf -- "$probe"

mkdir -p "$c/root" "$c/state"
cat >"$c/config.toml" <<EOF
version = 2
root = "$c/root"
state = "$c/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$addr"
[ttrpc]
  address = "$addr.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
EOF
BANGER_HOME=$home PATH="$(dirname "$SHIM_BIN"):$PATH" containerd --config "$c/config.toml" >"$c/containerd.log" 2>&1 &
ctrd_pid=$!
for _ in $(seq 300); do
  ctr --address "$addr" version >/dev/null 2>&1 && break
  kill -0 "$ctrd_pid" 2>/dev/null || { echo "containerd exited:" >&2; tail -20 "$c/containerd.log" >&2; exit 1; }
  sleep 0.1
done
ctr --address "$addr" version >/dev/null
# ctr takes the namespace's default snapshotter when given none.
ctr --address "$addr" namespaces create "$ns" "containerd.io/defaults/snapshotter=$snapshotter"
ctr_ image import --base-name localhost/banger-bench "$work/bb.tar" >/dev/null
echo "containerd at $addr, snapshotter $snapshotter; $n rounds" >&2

out=$work/times
mkdir -p "$out"
# run NAME CMD...: times one run (EPOCHREALTIME, bash 5) into $out/NAME; it must exit 0.
run() {
  local name=$1 t0 t1 rc=0
  shift
  t0=${EPOCHREALTIME/./}
  "$@" >/dev/null || rc=$?
  t1=${EPOCHREALTIME/./}
  if [ "$rc" -ne 0 ]; then
    echo "bench_containerd: $name run failed (exit $rc): $*" >&2
    tail -20 "$c/containerd.log" >&2
    exit 1
  fi
  echo $((t1 - t0)) >>"$out/$name"
}

# The shim never starts a daemon: this home's bangerd runs in these namespaces.
"$BANGER_BIN" --home "$home" vm list >/dev/null
echo "warm-up ..." >&2
run warm ctr_ run --rm --runtime "$SHIM_BIN" "$image" b0 /bin/true
run warm "$BANGER_BIN" --home "$home" vm run --rm --image bb -- true
run warm ctr_ run --rm "$image" r0 /bin/true
for i in $(seq "$n"); do
  run shim ctr_ run --rm --runtime "$SHIM_BIN" "$image" "b$i" /bin/true
  run banger "$BANGER_BIN" --home "$home" vm run --rm --image bb -- true
  run runc ctr_ run --rm "$image" "r$i" /bin/true
  echo "round $i/$n done" >&2
done

# Nearest-rank percentile of the sorted microseconds in a file, in ms.
pct() { sort -n "$1" | awk -v p="$2" '{ v[NR] = $1 } END { i = int(p * NR / 100 + 0.999999); if (i < 1) i = 1; printf "%.1f", v[i] / 1000 }'; }
printf '%-8s %10s %10s\n' "" "p50 ms" "p90 ms"
for name in shim banger runc; do
  printf '%-8s %10s %10s\n' "$name" "$(pct "$out/$name" 50)" "$(pct "$out/$name" 90)"
done
s=$(pct "$out/shim" 50)
b=$(pct "$out/banger" 50)
r=$(pct "$out/runc" 50)
awk -v s="$s" -v b="$b" -v r="$r" 'BEGIN {
  printf "shim/banger %.2fx, shim/runc %.1fx, banger/runc %.1fx (p50)\n", s / b, s / r, b / r }'

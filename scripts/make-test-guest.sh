#!/usr/bin/env bash
# make-test-guest.sh OUTDIR
#
# Builds the tiny guest that banger's integration tests boot:
#   OUTDIR/vmlinuz      Debian's cloud kernel (a bzImage; QEMU boots it)
#   OUTDIR/vmlinux      the same kernel as an ELF (what Firecracker needs)
#   OUTDIR/initrd.img   busybox plus an /init that prints a ready line and idles
#   OUTDIR/rootfs.ext4  a 16 MiB ext4 image, used only as an image's rootfs file
#
# Outputs that already exist are kept, so re-running is cheap; delete one to
# rebuild it. Each is written under a temporary name and renamed into place,
# so an interrupted run never leaves a half-written file that would be kept.
#
# Environment:
#   BANGER_EXTRACT_VMLINUX  the banger-extract-vmlinux tool
#                           (default: build/src/image/banger-extract-vmlinux)
#   BANGER_BUSYBOX          a statically linked busybox (default: /bin/busybox,
#                           from Debian's busybox-static)
set -euo pipefail

readonly PROG=make-test-guest
readonly KERNEL_META_PACKAGE=linux-image-cloud-amd64
readonly READY_LINE="banger-test-guest: init ready"

log() { echo "$PROG: $*"; }
die() {
  echo "$PROG: error: $*" >&2
  exit 1
}

[[ $# -eq 1 ]] || die "usage: $0 OUTDIR"

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EXTRACT=${BANGER_EXTRACT_VMLINUX:-$REPO_ROOT/build/src/image/banger-extract-vmlinux}
BUSYBOX=${BANGER_BUSYBOX:-/bin/busybox}

mkdir -p "$1" || die "cannot create $1"
OUT=$(cd "$1" && pwd)
# Scratch space on the same filesystem as the outputs, so renames are atomic.
WORK=$(mktemp -d "$OUT/.work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

need() {
  command -v "$1" >/dev/null || die "$1 not found (install the Debian package $2)"
}

# The versioned package behind the meta package, e.g. linux-image-6.1.0-56-cloud-amd64.
resolve_kernel_package() {
  apt-cache depends "$KERNEL_META_PACKAGE" 2>/dev/null |
    awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }'
}

build_vmlinuz() {
  need apt-cache apt
  need apt-get apt
  need dpkg-deb dpkg
  local pkg
  pkg=$(resolve_kernel_package)
  if [[ -z $pkg ]]; then
    log "apt does not know $KERNEL_META_PACKAGE; running apt-get update"
    apt-get update -qq || die "apt-get update failed"
    pkg=$(resolve_kernel_package)
    [[ -n $pkg ]] || die "cannot resolve $KERNEL_META_PACKAGE to a kernel package (apt-cache depends)"
  fi
  log "downloading $pkg"
  local dl=$WORK/download
  mkdir -p "$dl"
  # apt-get download writes to the current directory. As root, apt would
  # otherwise try to fetch as _apt, which cannot enter our private scratch
  # directory, and warn that it fell back to root.
  local download=(apt-get download -q -o APT::Sandbox::User=root "$pkg")
  if ! (cd "$dl" && "${download[@]}"); then
    log "download failed; running apt-get update and retrying"
    apt-get update -qq || die "apt-get update failed"
    (cd "$dl" && "${download[@]}") || die "apt-get download $pkg failed"
  fi
  local debs=("$dl"/*.deb)
  [[ ${#debs[@]} -eq 1 && -f ${debs[0]} ]] || die "expected one .deb from apt-get download in $dl"
  dpkg-deb -x "${debs[0]}" "$WORK/kernel" || die "dpkg-deb -x ${debs[0]} failed"
  local kernels=("$WORK"/kernel/boot/vmlinuz-*)
  [[ ${#kernels[@]} -eq 1 && -f ${kernels[0]} ]] || die "expected one boot/vmlinuz-* in $pkg"
  cp "${kernels[0]}" "$OUT/vmlinuz.tmp"
  mv "$OUT/vmlinuz.tmp" "$OUT/vmlinuz"
  log "wrote $OUT/vmlinuz ($(basename "${kernels[0]}") from $pkg)"
}

build_vmlinux() {
  [[ -x $EXTRACT ]] || die "banger-extract-vmlinux not found at $EXTRACT" \
    "(build it: cmake --build build --target banger-extract-vmlinux, or set BANGER_EXTRACT_VMLINUX)"
  "$EXTRACT" "$OUT/vmlinuz" "$OUT/vmlinux.tmp" || die "extracting vmlinux from $OUT/vmlinuz failed"
  mv "$OUT/vmlinux.tmp" "$OUT/vmlinux"
  log "wrote $OUT/vmlinux ($(stat -c %s "$OUT/vmlinux") bytes, ELF)"
}

# PID 1 of the test guest. Nothing here may exit: the kernel panics when PID 1
# does, so failures are reported and the script carries on to the idle loop.
write_init() {
  cat >"$1" <<EOF
#!/bin/sh
export PATH=/bin

# The kernel opens /dev/console for us only if the initramfs has the device
# node, and it is built without one: mount devtmpfs first, then attach.
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc || echo "banger-test-guest: mounting /proc failed"
mount -t sysfs sysfs /sys || echo "banger-test-guest: mounting /sys failed"

for arg in \$(cat /proc/cmdline); do
  case "\$arg" in
    banger.hostname=*) hostname "\${arg#banger.hostname=}" ;;
  esac
done
echo "banger-test-guest: hostname \$(hostname)"

# Busybox halt/poweroff/reboot ask init to stop with USR1/USR2/TERM; the
# kernel sends INT for ctrl-alt-del and PWR on power failure.
shut_down() {
  echo "banger-test-guest: signal \$1, powering off"
  sync
  poweroff -f
}
for sig in TERM INT USR1 USR2 PWR; do
  trap "shut_down \$sig" "\$sig"
done

echo "$READY_LINE"
# A backgrounded sleep plus wait, because the shell runs traps only between
# commands and wait is interruptible while a foreground sleep is not. The
# shell starts background jobs on /dev/null; should that be missing, the
# foreground sleep keeps this loop from spinning.
while :; do
  sleep 3600 &
  wait \$! || sleep 1
done
EOF
  chmod 0755 "$1"
}

build_initrd() {
  need cpio cpio
  need gzip gzip
  need readelf binutils
  [[ -x $BUSYBOX ]] || die "busybox not found at $BUSYBOX (install busybox-static or set BANGER_BUSYBOX)"
  # The initramfs has no libc, so a dynamically linked busybox cannot run.
  if readelf -l "$BUSYBOX" | grep -q 'Requesting program interpreter'; then
    die "$BUSYBOX is dynamically linked (install busybox-static or set BANGER_BUSYBOX)"
  fi
  local root=$WORK/initrd
  mkdir -p "$root"/{bin,dev,proc,sys,tmp,etc,root}
  cp "$BUSYBOX" "$root/bin/busybox"
  local applet
  for applet in sh cat echo hostname ls mkdir mount umount sleep sync poweroff reboot halt uname dmesg ps; do
    ln -s busybox "$root/bin/$applet"
  done
  write_init "$root/init"
  # -R 0:0 records root ownership in the archive without needing to be root.
  (cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -n -9 >"$OUT/initrd.img.tmp" ||
    die "building the initramfs cpio failed"
  mv "$OUT/initrd.img.tmp" "$OUT/initrd.img"
  log "wrote $OUT/initrd.img ($(stat -c %s "$OUT/initrd.img") bytes)"
}

build_rootfs() {
  need mkfs.ext4 e2fsprogs
  local root=$WORK/rootfs
  mkdir -p "$root/etc"
  echo banger-test >"$root/etc/hostname"
  echo "rootfs of banger's test guest" >"$root/etc/banger-test-guest"
  rm -f "$OUT/rootfs.ext4.tmp"
  truncate -s 16M "$OUT/rootfs.ext4.tmp"
  mkfs.ext4 -q -F -d "$root" -L banger-root -E root_owner=0:0 "$OUT/rootfs.ext4.tmp" ||
    die "mkfs.ext4 of $OUT/rootfs.ext4 failed"
  mv "$OUT/rootfs.ext4.tmp" "$OUT/rootfs.ext4"
  log "wrote $OUT/rootfs.ext4 (16 MiB ext4, label banger-root)"
}

# Runs build_<name> unless OUT/<file> already exists.
step() {
  local file=$1 fn=$2
  if [[ -s $OUT/$file ]]; then
    log "kept $OUT/$file (exists)"
  else
    "$fn"
  fi
}

step vmlinuz build_vmlinuz
step vmlinux build_vmlinux
step initrd.img build_initrd
step rootfs.ext4 build_rootfs
log "test guest ready in $OUT"

#!/bin/sh
# banger guest init: PID 1 of the initramfs that banger builds
# (src/image/initramfs.h), run by busybox sh.
#
# Contract with the daemon
# ------------------------
# Kernel command line, built by banger:
#   console=ttyS0 reboot=k panic=1 banger.hostname=NAME banger.vm_id=ID
#   banger.agent=serial|vsock
#   [banger.ip=A.B.C.D/NN banger.gw=A.B.C.D banger.dns=A.B.C.D]
#   [banger.cow=dm]
#   [banger.mount=TAG,ro|rw,DIR ...]  one per host folder (src/model/mounts.h):
#             the virtio-9p tag, the mode, and the guest directory with
#             every byte outside [A-Za-z0-9/._-] written as %HH
# Disks, in this order (the default, config cow_mode = "overlay"):
#   /dev/vda  the image's rootfs: ext4, attached read-only (label banger-root)
#   /dev/vdb  the VM's system overlay: ext4 (label banger-overlay); holds the
#             upper/ and work/ directories of the overlayfs root, so the VM's
#             changes to / persist across restarts and stay private to it
#   /dev/vdc  the VM's work disk: ext4 (label banger-work), mounted at /root
# With banger.cow=dm (cow_mode = "dm-snapshot": the copy-on-write is done on
# the host by a device-mapper snapshot of the image rootfs over the VM's COW
# file), there is no overlayfs and two disks:
#   /dev/vda  the VM's private snapshot of the image rootfs: ext4, read-write,
#             mounted directly as the new root
#   /dev/vdb  the VM's work disk: ext4 (label banger-work), mounted at /root
# What this script promises:
#   - the console shows exactly "banger-init: ready" once the root is
#     assembled and the agent started, just before the image's /sbin/init
#     takes over as PID 1 (switch_root);
#   - every failure prints one "banger-init: error: <what>" line, after which
#     the guest idles with no shell (PID 1 must never exit: the kernel would
#     panic, and the console stays readable for the daemon's logs);
#   - the guest agent runs chrooted in the new root as
#     `/usr/local/sbin/banger-agent --serial banger.agent` (QEMU's
#     virtio-serial port) or `... --vsock 1024` (Firecracker's vsock); it is
#     copied there from this initramfs at every boot, so it always matches
#     the daemon that built the image;
#   - an image with Docker (/usr/sbin/dockerd) gets /var/lib/docker
#     bind-mounted from docker/ on /dev/vdb (ext4), where Docker's overlay2
#     driver works (overlay mode only: with banger.cow=dm the root is ext4
#     already and /var/lib/docker stays on it);
#   - each banger.mount is mounted (9p over virtio, version 9p2000.L, ro
#     when asked) at its directory inside the new root, made first if
#     missing, after /run and before the agent starts; the 9p modules come
#     from /lib/banger/modules-9p, which only images whose kernel has 9p
#     carry;
#   - with banger.ip, eth0 is configured here (address, default route via
#     banger.gw, /etc/resolv.conf naming banger.dns); the image's own init
#     does not touch it.
# An OCI image's root (an initramfs with /lib/banger/oci, written for
# InitramfsSpec::oci_root) has no init and may have no shell, no /etc and
# no tools at all, so in that mode:
#   - nothing runs from the image: what the steps above need comes from this
#     initramfs (host folders are mounted by its busybox, copied for the
#     moment to /.banger/busybox in the VM's private root);
#   - /etc, /root, /dev, /proc, /sys, /run and /tmp (mode 1777) are made
#     when missing, and /etc/hostname and /etc/hosts are replaced, not
#     written through, when the image ships them as symlinks; all of it goes
#     to the VM's own overlay (or dm snapshot), never to the image's rootfs;
#   - there is no /sbin/init check and the agent is not started here:
#     "banger-init: ready" is followed by
#     `switch_root /newroot /usr/local/sbin/banger-agent --pid1 <agent args>`,
#     the agent's PID 1 mode (guest/agent/pid1.h), which starts the agent,
#     reaps orphans and powers the guest off on the power button, SIGTERM
#     or Ctrl-Alt-Del.

export PATH=/bin

oci=
[ -e /lib/banger/oci ] && oci=1

fail() {
  echo "banger-init: error: $*"
  while :; do
    sleep 3600
  done
}

# The archive carries a /dev/console node, so failures before this point
# still reach the console.
mount -t devtmpfs devtmpfs /dev || fail "mounting /dev"
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc || fail "mounting /proc"
mount -t sysfs sysfs /sys || fail "mounting /sys"

name= vm_id= agent= ip= gw= dns= cow=overlay mounts=
# Split the command line on blanks without expanding globs in it.
set -f
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    banger.hostname=*) name=${arg#*=} ;;
    banger.vm_id=*) vm_id=${arg#*=} ;;
    banger.agent=*) agent=${arg#*=} ;;
    banger.ip=*) ip=${arg#*=} ;;
    banger.gw=*) gw=${arg#*=} ;;
    banger.dns=*) dns=${arg#*=} ;;
    banger.cow=*) cow=${arg#*=} ;;
    banger.mount=*) mounts="$mounts ${arg#*=}" ;;
  esac
done
set +f
[ -n "$name" ] || fail "no banger.hostname= on the kernel command line"
case "$agent" in
  serial) agent_args="--serial banger.agent" ;;
  vsock) agent_args="--vsock 1024" ;;
  *) fail "banger.agent= must be serial or vsock, not '$agent'" ;;
esac
case "$cow" in
  overlay) disks="vda vdb vdc" disks_named="vda, vdb and vdc" ;;
  dm) disks="vda vdb" disks_named="vda and vdb" ;;
  *) fail "banger.cow= must be dm when given, not '$cow'" ;;
esac
echo "banger-init: vm $vm_id ($name)${oci:+ (OCI image)}"

# Virtio, vsock and overlayfs are modules in Debian's kernel; the image
# builder wrote them here in dependency order.
while read -r ko; do
  insmod "$ko" || fail "loading module $ko"
done </lib/banger/modules

# devtmpfs creates the nodes as virtio_blk probes the disks.
disks_present() {
  for d in $disks; do
    [ -b "/dev/$d" ] || return 1
  done
}
tries=0
until disks_present; do
  tries=$((tries + 1))
  [ "$tries" -le 100 ] || fail "disks $disks_named did not all appear within 10 s (found: $(echo /dev/vd*))"
  sleep 0.1
done

# An OCI image's root may lack what every later step writes to. Each is made
# only when absent, so whatever the image has (a symlink too) stays as is.
oci_dirs() {
  for d in etc root dev proc sys run; do
    [ -e "/newroot/$d" ] || [ -L "/newroot/$d" ] || mkdir "/newroot/$d" || fail "creating /$d"
  done
  if [ ! -e /newroot/tmp ] && [ ! -L /newroot/tmp ]; then
    mkdir /newroot/tmp || fail "creating /tmp"
    chmod 1777 /newroot/tmp || fail "creating /tmp"
  fi
}

if [ "$cow" = dm ]; then
  # The host's dm snapshot already is this VM's private copy of the image.
  mount -t ext4 /dev/vda /newroot || fail "mounting the dm-snapshot root /dev/vda"
  [ -z "$oci" ] || oci_dirs
  mkdir -p /newroot/root || fail "creating /root"
  mount -t ext4 /dev/vdb /newroot/root || fail "mounting the work disk /dev/vdb on /root"
else
  mkdir -p /mnt/lower /mnt/rw
  mount -t ext4 -o ro /dev/vda /mnt/lower || fail "mounting the image rootfs /dev/vda"
  mount -t ext4 /dev/vdb /mnt/rw || fail "mounting the overlay disk /dev/vdb"
  mkdir -p /mnt/rw/upper /mnt/rw/work || fail "creating upper/ and work/ on /dev/vdb"
  mount -t overlay overlay -o lowerdir=/mnt/lower,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work /newroot ||
    fail "mounting the overlay root"
  [ -z "$oci" ] || oci_dirs
  mkdir -p /newroot/root || fail "creating /root"
  mount -t ext4 /dev/vdc /newroot/root || fail "mounting the work disk /dev/vdc on /root"
  # Docker's overlay2 driver cannot stack on an overlayfs root (it would fall
  # back to the slow, space-hungry vfs driver): give its data a plain ext4
  # directory on the overlay disk.
  if [ -e /newroot/usr/sbin/dockerd ]; then
    mkdir -p /mnt/rw/docker /newroot/var/lib/docker || fail "creating Docker's data directory"
    mount -o bind /mnt/rw/docker /newroot/var/lib/docker || fail "mounting /var/lib/docker"
  fi
fi

hostname "$name" || fail "setting the hostname to $name"
if [ -n "$oci" ]; then
  # Written here, outside the new root: a symlink would resolve into this
  # initramfs, so the VM gets files of its own instead.
  [ -L /newroot/etc/hostname ] && rm -f /newroot/etc/hostname
  [ -L /newroot/etc/hosts ] && rm -f /newroot/etc/hosts
fi
echo "$name" >/newroot/etc/hostname || fail "writing /etc/hostname"
{
  grep -v '^127\.0\.1\.1[[:space:]]' /newroot/etc/hosts 2>/dev/null
  printf '127.0.1.1\t%s\n' "$name"
} >/tmp/hosts
cat /tmp/hosts >/newroot/etc/hosts || fail "writing /etc/hosts"

ip link set lo up || fail "bringing up lo"
if [ -n "$ip" ]; then
  tries=0
  while [ ! -e /sys/class/net/eth0 ]; do
    tries=$((tries + 1))
    [ "$tries" -le 50 ] || fail "eth0 did not appear within 5 s"
    sleep 0.1
  done
  ip addr add "$ip" dev eth0 || fail "adding address $ip to eth0"
  ip link set eth0 up || fail "bringing up eth0"
  if [ -n "$gw" ]; then
    ip route add default via "$gw" || fail "adding the default route via $gw"
  fi
  if [ -n "$dns" ]; then
    # Replace rather than write through: the image may ship a symlink.
    rm -f /newroot/etc/resolv.conf
    echo "nameserver $dns" >/newroot/etc/resolv.conf || fail "writing /etc/resolv.conf"
  fi
fi

# Moved, not bind-mounted, so nothing is left mounted in the initramfs that
# switch_root is about to empty.
for fs in dev proc sys; do
  mkdir -p "/newroot/$fs" || fail "creating /$fs in the new root"
  mount -o move "/$fs" "/newroot/$fs" || fail "moving /$fs into the new root"
done

# The agent's tty execs need ptys before the image's init would mount them.
# The one devpts of the guest: the image's init leaves a mounted /dev/pts
# alone (the minimal profile's rcS checks, systemd does); a second instance
# on top would hide this one's ptys by name (`tty`: "not a tty").
mkdir -p /newroot/dev/pts
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /newroot/dev/pts || fail "mounting /dev/pts"

# /run is mounted before the agent starts, so what the agent keeps there
# (the vm id a fork's fixup sets: /run/banger/vm_id) is never hidden by a
# tmpfs the image's init mounts later; a snapshot or fork may be taken before
# that init has run. The image's init leaves a mounted /run alone (the
# minimal profile's rcS checks, systemd does).
mkdir -p /newroot/run || fail "creating /run in the new root"
mount -t tmpfs -o nosuid,nodev,mode=0755 tmpfs /newroot/run || fail "mounting /run"

# Host folders. Made and mounted from inside the new root (chroot), so a
# symlink in the image's tree resolves there, never into this initramfs.
if [ -n "$mounts" ]; then
  [ -e /lib/banger/modules-9p ] ||
    fail "host folders need a kernel with 9p; this image has none (build one with --kernel-flavour generic)"
  while read -r ko; do
    insmod "$ko" || fail "loading module $ko"
  done </lib/banger/modules-9p
  if [ -n "$oci" ]; then
    # The image may have no shell or no mount: this initramfs's busybox,
    # for as long as the mounts take.
    mkdir -p /newroot/.banger || fail "creating /.banger"
    cp /bin/busybox /newroot/.banger/busybox || fail "copying busybox into the new root"
  fi
  set -f
  for m in $mounts; do
    tag=${m%%,*} rest=${m#*,}
    mode=${rest%%,*} enc=${rest#*,}
    case "$mode" in
      ro | rw) ;;
      *) fail "banger.mount= mode must be ro or rw, not '$mode'" ;;
    esac
    dir=$(printf '%b' "${enc//%/\\x}")
    if [ -n "$oci" ]; then
      chroot /newroot /.banger/busybox sh -c \
        '/.banger/busybox mkdir -p "$1" && /.banger/busybox mount -t 9p -o "$2" "$3" "$1"' sh "$dir" \
        "trans=virtio,version=9p2000.L,msize=512000,$mode" "$tag" || fail "mounting host folder $tag at $dir"
    else
      chroot /newroot /bin/sh -c 'mkdir -p "$1" && mount -t 9p -o "$2" "$3" "$1"' sh "$dir" \
        "trans=virtio,version=9p2000.L,msize=512000,$mode" "$tag" || fail "mounting host folder $tag at $dir"
    fi
  done
  set +f
  [ -z "$oci" ] || rm -rf /newroot/.banger || fail "removing /.banger"
fi

mkdir -p /newroot/usr/local/sbin || fail "creating /usr/local/sbin"
cp /bin/banger-agent /newroot/usr/local/sbin/banger-agent || fail "installing banger-agent"
chmod 0755 /newroot/usr/local/sbin/banger-agent || fail "installing banger-agent"
if [ -n "$oci" ]; then
  echo "banger-init: ready"
  # The agent's PID 1 mode starts the agent itself.
  # shellcheck disable=SC2086  # agent_args is two words by design
  exec switch_root /newroot /usr/local/sbin/banger-agent --pid1 $agent_args
fi

# Its own session, so nothing typed on the console can signal it; it keeps
# running through switch_root because the new root is the one it sees.
# shellcheck disable=SC2086  # agent_args is two words by design
setsid chroot /newroot /usr/local/sbin/banger-agent $agent_args </newroot/dev/null &

# exec must not fail: PID 1 exiting panics the kernel.
chroot /newroot /bin/sh -c '[ -x /sbin/init ]' || fail "the image has no executable /sbin/init"
echo "banger-init: ready"
exec switch_root /newroot /sbin/init

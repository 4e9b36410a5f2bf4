#!/usr/bin/env bash
# Installs every Debian 12 package banger needs to build, test and run.
# Creates the unprivileged system user VMMs run as. Idempotent; needs root
# (apt-get, useradd).
set -euo pipefail

BUILD_PKGS=(
  cmake ninja-build g++ pkg-config
  libsqlite3-dev nlohmann-json3-dev libspdlog-dev libcli11-dev libtomlplusplus-dev libboost-dev
  liblz4-dev libzstd-dev liblzma-dev zlib1g-dev libarchive-dev
  # the static guest agent links libarchive.a, which needs these static archives too (docs/adr/0022)
  nettle-dev libbz2-dev
  libgtest-dev libgmock-dev
  # scripts/lint.sh: formatting and static analysis (docs/adr/0015)
  clang-format clang-tidy
  # scripts/fuzz.sh: the fuzzers build with clang, libFuzzer and the sanitizers' runtimes
  clang libclang-rt-14-dev
)
RUNTIME_PKGS=(
  qemu-system-x86 e2fsprogs
  # building guest images and the test guest: kernel packages are fetched with apt-get download
  busybox-static cpio kmod dpkg
  # the minimal image's SSH server (copied from the host) and the debian profile
  dropbear-bin debootstrap
  iproute2 procps
  # cow_mode = "dm-snapshot": loop devices (util-linux) and device-mapper snapshots
  dmsetup
  # host networking: NAT rules (src/net/nat.cc)
  nftables
  # ssh-keygen for the key banger seeds into images
  openssh-client
  # workspace prepare (src/workspace): the host repository is read with git
  git
  # cow_mode = "dm-snapshot" (src/storage/devmapper.cc): losetup is in mount, dmsetup here
  dmsetup
)

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: must run as root (it uses apt-get)" >&2
  exit 1
fi

missing=()
for p in "${BUILD_PKGS[@]}" "${RUNTIME_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "install-deps: all packages present"

# The unprivileged system user VMMs run as (config vmm_user, default
# banger-vmm; docs/security.md "VMM processes"): no home, no login shell; in
# group kvm when that group exists, so Firecracker (and QEMU with KVM) can
# open /dev/kvm after dropping root.
VMM_USER=banger-vmm
if ! getent passwd "$VMM_USER" >/dev/null; then
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
    --user-group "$VMM_USER"
  echo "install-deps: created system user $VMM_USER"
fi
if getent group kvm >/dev/null && ! id -nG "$VMM_USER" | tr ' ' '\n' | grep -qx kvm; then
  usermod -a -G kvm "$VMM_USER"
fi
echo "install-deps: vmm user $VMM_USER present"

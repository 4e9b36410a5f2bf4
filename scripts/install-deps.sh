#!/usr/bin/env bash
# Installs every Debian 12 package banger needs to build, test and run.
# Creates the unprivileged system user VMMs run as. Idempotent; needs root
# (apt-get, useradd).
set -euo pipefail

BUILD_PKGS=(
  cmake ninja-build g++ pkg-config
  libsqlite3-dev nlohmann-json3-dev libspdlog-dev libcli11-dev libtomlplusplus-dev libboost-dev
  liblz4-dev libzstd-dev liblzma-dev zlib1g-dev libarchive-dev
  # the CLI's --format yaml (docs/adr/0034)
  libyaml-cpp-dev
  # the static guest agent links libarchive.a, which needs these static archives too (docs/adr/0022)
  nettle-dev libbz2-dev
  # GET /metrics: the Prometheus client library's core (docs/adr/0032)
  prometheus-cpp-dev
  libgtest-dev libgmock-dev
  # the containerd shim's ttrpc (docs/adr/0035): protoc and libprotobuf, and containerd's and
  # gogo's .proto files (Debian's Go source packages), from which the C++ is generated at build time
  protobuf-compiler libprotobuf-dev golang-github-containerd-containerd-dev golang-github-gogo-protobuf-dev
  # bangerd's sd_notify readiness and socket activation (docs/adr/0031)
  libsystemd-dev
  # scripts/package-deb.sh: dpkg-shlibdeps (dpkg-dev), bangerd.8 (help2man); the
  # package tests check the units with systemd-analyze (systemd)
  dpkg-dev help2man systemd
  # test-only: tests/e2e/oci_e2e_test and bench/bench_oci run a local registry on 127.0.0.1
  docker-registry
  # test-only: the SDK, MCP and browser suites (sdk/, tests/mcp, tests/browser) drive a live
  # daemon from Node.js and Python; the browser test runs Debian's headless Chromium
  chromium python3
  # test-only: the completion scripts are loaded and driven in zsh and fish (tests/e2e/completion_e2e_test);
  # groff checks the generated man pages (src/cli/man_test.cc)
  zsh fish groff-base
  # test-only: tests/e2e/metrics_e2e_test checks /metrics with promtool
  prometheus
  # test-only: tests/e2e/containerd_e2e_test and bench/bench_containerd.sh run Debian's containerd
  # (with ctr and its runc shim, the benchmark's floor) under a private root, state and socket
  containerd runc
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
  # image pull / image build --from-oci (src/image/oci, docs/adr/0025): registry client and layer unpacking
  skopeo umoci
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

# Node.js (>= 20) and npm build the web UI's bundle (web/) and run the
# TypeScript SDK, MCP and browser suites. The machine's own Node.js is used
# when there is one; otherwise Debian's.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "install-deps: installing nodejs npm"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 18 ]; then
  echo "install-deps: Node.js $(node --version) is too old (banger's web bundle and SDK need 18 or later, 20 is tested)" >&2
  exit 1
fi

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

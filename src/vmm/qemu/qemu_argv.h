// The QEMU command line for one microVM: `-M microvm` with ACPI (the Debian
// guest kernel finds its virtio-mmio devices only through ACPI), the serial
// console appended to a file, virtio-blk drives, an optional tap NIC, an
// optional virtio-serial agent port, host folders over virtio-9p and a QMP
// control socket. Always under
// QEMU's seccomp sandbox (-sandbox on,obsolete=deny,spawn=deny,
// resourcecontrol=deny), and with -runas USER when a VMM user is given:
// QEMU opens every file and socket first, then drops to that user.
// (elevateprivileges=deny is left out: together with -runas it kills QEMU
// with SIGSYS at the privilege drop.)
//
// Pure functions; safe from any thread.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "vmm/backend.h"

namespace banger {

enum class QemuAccel { kKvm, kTcg };

// "kvm" or "tcg".
Result<QemuAccel> ParseQemuAccel(const std::string& name);

// The guest's name for the agent's virtio-serial port
// (/sys/class/virtio-ports/*/name).
inline constexpr const char* kQemuAgentPortName = "banger.agent";

// The kernel command line QEMU passes: the spec's, plus, under TCG, timer
// calibration hints without which TCG boots often hang at "Unable to
// calibrate against PIT".
std::string QemuKernelCmdline(QemuAccel accel, const std::string& guest_cmdline);

// The seccomp sandbox options QEMU always gets.
inline constexpr const char* kQemuSandbox = "on,obsolete=deny,spawn=deny,resourcecontrol=deny";

// The host folders of `shares` as virtio-9p devices: per share i
//   -fsdev local,id=fsI,path=PATH,security_model=none[,readonly=on]
//   -device virtio-9p-device,fsdev=fsI,mount_tag=TAG
// (',' in PATH written ",,"). security_model=none: QEMU runs as the VMM
// user after -runas, so it can neither chown (passthrough) nor should it
// hide the host's owners and modes in xattrs (mapped-xattr); the guest sees
// the host's owners and modes, files it creates belong to the VMM user, and
// every access is the VMM user's (docs/adr/0024-host-folders-virtio-9p.md).
std::vector<std::string> QemuShareArgs(const std::vector<ShareSpec>& shares);

// Under TCG, the translation cache's size in MiB (-accel tcg,tb-size=):
// part of the VMM's memory allowance beside guest RAM
// (kQemuMemoryOverheadMiB, daemon/launch_spec.h).
inline constexpr int kQemuTcgTbSizeMiB = 256;

// The full argv, argv[0] = qemu_bin. QEMU splits option values at ',', so a
// path or name containing one is refused rather than misparsed. A non-empty
// `runas_user` adds -runas.
Result<std::vector<std::string>> BuildQemuArgv(const std::string& qemu_bin, QemuAccel accel,
                                               const LaunchSpec& spec, const std::string& runas_user = "");

}  // namespace banger

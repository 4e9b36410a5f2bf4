#include "vmm/qemu/qemu_argv.h"

#include "vmm/rate_limits.h"

namespace banger {
namespace {

// The agent port's chardev.
constexpr const char* kAgentChardevPrefix = "socket,id=ag,path=";

// Values that land inside QEMU's "key=value,key=value" option lists.
Status CheckOptionValue(const std::string& what, const std::string& value) {
  if (value.find(',') != std::string::npos) {
    return Error::Invalid(what + " must not contain ',' (QEMU option syntax): " + value);
  }
  return OkStatus();
}

// A value inside QEMU's "key=value,..." list where ',' is written ",,"
// (QemuOpts' only escape): host folder paths are the user's.
std::string EscapeOptionValue(const std::string& value) {
  std::string out;
  for (char c : value) {
    out += c;
    if (c == ',') out += ',';
  }
  return out;
}

}  // namespace

std::vector<std::string> QemuShareArgs(const std::vector<ShareSpec>& shares) {
  std::vector<std::string> out;
  for (size_t i = 0; i < shares.size(); ++i) {
    const ShareSpec& s = shares[i];
    const std::string id = "fs" + std::to_string(i);
    std::string fsdev = "local,id=" + id + ",path=" + EscapeOptionValue(s.host_path) + ",security_model=none";
    if (s.read_only) fsdev += ",readonly=on";
    out.insert(out.end(),
               {"-fsdev", fsdev, "-device", "virtio-9p-device,fsdev=" + id + ",mount_tag=" + s.tag});
  }
  return out;
}

Result<QemuAccel> ParseQemuAccel(const std::string& name) {
  if (name == "kvm") return QemuAccel::kKvm;
  if (name == "tcg") return QemuAccel::kTcg;
  return Error::Invalid("qemu_accel must be \"kvm\" or \"tcg\", not \"" + name + "\"");
}

std::string QemuKernelCmdline(QemuAccel accel, const std::string& guest_cmdline) {
  if (accel != QemuAccel::kTcg) return guest_cmdline;
  const std::string hints = "tsc_early_khz=2400000 lpj=9600000";
  return guest_cmdline.empty() ? hints : guest_cmdline + " " + hints;
}

Result<std::vector<std::string>> BuildQemuArgv(const std::string& qemu_bin, QemuAccel accel,
                                               const LaunchSpec& spec, const std::string& runas_user) {
  if (spec.kernel_path.empty()) return Error::Invalid("qemu launch: no kernel path");
  if (spec.control_sock_path.empty()) return Error::Invalid("qemu launch: no QMP socket path");
  if (spec.console_log_path.empty()) return Error::Invalid("qemu launch: no console log path");
  if (spec.vcpu_count < 1 || spec.memory_mib < 1) {
    return Error::Invalid("qemu launch: vcpu_count and memory_mib must be positive");
  }
  // -kernel and -initrd are not option lists in QEMU 7.2, but one rule for
  // every path is easier to state and to trust.
  BANGER_RETURN_IF_ERROR(CheckOptionValue("vm name", spec.vm_name));
  BANGER_RETURN_IF_ERROR(CheckOptionValue("kernel path", spec.kernel_path));
  BANGER_RETURN_IF_ERROR(CheckOptionValue("initrd path", spec.initrd_path));
  BANGER_RETURN_IF_ERROR(CheckOptionValue("console log path", spec.console_log_path));
  BANGER_RETURN_IF_ERROR(CheckOptionValue("QMP socket path", spec.control_sock_path));
  BANGER_RETURN_IF_ERROR(CheckOptionValue("agent socket path", spec.agent_sock_path));
  BANGER_RETURN_IF_ERROR(CheckOptionValue("tap device", spec.tap_device));
  BANGER_RETURN_IF_ERROR(CheckOptionValue("guest MAC", spec.guest_mac));
  BANGER_RETURN_IF_ERROR(CheckOptionValue("vmm user", runas_user));
  BANGER_RETURN_IF_ERROR(CheckRateLimitSupport(BackendKind::kQemu, spec.limits));
  for (const auto& d : spec.drives) {
    if (d.id.empty()) return Error::Invalid("qemu launch: drive without an id");
    BANGER_RETURN_IF_ERROR(CheckOptionValue("drive id", d.id));
    BANGER_RETURN_IF_ERROR(CheckOptionValue("drive path", d.path));
  }
  for (const auto& sh : spec.shares) {
    if (sh.host_path.empty() || sh.host_path[0] != '/') {
      return Error::Invalid("qemu launch: shared folder path must be absolute: " + sh.host_path);
    }
    if (sh.tag.empty() ||
        sh.tag.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789") != std::string::npos) {
      return Error::Invalid("qemu launch: bad 9p mount tag \"" + sh.tag + "\"");
    }
  }

  std::vector<std::string> argv = {qemu_bin};
  auto add = [&argv](std::initializer_list<std::string> args) { argv.insert(argv.end(), args); };
  if (accel == QemuAccel::kTcg) {
    // The line proven to boot under TCG: the PIT and RTC help timer
    // calibration when there is no KVM clock. tb-size bounds the
    // translation cache (MiB; QEMU's default is 1 GiB on a large host): it
    // must fit the VMM's memory allowance beside guest RAM (daemon/
    // launch_spec.h), or a guest that runs much new code (dockerd starting
    // a container) gets its VMM OOM-killed by the VM's cgroup.
    add({"-M", "microvm,acpi=on,pit=on,rtc=on", "-accel", "tcg,tb-size=" + std::to_string(kQemuTcgTbSizeMiB),
         "-cpu", "max"});
  } else {
    add({"-M", "microvm,acpi=on,x-option-roms=off,rtc=on", "-enable-kvm", "-cpu", "host"});
  }
  add({"-m", std::to_string(spec.memory_mib), "-smp", std::to_string(spec.vcpu_count), "-nodefaults",
       "-no-user-config", "-display", "none", "-no-reboot"});
  if (!spec.vm_name.empty()) add({"-name", spec.vm_name});
  add({"-kernel", spec.kernel_path});
  if (!spec.initrd_path.empty()) add({"-initrd", spec.initrd_path});
  add({"-append", QemuKernelCmdline(accel, spec.kernel_cmdline)});
  add({"-chardev", "file,id=con0,path=" + spec.console_log_path + ",append=on", "-serial", "chardev:con0"});
  for (const auto& d : spec.drives) {
    std::string drive = "id=" + d.id + ",file=" + d.path + ",format=raw,if=none";
    // A writable drive keeps its read-write descriptor when a snapshot save
    // inactivates it: with auto-read-only QEMU would reopen the file by path,
    // which fails once it runs as the VMM user (bdrv_inactivate_all EPERM).
    drive += d.read_only ? ",readonly=on" : ",file.auto-read-only=off";
    drive += QemuDriveThrottleOptions(spec.limits);
    add({"-drive", drive, "-device", "virtio-blk-device,drive=" + d.id});
  }
  const std::vector<std::string> shares = QemuShareArgs(spec.shares);
  argv.insert(argv.end(), shares.begin(), shares.end());
  if (!spec.tap_device.empty()) {
    std::string nic = "virtio-net-device,netdev=n0";
    if (!spec.guest_mac.empty()) nic += ",mac=" + spec.guest_mac;
    add({"-netdev", "tap,id=n0,ifname=" + spec.tap_device + ",script=no,downscript=no", "-device", nic});
  }
  if (!spec.agent_sock_path.empty()) {
    add({"-chardev", kAgentChardevPrefix + spec.agent_sock_path + ",server=on,wait=off", "-device",
         "virtio-serial-device", "-device",
         std::string("virtserialport,chardev=ag,name=") + kQemuAgentPortName});
  }
  add({"-qmp", "unix:" + spec.control_sock_path + ",server=on,wait=off"});
  add({"-sandbox", kQemuSandbox});
  if (!runas_user.empty()) add({"-runas", runas_user});
  return argv;
}

}  // namespace banger

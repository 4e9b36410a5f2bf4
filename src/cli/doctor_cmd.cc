// banger doctor: host prerequisites, one line each, with the fix. Runs in
// the CLI (no daemon needed) against this home's config.
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <sstream>

#include "base/account.h"
#include "base/fs.h"
#include "base/process.h"
#include "cli/commands.h"
#include "config/config.h"
#include "vmm/backend.h"
#include "vmm/cgroup.h"
#include "vmm/launch_util.h"

namespace banger {
namespace {

struct Check {
  std::string name;
  std::string status;  // ok | warn | fail
  std::string detail;
  std::string fix;
};

// Why the dm-snapshot scheme cannot run here, "" when it can: the daemon's
// test (DeviceMapperOps::Available in storage/devmapper.h), repeated here
// because the CLI does not link the storage layer.
std::string DeviceMapperMissing() {
  if (!PathExists("/dev/mapper/control")) return "no /dev/mapper/control";
  auto r = RunCommand({"dmsetup", "targets"}, std::chrono::seconds(10));
  if (!r.ok()) return "dmsetup not found";
  if (r->exit_code != 0) return "`dmsetup targets` failed";
  std::istringstream lines(r->out);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("snapshot ", 0) == 0 || line.rfind("snapshot\t", 0) == 0 || line == "snapshot") return "";
  }
  utsname u{};
  ::uname(&u);
  for (const char* ext : {"", ".xz", ".zst", ".gz"}) {
    if (PathExists(std::string("/lib/modules/") + u.release + "/kernel/drivers/md/dm-snapshot.ko" + ext))
      return "";
  }
  return "the kernel has no dm snapshot target";
}

// Per-VM cgroups: the version found, and whether the daemon's "auto" would
// use them (the same detection and probe as bangerd's start).
Check CgroupCheck(const DaemonConfig& cfg, const std::string& cfg_path, const std::string& root = "") {
  VmCgroups cg(DetectCgroupHost(root));
  std::string version = std::string("cgroup ") + CgroupVersionName(cg.host().version);
  if (cfg.vm_cgroups == "off") {
    return {"cgroups", "ok", version + "; per-VM cgroups off (vm_cgroups = \"off\")", ""};
  }
  if (!cg.enabled()) {
    return {"cgroups", "warn",
            "no usable cgroups (" + cg.host().why_none + "): VMMs run without per-VM memory and pids limits",
            "mount cgroup2 with the memory and pids controllers, or set vm_cgroups = \"off\" in " + cfg_path};
  }
  if (auto st = cg.Probe(); !st.ok()) {
    return {"cgroups", "warn",
            version + " is not writable here (" + st.error().message() +
                "): VMMs run without per-VM memory and pids limits (as in a container)",
            "run bangerd as root on the host, or set vm_cgroups = \"off\" in " + cfg_path};
  }
  std::string where = cg.GroupDirs("<vm>")[0];
  return {"cgroups", "ok",
          version + ": per-VM cgroups active (" + where.substr(0, where.rfind('/')) +
              "/<vm id>: memory = guest memory + VMM overhead, pids limit)",
          ""};
}

// What each backend can rate-limit (vm create/set --disk-bw --disk-iops --net-bw).
Check RateLimitCheck() {
  std::string detail;
  for (BackendKind k : {BackendKind::kFirecracker, BackendKind::kQemu}) {
    if (!detail.empty()) detail += "; ";
    detail += std::string(BackendName(k)) + ": " + RateLimitSupportOf(k).note;
  }
  return {"rate limits", "ok", detail, ""};
}

Check Tool(const std::string& name, const std::string& bin, const std::string& pkg, const std::string& why,
           bool required) {
  auto found = FindExecutable(bin);
  if (found.ok()) return {name, "ok", *found, ""};
  return {name, required ? "fail" : "warn", bin + " not found (" + why + ")", "apt-get install " + pkg};
}

// What isolation VMM processes get (docs/security.md "VMM processes"),
// judged for a daemon running as this command's user.
void VmmIsolationChecks(const DaemonConfig& cfg, const std::string& cfg_path, std::vector<Check>& out) {
  const std::string sandbox = "qemu runs under -sandbox on,obsolete=deny,spawn=deny,resourcecontrol=deny";
  const std::string fds = "every VMM starts with only stdin, stdout and stderr open";
  if (::geteuid() != 0) {
    out.push_back({"vmm isolation", "ok",
                   "bangerd is not root here: VMMs run as its own user (uid " + std::to_string(::geteuid()) +
                       ", vmm_user unused); " + sandbox + "; " + fds,
                   ""});
    return;
  }
  if (cfg.vmm_user == "root") {
    out.push_back({"vmm isolation", "warn",
                   "vmm_user = \"root\": VMMs (and e2fsck on guest disks) run as root; a guest that escapes "
                   "into its VMM is host root. " +
                       sandbox + "; " + fds,
                   "set vmm_user = \"" + std::string(kDefaultVmmUser) + "\" in " + cfg_path +
                       " and run scripts/install-deps.sh"});
    return;
  }
  auto user = ResolveVmmUser(cfg, 0);
  if (!user.ok()) {
    out.push_back(
        {"vmm isolation", "fail", user.error().message(),
         "scripts/install-deps.sh, or useradd --system --no-create-home --shell /usr/sbin/nologin " +
             cfg.vmm_user});
    return;
  }
  if (!user->has_value()) {
    out.push_back({"vmm isolation", "warn", "vmm_user " + cfg.vmm_user + " has uid 0: VMMs run as root",
                   "point vmm_user at an unprivileged system user"});
    return;
  }
  const UserAccount& u = **user;
  const std::string fc =
      cfg.jailer_bin.empty()
          ? "firecracker started as that user with no_new_privs and its own seccomp filters "
            "(no jailer)"
          : "firecracker through its jailer " + cfg.jailer_bin +
                " (chroot in the VM's directory, new mount namespace, that uid:gid)";
  out.push_back({"vmm isolation", "ok",
                 "VMMs run as " + u.name + " (uid " + std::to_string(u.uid) +
                     "): qemu via -runas after opening its files, " + fc +
                     "; e2fsck/resize2fs on guest-written disks run as that user too; " + sandbox + "; " +
                     fds,
                 ""});
  if (!cfg.jailer_bin.empty()) {
    if (auto jb = FindExecutable(cfg.jailer_bin); !jb.ok()) {
      out.push_back(
          {"firecracker jailer", "fail", "jailer_bin: " + jb.error().message(),
           "install the jailer of your firecracker release, or remove jailer_bin from " + cfg_path});
    }
    return;  // the jailer makes /dev/kvm and /dev/net/tun for the jail's uid
  }
  // QEMU opens /dev/kvm and /dev/net/tun as root before -runas; firecracker
  // opens them as the user, so ask what the user itself gets.
  BackendOptions opts;
  opts.vmm_user = u;
  if (auto st = CheckFirecrackerDevices(opts, cfg.network == "on"); !st.ok()) {
    out.push_back(
        {"vmm device access", "warn", st.error().message() + ": the firecracker backend will fail",
         "usermod -a -G kvm " + u.name + ", or set jailer_bin or vmm_user = \"root\" in " + cfg_path});
  }
}

std::vector<Check> RunChecks(const DaemonConfig& cfg, const std::string& cfg_path) {
  std::vector<Check> out;
  bool kvm = KvmUsable();
  bool nested = RunningUnderHypervisor();
  if (!PathExists("/dev/kvm")) {
    out.push_back({"kvm", "warn", "/dev/kvm is missing: guests run under QEMU TCG (slow, ~5 s boots)",
                   "enable virtualization in the firmware, or load kvm_intel/kvm_amd"});
  } else if (!kvm) {
    out.push_back(
        {"kvm", "warn", "/dev/kvm is not read-write for this user", "run as root or join the kvm group"});
  } else if (nested) {
    out.push_back({"kvm", "warn",
                   "/dev/kvm opens, but this host is itself a VM: nested KVM often cannot boot Linux guests; "
                   "QEMU falls back to TCG (qemu_accel auto = tcg) and Firecracker guests may not boot",
                   "use a bare-metal host, or keep backend = \"qemu\" with qemu_accel = \"tcg\""});
  } else {
    out.push_back({"kvm", "ok", "/dev/kvm usable", ""});
  }
  std::string accel = ResolveQemuAccel(cfg);
  BackendKind backend = ResolveBackend(cfg);
  out.push_back({"backend", "ok",
                 std::string("default backend ") + BackendName(backend) + ", qemu accelerator " + accel, ""});
  out.push_back(
      Tool("qemu", cfg.qemu_bin, "qemu-system-x86", "the QEMU backend", backend == BackendKind::kQemu));
  {
    auto fc = FindExecutable(cfg.firecracker_bin);
    if (fc.ok()) {
      out.push_back({"firecracker", "ok", *fc, ""});
    } else {
      out.push_back({"firecracker", backend == BackendKind::kFirecracker ? "fail" : "warn",
                     cfg.firecracker_bin + " not found: the Firecracker backend is unavailable",
                     "download a Firecracker release binary and set firecracker_bin in config.toml"});
    }
  }
  {
    std::string missing = DeviceMapperMissing();
    if (cfg.cow_mode == kCowModeDmSnapshot) {
      if (missing.empty()) {
        out.push_back(
            {"cow_mode", "ok",
             "cow_mode = dm-snapshot: VM roots are device-mapper snapshots of the image on loop devices "
             "(device-mapper available)",
             ""});
      } else {
        out.push_back({"cow_mode", "fail",
                       "cow_mode = dm-snapshot but device-mapper is not available on this host (" + missing +
                           "): VMs will not start",
                       "set cow_mode = \"overlay\" in " + cfg_path +
                           " (needs no device-mapper), or modprobe dm_snapshot and apt-get install dmsetup"});
      }
    } else {
      out.push_back(
          {"cow_mode", "ok",
           "cow_mode = overlay: copy-on-write by overlayfs in the guest; dm-snapshot " +
               (missing.empty() ? std::string("would also be available")
                                : "is not available here (" + missing + "), which this mode does not need"),
           ""});
    }
  }
  out.push_back(Tool("e2fsprogs", "mkfs.ext4", "e2fsprogs", "per-VM disks, file sync, resize", true));
  out.push_back(Tool("debugfs", "debugfs", "e2fsprogs", "file sync without mounting", true));
  out.push_back(Tool("busybox", "busybox", "busybox-static", "image build", false));
  out.push_back(Tool("dropbear", "dropbear", "dropbear-bin", "the minimal image's SSH server", false));
  out.push_back(Tool("debootstrap", "debootstrap", "debootstrap", "image build --profile debian", false));
  out.push_back(Tool("ssh-keygen", "ssh-keygen", "openssh-client", "the key seeded into images", false));
  if (PathExists("/dev/net/tun")) {
    out.push_back({"tun", "ok", "/dev/net/tun present", ""});
  } else {
    out.push_back({"tun", "warn", "/dev/net/tun missing: VMs get no network", "modprobe tun"});
  }
  utsname u{};
  ::uname(&u);
  bool bridge = PathExists("/sys/module/bridge") || PathExists("/sys/class/net/br-fc") ||
                PathExists(std::string("/lib/modules/") + u.release + "/kernel/net/bridge");
  out.push_back({"bridge", bridge ? "ok" : "warn",
                 bridge ? "bridge support present" : "no bridge module found: VMs get no host network",
                 bridge ? "" : "modprobe bridge"});
  if (cfg.network == "on") {
    out.push_back({"network", "ok",
                   "on: bridge " + cfg.bridge_name + " " + cfg.bridge_ip + "/" + cfg.cidr + ", tap pool " +
                       std::to_string(cfg.tap_pool_size) + ", DNS <vm>.vm on the bridge, NAT with --nat",
                   ""});
  } else {
    out.push_back(
        {"network", "ok",
         "off: VMs have no NIC; exec, ssh and sessions go through the guest agent (network = \"on\" in "
         "config.toml gives each VM a bridge port, an IP and a DNS name)",
         ""});
  }
  VmmIsolationChecks(cfg, cfg_path, out);
  out.push_back(CgroupCheck(cfg, cfg_path));
  out.push_back(RateLimitCheck());
  if (::geteuid() != 0) {
    out.push_back({"privileges", "warn", "not root: creating bridges, taps and NAT rules needs CAP_NET_ADMIN",
                   "run bangerd as root"});
  }
  return out;
}

int Doctor(CliContext& ctx) {
  auto cfg = LoadConfig(ctx.client().config_path());
  if (!cfg.ok()) return Report(cfg.error());
  auto checks = RunChecks(*cfg, ctx.client().config_path());
  bool failed = false;
  Json arr = Json::array();
  for (const auto& c : checks) {
    failed = failed || c.status == "fail";
    arr.push_back({{"check", c.name}, {"status", c.status}, {"detail", c.detail}, {"fix", c.fix}});
  }
  if (ctx.json()) {
    ctx.OutJson(arr);
  } else {
    std::string text;
    for (const auto& c : checks) {
      text += (c.status == "ok"     ? "ok    "
               : c.status == "warn" ? "warn  "
                                    : "FAIL  ") +
              c.name + ": " + c.detail;
      if (!c.fix.empty()) text += " (fix: " + c.fix + ")";
      text += "\n";
    }
    ctx.Out(text);
  }
  return failed ? kExitFailed : kExitOk;
}

}  // namespace

void AddDoctorCommand(CLI::App& app, Command* selected) {
  auto* c = app.add_subcommand("doctor", "Check host prerequisites, one line each, with the fix");
  c->callback([selected] { *selected = [](CliContext& ctx) { return Doctor(ctx); }; });
}

}  // namespace banger

#include "image/rootfs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <sstream>

#include "base/fs.h"
#include "base/process.h"
#include "base/unique_fd.h"

namespace banger {
namespace {

namespace fs = std::filesystem;

constexpr const char* kDebianSuite = "bookworm";
constexpr const char* kGuestDropbear = "/usr/sbin/dropbear";
constexpr const char* kDropbearHostKey = "/etc/dropbear/dropbear_ed25519_host_key";
constexpr const char* kGuestAgent = "/usr/local/sbin/banger-agent";

// Writes `content` to staging + path with exactly `mode` (not narrowed by
// our umask), creating parent directories.
Status StageFile(const std::string& staging, const std::string& path, const std::string& content,
                 mode_t mode) {
  const std::string full = staging + path;
  BANGER_RETURN_IF_ERROR(MakeDirs(fs::path(full).parent_path().string()));
  BANGER_RETURN_IF_ERROR(WriteFileAtomic(full, content, mode));
  if (::chmod(full.c_str(), mode) != 0) return Error::FromErrno("chmod " + full);
  return OkStatus();
}

// Copies a host file (following symlinks) to staging + guest_path.
Status StageCopy(const std::string& staging, const std::string& host_path, const std::string& guest_path,
                 mode_t mode) {
  const std::string full = staging + guest_path;
  BANGER_RETURN_IF_ERROR(MakeDirs(fs::path(full).parent_path().string()));
  std::error_code ec;
  fs::copy_file(host_path, full, fs::copy_options::overwrite_existing, ec);
  if (ec) return Error::Internal("copy " + host_path + " to " + full + ": " + ec.message());
  if (::chmod(full.c_str(), mode) != 0) return Error::FromErrno("chmod " + full);
  return OkStatus();
}

Status StageSymlink(const std::string& staging, const std::string& path, const std::string& target) {
  const std::string full = staging + path;
  BANGER_RETURN_IF_ERROR(MakeDirs(fs::path(full).parent_path().string()));
  if (::symlink(target.c_str(), full.c_str()) != 0) return Error::FromErrno("symlink " + full);
  return OkStatus();
}

Result<std::string> FindTool(const std::string& name, const std::string& package) {
  auto path = FindExecutable(name);
  // Daemons started with a user's PATH may lack the sbin directories.
  if (!path.ok()) path = FindExecutable("/usr/sbin/" + name);
  if (!path.ok()) return Error::Unavailable(name + " not found: install the Debian package " + package);
  return *path;
}

Status CheckCancel(const std::atomic<bool>& cancel) {
  if (cancel.load()) return Error::Internal("interrupted");
  return OkStatus();
}

// Busybox applets under their usual paths, all pointing at /bin/busybox.
Status StageBusybox(const std::string& staging, const std::string& busybox) {
  BANGER_RETURN_IF_ERROR(StageCopy(staging, busybox, "/bin/busybox", 0755));
  BANGER_ASSIGN_OR_RETURN(
      CommandResult list,
      Annotate(RunChecked({busybox, "--list-full"}, std::chrono::seconds(30)), "listing applets"));
  std::istringstream lines(list.out);
  std::string applet;
  while (std::getline(lines, applet)) {
    if (applet.empty() || applet.find("..") != std::string::npos) continue;
    const std::string path = "/" + applet;
    if (path == "/bin/busybox" || PathExists(staging + path)) continue;
    BANGER_RETURN_IF_ERROR(StageSymlink(staging, path, "/bin/busybox"));
  }
  if (!PathExists(staging + "/sbin/init")) return Error::Unavailable(busybox + " has no init applet");
  return OkStatus();
}

// dropbear plus the libraries and loader it links against, at their host
// paths, and a host key made now (so the first boot need not make one).
Status StageDropbear(const std::string& staging) {
  BANGER_ASSIGN_OR_RETURN(std::string dropbear, FindTool("dropbear", "dropbear-bin"));
  BANGER_ASSIGN_OR_RETURN(std::string dropbearkey, FindTool("dropbearkey", "dropbear-bin"));
  BANGER_ASSIGN_OR_RETURN(CommandResult ldd, Annotate(RunChecked({"ldd", dropbear}), "ldd " + dropbear));
  BANGER_ASSIGN_OR_RETURN(std::vector<std::string> libs,
                          Annotate(ParseLddOutput(ldd.out), "ldd " + dropbear));
  BANGER_RETURN_IF_ERROR(StageCopy(staging, dropbear, kGuestDropbear, 0755));
  for (const std::string& lib : libs) BANGER_RETURN_IF_ERROR(StageCopy(staging, lib, lib, 0755));
  BANGER_RETURN_IF_ERROR(MakeDirs(staging + "/etc/dropbear", 0700));
  BANGER_RETURN_IF_ERROR(Annotate(
      RunChecked({dropbearkey, "-t", "ed25519", "-f", staging + kDropbearHostKey}), "making the host key"));
  return OkStatus();
}

}  // namespace

std::string MinimalPasswdConfig() { return "root:x:0:0:root:/root:/bin/sh\n"; }

std::string MinimalGroupConfig() { return "root:x:0:\ntty:x:5:\n"; }

std::string MinimalShadowConfig() { return "root:*:19000:0:99999:7:::\n"; }

std::string MinimalInittabConfig() {
  std::string s;
  s += "# busybox init. The initramfs has already mounted the root, set the\n";
  s += "# hostname and network, and started banger-agent.\n";
  s += "::sysinit:/etc/init.d/rcS\n";
  // -F: stay in the foreground so init can respawn it; -E: log to the
  // console; -s: no password logins (root's is locked anyway).
  s += std::string("::respawn:") + kGuestDropbear + " -F -E -s -r " + kDropbearHostKey + "\n";
  // QEMU's system_powerdown presses the ACPI power button; acpid runs
  // /etc/acpi/PWRF/00000080 for it.
  s += "::respawn:/sbin/acpid -f\n";
  s += "::ctrlaltdel:/sbin/reboot\n";
  s += "::shutdown:/bin/umount -a -r\n";
  s += "::shutdown:/bin/sync\n";
  return s;
}

std::string MinimalRcsConfig() {
  return R"(#!/bin/sh
# sysinit for busybox init. The initramfs moved /dev, /proc and /sys here;
# mount them only if this root was booted some other way.
[ -e /proc/self ] || mount -t proc proc /proc
[ -d /sys/class ] || mount -t sysfs sysfs /sys
[ -e /dev/null ] || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
# banger's initramfs mounted /dev/pts already (the agent's tty execs need
# it): a second devpts on top would hide the ptys of the first by name.
grep -q ' /dev/pts devpts ' /proc/mounts || mount -t devpts -o gid=5,mode=0620,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs /dev/shm
# banger's initramfs mounted /run already (the agent's vm id lives there).
grep -q ' /run ' /proc/mounts || mount -t tmpfs -o nosuid,nodev,mode=0755 tmpfs /run
mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs /tmp
ip link set lo up
# The boot is done: a template snapshot (warm start) waits for this.
mkdir -p /run/banger && : > /run/banger/booted
)";
}

std::string HostsConfig() { return "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"; }

Result<std::vector<std::string>> ParseLddOutput(std::string_view ldd_output) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  std::istringstream lines{std::string(ldd_output)};
  std::string line;
  while (std::getline(lines, line)) {
    size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos) continue;
    line = line.substr(start);
    if (line.find("statically linked") != std::string::npos ||
        line.find("not a dynamic executable") != std::string::npos) {
      continue;
    }
    std::string path;
    size_t arrow = line.find(" => ");
    if (arrow != std::string::npos) {
      std::string target = line.substr(arrow + 4);
      if (target.rfind("not found", 0) == 0) {
        return Error::NotFound("shared library " + line.substr(0, arrow) + " not found");
      }
      path = target.substr(0, target.find(" ("));
    } else {
      path = line.substr(0, line.find(" ("));
    }
    // "linux-vdso.so.1 (0x...)" or "libfoo.so => (0x...)": provided by the
    // kernel, nothing to copy.
    if (path.empty() || path.front() != '/') continue;
    if (seen.insert(path).second) out.push_back(path);
  }
  return out;
}

Status StageMinimalRootfs(const std::string& staging, const std::string& busybox, const std::string& agent) {
  for (const char* dir : {"/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin",
                          "/etc", "/proc", "/sys", "/dev", "/run", "/var/log", "/home", "/mnt"}) {
    BANGER_RETURN_IF_ERROR(MakeDirs(staging + dir, 0755));
  }
  BANGER_RETURN_IF_ERROR(MakeDirs(staging + "/root", 0700));
  BANGER_RETURN_IF_ERROR(MakeDirs(staging + "/tmp", 01777));
  BANGER_RETURN_IF_ERROR(StageSymlink(staging, "/var/run", "/run"));
  BANGER_RETURN_IF_ERROR(Annotate(StageBusybox(staging, busybox), "installing busybox"));
  BANGER_RETURN_IF_ERROR(Annotate(StageDropbear(staging), "installing dropbear"));
  BANGER_RETURN_IF_ERROR(StageCopy(staging, agent, kGuestAgent, 0755));

  BANGER_RETURN_IF_ERROR(StageFile(staging, "/etc/passwd", MinimalPasswdConfig(), 0644));
  BANGER_RETURN_IF_ERROR(StageFile(staging, "/etc/group", MinimalGroupConfig(), 0644));
  BANGER_RETURN_IF_ERROR(StageFile(staging, "/etc/shadow", MinimalShadowConfig(), 0600));
  // dropbear only lets users in whose shell is listed here.
  BANGER_RETURN_IF_ERROR(StageFile(staging, "/etc/shells", "/bin/sh\n/bin/ash\n", 0644));
  BANGER_RETURN_IF_ERROR(StageFile(staging, "/etc/nsswitch.conf",
                                   "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n", 0644));
  BANGER_RETURN_IF_ERROR(
      StageFile(staging, "/etc/profile",
                "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n", 0644));
  BANGER_RETURN_IF_ERROR(StageFile(staging, "/etc/hosts", HostsConfig(), 0644));
  BANGER_RETURN_IF_ERROR(StageFile(staging, "/etc/hostname", "banger\n", 0644));
  BANGER_RETURN_IF_ERROR(StageFile(staging, "/etc/inittab", MinimalInittabConfig(), 0644));
  BANGER_RETURN_IF_ERROR(StageFile(staging, "/etc/init.d/rcS", MinimalRcsConfig(), 0755));
  BANGER_RETURN_IF_ERROR(
      StageFile(staging, "/etc/acpi/PWRF/00000080", "#!/bin/sh\nexec /sbin/poweroff\n", 0755));
  return OkStatus();
}

std::vector<std::string> DebootstrapArgv(const std::string& staging, bool docker) {
  // dbus: without it systemd-logind does not run, and nothing acts on the
  // ACPI power button QEMU presses for a graceful stop.
  std::string include = "systemd-sysv,udev,dbus,openssh-server,ca-certificates,git,iproute2";
  // kmod: dockerd and the kernel load modules through modprobe. apparmor:
  // Debian's kernel has AppArmor on, so dockerd loads its docker-default
  // profile for every container with apparmor_parser; without it `docker
  // run` with default security options fails.
  if (docker) include += ",docker.io,kmod,apparmor";
  return {"debootstrap", "--variant=minbase", "--include=" + include, kDebianSuite, staging};
}

Status StageDebianRootfs(const DebianRootfsSpec& spec, const std::atomic<bool>& cancel) {
  const std::string& root = spec.staging;
  BANGER_ASSIGN_OR_RETURN(std::string debootstrap, FindTool("debootstrap", "debootstrap"));
  std::vector<std::string> argv = DebootstrapArgv(root, spec.docker);
  argv[0] = debootstrap;
  // Downloads and unpacks a few hundred packages: minutes, not seconds.
  BANGER_RETURN_IF_ERROR(Annotate(RunChecked(argv, std::chrono::minutes(30)), "debootstrap"));
  BANGER_RETURN_IF_ERROR(CheckCancel(cancel));

  BANGER_RETURN_IF_ERROR(StageCopy(root, spec.agent, kGuestAgent, 0755));
  BANGER_RETURN_IF_ERROR(StageFile(root, "/etc/ssh/sshd_config.d/banger.conf",
                                   "PermitRootLogin prohibit-password\n"
                                   "PasswordAuthentication no\n"
                                   "KbdInteractiveAuthentication no\n",
                                   0644));
  // openssh-server's postinst enables ssh.service; make sure, since the
  // image is useless without it.
  const std::string wants = "/etc/systemd/system/multi-user.target.wants/ssh.service";
  if (!PathExists(root + wants)) {
    BANGER_RETURN_IF_ERROR(StageSymlink(root, wants, "/lib/systemd/system/ssh.service"));
  }
  BANGER_RETURN_IF_ERROR(StageFile(root, "/etc/hostname", "banger\n", 0644));
  BANGER_RETURN_IF_ERROR(StageFile(root, "/etc/hosts", HostsConfig(), 0644));
  // debootstrap copied the build host's resolver, which means nothing in a
  // guest; the guest init writes the VM's own when it has one.
  BANGER_RETURN_IF_ERROR(StageFile(root, "/etc/resolv.conf", "", 0644));
  // Empty, so systemd gives every VM its own id at first boot instead of all
  // VMs sharing the one made during the build.
  BANGER_RETURN_IF_ERROR(StageFile(root, "/etc/machine-id", "", 0444));
  BANGER_RETURN_IF_ERROR(RemoveFile(root + "/var/lib/dbus/machine-id"));
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root + "/var/cache/apt/archives", ec)) {
    if (e.path().extension() == ".deb") fs::remove(e.path(), ec);
  }

  if (spec.docker) {
    if (spec.modules == nullptr) return Error::Internal("docker rootfs without a module index");
    BANGER_ASSIGN_OR_RETURN(std::vector<ModuleFile> mods, Annotate(spec.modules->Resolve(DockerModuleRoots()),
                                                                   "resolving Docker's modules"));
    const std::string rel = "/lib/modules/" + spec.kernel_version;
    const std::string from = spec.modules_root + rel;
    for (const ModuleFile& m : mods)
      BANGER_RETURN_IF_ERROR(StageCopy(root, from + "/" + m.path, rel + "/" + m.path, 0644));
    // depmod and modprobe need these to tell built-in modules from missing ones.
    for (const char* index : {"modules.builtin", "modules.builtin.modinfo", "modules.order"}) {
      if (PathExists(from + "/" + index))
        BANGER_RETURN_IF_ERROR(StageCopy(root, from + "/" + index, rel + "/" + index, 0644));
    }
    BANGER_RETURN_IF_ERROR(
        Annotate(RunChecked({"depmod", "-b", root, spec.kernel_version}), "depmod of the rootfs modules"));
  }
  return OkStatus();
}

Status MakeExt4(const Ext4Spec& spec) {
  {
    UniqueFd fd(::open(spec.image_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd.valid()) return Error::FromErrno("create " + spec.image_path);
    if (::ftruncate(fd.get(), spec.size_bytes) != 0) return Error::FromErrno("truncate " + spec.image_path);
  }
  std::vector<std::string> argv = {"mkfs.ext4",     "-q", "-F", "-L", spec.label, "-d", spec.source_dir, "-E",
                                   "root_owner=0:0"};
  if (!spec.journal) argv.insert(argv.end(), {"-O", "^has_journal"});
  if (spec.inodes > 0) argv.insert(argv.end(), {"-N", std::to_string(spec.inodes)});
  argv.push_back(spec.image_path);
  BANGER_RETURN_IF_ERROR(
      Annotate(RunChecked(argv, std::chrono::minutes(10)), "mkfs.ext4 " + spec.image_path));
  return OkStatus();
}

TreeFit Ext4FitFor(int64_t allocated_bytes, int64_t entries) {
  constexpr int64_t kMiB = int64_t{1} << 20;
  TreeFit fit;
  // ext4's own metadata: the inode tables (256 bytes each) and the rest.
  const int64_t inodes = entries + entries / 5 + 4096;
  const int64_t raw = allocated_bytes + allocated_bytes / 4 + inodes * 256 + 64 * kMiB;
  fit.bytes = (raw + kMiB - 1) / kMiB * kMiB;
  fit.inodes = inodes;
  return fit;
}

int64_t TreeEntryCount(const std::string& dir) {
  int64_t n = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    ++n;
  }
  return n;
}

}  // namespace banger

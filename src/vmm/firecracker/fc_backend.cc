// The Firecracker backend: spawn `firecracker --api-sock`, configure the VM
// over the REST API, InstanceStart. See fc_client.h for the API calls.
//
// With a VMM user (BackendOptions::vmm_user), firecracker runs as that user
// (setgroups/setgid/setuid and no_new_privs in the child) with its working
// directory in the VM directory, which becomes the user's: every path FC is
// given is relative to it (the image's kernel, initrd and shared rootfs are
// hard-linked in), so it needs no access to the daemon's home above it, and
// the per-VM writable files (disks, logs, metrics) are owned by it.
// With jailer_bin set, firecracker runs through its jailer instead, in a
// chroot inside the VM directory (vmm/firecracker/jailer.h).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include "base/fs.h"
#include "base/unique_fd.h"
#include "vmm/backend.h"
#include "vmm/firecracker/fc_client.h"
#include "vmm/firecracker/fc_snapshot.h"
#include "vmm/firecracker/jailer.h"
#include "vmm/launch_util.h"

namespace banger {
namespace {

// Bounds each API call outside Launch (whose calls share its deadline).
constexpr std::chrono::milliseconds kApiCallTimeout{5000};
// The guest NIC's id in FC's API.
constexpr const char* kFcNicId = "eth0";
// One readiness probe while FC starts: it answers in microseconds once up.
constexpr std::chrono::milliseconds kProbeTimeout{200};

// FC before 1.14 refuses log and metrics paths that do not exist yet. The
// directory may be the VMM user's (its working directory or chroot): never
// follow a symlink it put there.
Status CreateIfMissing(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640));
  if (!fd.valid()) return Error::FromErrno("create " + path);
  return OkStatus();
}

// FC appends a line per flush (every 60 s and on each FlushMetrics), so the
// file is emptied once it passes this size. FC writes without O_APPEND, so
// later lines land at its old offset: the file becomes sparse (its apparent
// size keeps growing, the blocks it holds do not).
constexpr int64_t kMetricsFileCap = 1 << 20;

Result<Json> ReadNewestMetrics(const std::string& path) {
  auto j = NewestMetricsLine(TailFile(path, 256 * 1024));
  if (AllocatedBytes(path) > kMetricsFileCap) (void)::truncate(path.c_str(), 0);
  return j;
}

// The name FC is given for `path` when it runs as the VMM user inside
// `vm_dir`: files already there by their base name, others hard-linked in
// as `link_name` (read-only inputs: kernel, initrd, the shared rootfs).
Result<std::string> Expose(const std::string& vm_dir, const std::string& path, const std::string& link_name,
                           const UserAccount& user, bool owned) {
  if (path.empty()) return std::string();
  std::string dir = vm_dir + "/";
  std::string name;
  if (path.compare(0, dir.size(), dir) == 0 && path.find('/', dir.size()) == std::string::npos) {
    name = path.substr(dir.size());
  } else {
    name = link_name;
    std::string dst = dir + name;
    (void)::unlink(dst.c_str());
    if (::link(path.c_str(), dst.c_str()) != 0) {
      return Error::FromErrno("hard-linking " + path + " into " + vm_dir +
                              " for the vmm user (the image must be on the same filesystem as the vm)");
    }
    if (!owned) BANGER_RETURN_IF_ERROR(GrantGroupRead(dst, user.gid));
  }
  if (owned && PathExists(dir + name) && ::chown((dir + name).c_str(), user.uid, user.gid) != 0) {
    return Error::FromErrno("chown " + dir + name + " to " + user.name);
  }
  return name;
}

class FirecrackerBackend final : public VmmBackend {
 public:
  FirecrackerBackend(BackendOptions opts, ProcessOps& ops) : opts_(std::move(opts)), ops_(ops) {}

  BackendKind kind() const override { return BackendKind::kFirecracker; }

  Status CheckAvailable() override {
    auto bin = FindExecutable(opts_.firecracker_bin);
    if (!bin.ok()) {
      return Error::Unavailable("firecracker not found (" + bin.error().message() +
                                "): set firecracker_bin in config.toml or put it in PATH");
    }
    if (!opts_.jailer_bin.empty()) {
      if (auto jb = FindExecutable(opts_.jailer_bin); !jb.ok()) {
        return Error::Unavailable("jailer_bin: " + jb.error().message());
      }
      if (::geteuid() != 0)
        return Error::Unavailable("jailer_bin is set but the jailer needs bangerd to run as root");
    }
    auto kvm = CheckKvmUsable();
    if (!kvm.ok()) {
      return Error::Unavailable("firecracker needs KVM: " + kvm.error().message() +
                                ": load the kvm module and give this user read-write access to /dev/kvm,"
                                " or use the qemu backend with qemu_accel = \"tcg\"");
    }
    return OkStatus();
  }

  Result<VmmProcess> Launch(const LaunchSpec& spec, std::chrono::milliseconds timeout) override {
    Deadline deadline(timeout);
    BANGER_RETURN_IF_ERROR(CheckSocketPath("firecracker API socket", spec.control_sock_path));
    if (!spec.vsock_path.empty()) BANGER_RETURN_IF_ERROR(CheckSocketPath("vsock", spec.vsock_path));
    if (spec.kernel_path.empty()) return Error::Invalid("firecracker launch: no kernel path");

    // FC binds both sockets itself and fails if a file from an earlier run
    // is still there.
    const std::vector<std::string> sockets = {spec.control_sock_path, spec.vsock_path};
    RemovePaths(sockets);

    BANGER_RETURN_IF_ERROR(CheckFirecrackerDevices(opts_, !spec.tap_device.empty()));

    // The paths FC itself opens: as given, or relative to the VM directory
    // when it runs as the VMM user there, or to the chroot under the jailer.
    LaunchSpec fc_spec = spec;
    std::optional<JailLayout> jail;
    JailGuard jail_guard(opts_.jailer_bin.empty() ? "" : spec.vm_dir);
    if (!opts_.jailer_bin.empty()) {
      BANGER_ASSIGN_OR_RETURN(jail, JailFor(spec));
      auto jailed = PrepareJail(spec, *jail, JailUid(), JailGid());
      if (!jailed.ok()) return std::move(jailed).error().Wrap("preparing the firecracker jail");
      fc_spec = std::move(*jailed);
    } else if (opts_.vmm_user) {
      auto relative = ForVmmUser(spec, *opts_.vmm_user);
      if (!relative.ok())
        return std::move(relative).error().Wrap("preparing the vm directory for the vmm user");
      fc_spec = std::move(*relative);
    }

    // FC writes the guest serial console, and its own messages until the
    // logger is configured, to stdout.
    std::vector<LogMark> logs = {LogMark(spec.console_log_path), LogMark(spec.vmm_log_path)};
    SpawnOptions so;
    so.argv = {opts_.firecracker_bin, "--api-sock", fc_spec.control_sock_path};
    const std::string& id = spec.vm_name.empty() ? spec.vm_id : spec.vm_name;
    if (!id.empty()) so.argv.insert(so.argv.end(), {"--id", id});
    so.stdout_path = spec.console_log_path;
    if (jail) {
      // The jailer passes its --id on to firecracker.
      so.argv = JailerArgv(opts_.jailer_bin, *jail, JailUid(), JailGid(),
                           {"--api-sock", fc_spec.control_sock_path});
    } else if (opts_.vmm_user) {
      so.run_as = Credentials{opts_.vmm_user->uid, opts_.vmm_user->gid, opts_.vmm_user->groups};
      so.cwd = spec.vm_dir;
    }
    so.no_new_privs = true;
    so.cgroup_procs_files = spec.cgroup_procs_files;
    auto pid = SpawnDetached(so);
    if (!pid.ok()) return std::move(pid).error().Wrap("spawning firecracker");
    auto who = jail ? WaitForJailedExec(ops_, *pid, *jail, JailUid(), deadline.Remaining())
                    : IdentifySpawned(ops_, *pid, VmmUid(opts_));
    if (!who.ok()) {
      RemovePaths(sockets);
      return WithExitOutput(std::move(who).error(), ops_, ProcIdentity{}, logs);
    }
    LaunchGuard guard(ops_, *who, sockets);
    if (spec.on_spawn) BANGER_RETURN_IF_ERROR(spec.on_spawn(*who));

    Status st = WaitForApi(*who, spec.control_sock_path, deadline);
    if (st.ok()) {
      FcClient fc(spec.control_sock_path, timeout, deadline);
      st = Configure(fc, fc_spec, jail ? jail->root : spec.vm_dir);
      if (st.ok()) st = fc.InstanceStart();
      if (!st.ok()) st = std::move(st).error().Wrap("configuring firecracker");
    }
    if (!st.ok()) return WithExitOutput(std::move(st).error(), ops_, *who, logs);
    guard.Release();
    jail_guard.Release();
    return VmmProcess{*pid, spec.control_sock_path, *who, ""};
  }

  Status Shutdown(const VmmProcess& p, std::chrono::milliseconds graceful) override {
    if (IsSameProcess(ops_, p.identity)) {
      Deadline graceful_deadline(graceful);
      if (graceful.count() > 0) {
        // Best effort: a guest without an i8042 driver ignores it and a
        // wedged FC does not answer; the SIGKILL below covers both.
        FcClient fc(p.control_sock_path, kApiCallTimeout, graceful_deadline);
        (void)fc.SendCtrlAltDel();
      }
      if (!WaitUntilGone(ops_, p.identity, graceful_deadline.Remaining())) {
        auto st = KillAndWait(ops_, p.identity, kVmmKillWait);
        if (!st.ok()) return std::move(st).error().Wrap("stopping firecracker");
      }
    }
    RemovePaths({p.control_sock_path});
    return OkStatus();
  }

  Status Pause(const VmmProcess& p) override {
    return FcClient(p.control_sock_path, kApiCallTimeout).PauseVm();
  }

  Status Resume(const VmmProcess& p) override {
    return FcClient(p.control_sock_path, kApiCallTimeout).ResumeVm();
  }

  // Snapshots live in fc_snapshot.cc.
  Status SaveSnapshot(const VmmProcess& p, const SnapshotPaths& out,
                      std::chrono::milliseconds timeout) override {
    return FcSaveSnapshot(opts_, p, out, timeout);
  }
  Result<VmmProcess> LaunchFromSnapshot(const LaunchSpec& spec, const SnapshotPaths& in, bool resume,
                                        std::chrono::milliseconds timeout) override {
    return FcLaunchFromSnapshot(opts_, ops_, spec, in, resume, timeout);
  }

  Result<Json> Metrics(const VmmProcess& p, const std::string& metrics_path) override {
    if (metrics_path.empty()) return Error::Unavailable("this VM has no firecracker metrics file");
    BANGER_RETURN_IF_ERROR(FcClient(p.control_sock_path, kApiCallTimeout).FlushMetrics());
    return ReadNewestMetrics(metrics_path);
  }

  Status SetRateLimits(const VmmProcess& p, const std::vector<std::string>& drive_ids, bool has_nic,
                       const RateLimits& limits) override {
    FcClient fc(p.control_sock_path, kApiCallTimeout);
    for (const auto& id : drive_ids) BANGER_RETURN_IF_ERROR(fc.PatchDriveRateLimiter(id, limits));
    if (has_nic) BANGER_RETURN_IF_ERROR(fc.PatchNetworkRateLimiters(kFcNicId, limits));
    return OkStatus();
  }

  Result<std::string> QueryState(const VmmProcess& p) override {
    BANGER_ASSIGN_OR_RETURN(FcInstanceInfo info,
                            FcClient(p.control_sock_path, kApiCallTimeout).DescribeInstance());
    if (info.state == "Running") return std::string("running");
    if (info.state == "Paused") return std::string("paused");
    if (info.state == "Not started") return std::string("not_started");
    return Error::Internal("firecracker reports unknown state \"" + info.state + "\"");
  }

 private:
  // The jail's user: vmm_user, or root when there is none (vmm_user = "root").
  uid_t JailUid() const { return opts_.vmm_user ? opts_.vmm_user->uid : 0; }
  gid_t JailGid() const { return opts_.vmm_user ? opts_.vmm_user->gid : 0; }
  Result<JailLayout> JailFor(const LaunchSpec& spec) const {
    auto exec_file = FindExecutable(opts_.firecracker_bin);
    if (!exec_file.ok()) return std::move(exec_file).error().Wrap("firecracker_bin");
    return JailLayoutFor(spec, AbsolutePath(*exec_file));
  }

  // Polls until the API answers GET /; fails at once if FC exits first.
  Status WaitForApi(const ProcIdentity& who, const std::string& sock, const Deadline& deadline) {
    FcClient probe(sock, kProbeTimeout, deadline);
    while (true) {
      if (!IsSameProcess(ops_, who)) return Error::Unavailable("firecracker exited before its API came up");
      if (PathExists(sock) && probe.DescribeInstance().ok()) return OkStatus();
      if (deadline.Expired())
        return Error::Timeout("firecracker API on " + sock + " did not come up in time");
      std::this_thread::sleep_for(kVmmPollInterval);
    }
  }

  // The spec with every path FC opens made relative to the VM directory (its
  // working directory), the directory and the VM's writable files owned by
  // the VMM user, read-only inputs hard-linked in.
  static Result<LaunchSpec> ForVmmUser(const LaunchSpec& spec, const UserAccount& user) {
    if (spec.vm_dir.empty()) return Error::Invalid("firecracker launch: no vm directory");
    LaunchSpec r = spec;
    const std::string& d = spec.vm_dir;
    if (::chown(d.c_str(), user.uid, user.gid) != 0 || ::chmod(d.c_str(), 0700) != 0) {
      return Error::FromErrno("giving " + d + " to " + user.name);
    }
    for (const std::string* log : {&spec.vmm_log_path, &spec.metrics_path}) {
      if (!log->empty()) BANGER_RETURN_IF_ERROR(CreateIfMissing(*log));
    }
    BANGER_ASSIGN_OR_RETURN(r.control_sock_path, Expose(d, spec.control_sock_path, "api.sock", user, false));
    BANGER_ASSIGN_OR_RETURN(r.vsock_path, Expose(d, spec.vsock_path, "v.sock", user, false));
    BANGER_ASSIGN_OR_RETURN(r.kernel_path, Expose(d, spec.kernel_path, "fc-kernel", user, false));
    BANGER_ASSIGN_OR_RETURN(r.initrd_path, Expose(d, spec.initrd_path, "fc-initrd", user, false));
    BANGER_ASSIGN_OR_RETURN(r.vmm_log_path, Expose(d, spec.vmm_log_path, "vmm.log", user, true));
    BANGER_ASSIGN_OR_RETURN(r.metrics_path, Expose(d, spec.metrics_path, "metrics.json", user, true));
    for (auto& drive : r.drives) {
      BANGER_ASSIGN_OR_RETURN(drive.path, Expose(d, drive.path, "fc-" + drive.id, user, !drive.read_only));
    }
    return r;
  }

  // The pre-boot configuration, in the order FC's getting-started guide uses.
  // Relative paths in `spec` are relative to `vm_dir` (FC's working directory).
  static Status Configure(FcClient& fc, const LaunchSpec& spec, const std::string& vm_dir) {
    auto host = [&](const std::string& p) { return p.empty() || p[0] == '/' ? p : vm_dir + "/" + p; };
    if (!spec.vmm_log_path.empty()) {
      BANGER_RETURN_IF_ERROR(CreateIfMissing(host(spec.vmm_log_path)));
      BANGER_RETURN_IF_ERROR(fc.PutLogger(spec.vmm_log_path, "Info"));
    }
    if (!spec.metrics_path.empty()) {
      BANGER_RETURN_IF_ERROR(CreateIfMissing(host(spec.metrics_path)));
      BANGER_RETURN_IF_ERROR(fc.PutMetrics(spec.metrics_path));
    }
    BANGER_RETURN_IF_ERROR(fc.PutMachineConfig(spec.vcpu_count, spec.memory_mib));
    BANGER_RETURN_IF_ERROR(fc.PutBootSource(spec.kernel_path, spec.initrd_path, spec.kernel_cmdline));
    for (const auto& drive : spec.drives) BANGER_RETURN_IF_ERROR(fc.PutDrive(drive, spec.limits));
    if (!spec.tap_device.empty()) {
      BANGER_RETURN_IF_ERROR(fc.PutNetworkInterface(kFcNicId, spec.tap_device, spec.guest_mac, spec.limits));
    }
    if (!spec.vsock_path.empty()) BANGER_RETURN_IF_ERROR(fc.PutVsock(spec.vsock_cid, spec.vsock_path));
    return OkStatus();
  }

  const BackendOptions opts_;
  ProcessOps& ops_;
};

}  // namespace

std::unique_ptr<VmmBackend> MakeFirecrackerBackend(const BackendOptions& opts, ProcessOps& ops) {
  return std::make_unique<FirecrackerBackend>(opts, ops);
}

}  // namespace banger

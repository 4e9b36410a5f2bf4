// The Firecracker backend: spawn `firecracker --api-sock`, configure the VM
// over the REST API, InstanceStart. See fc_client.h for the API calls.
//
// Firecracker runs in the VM directory and is given names relative to it
// (fc_launch.h), so a snapshot it writes can be loaded in another VM's
// directory. With a VMM user (BackendOptions::vmm_user), firecracker runs as
// that user (setgroups/setgid/setuid and no_new_privs in the child) and the
// directory becomes the user's (the image's kernel, initrd and shared rootfs
// are hard-linked in), so it needs no access to the daemon's home above it,
// and the per-VM writable files (disks, logs, metrics) are owned by it.
// With jailer_bin set, firecracker runs through its jailer instead, in a
// chroot inside the VM directory (vmm/firecracker/jailer.h).
#include <unistd.h>

#include "base/fs.h"
#include "model/mounts.h"
#include "vmm/backend.h"
#include "vmm/firecracker/fc_client.h"
#include "vmm/firecracker/fc_launch.h"
#include "vmm/firecracker/fc_snapshot.h"
#include "vmm/firecracker/jailer.h"
#include "vmm/launch_util.h"

namespace banger {
namespace {

// Bounds each API call outside Launch (whose calls share its deadline).
constexpr std::chrono::milliseconds kApiCallTimeout{5000};
// The guest NIC's id in FC's API.
constexpr const char* kFcNicId = "eth0";

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
    if (!spec.shares.empty()) return Error::Invalid(kFirecrackerMountRefusal);

    // FC binds both sockets itself and fails if a file from an earlier run
    // is still there.
    const std::vector<std::string> sockets = {spec.control_sock_path, spec.vsock_path};
    RemovePaths(sockets);

    BANGER_RETURN_IF_ERROR(CheckFirecrackerDevices(opts_, !spec.tap_device.empty()));

    // The names FC itself opens: relative to the VM directory (its working
    // directory) or to the chroot under the jailer (fc_launch.h).
    JailGuard jail_guard(opts_.jailer_bin.empty() ? "" : spec.vm_dir);
    BANGER_ASSIGN_OR_RETURN(FcPlacement place, PlaceFirecracker(opts_, spec));

    std::vector<LogMark> logs = {LogMark(spec.console_log_path), LogMark(spec.vmm_log_path)};
    auto pid = SpawnDetached(FirecrackerSpawnOptions(opts_, spec, place));
    if (!pid.ok()) return std::move(pid).error().Wrap("spawning firecracker");
    auto who = IdentifyFirecracker(opts_, ops_, *pid, place, deadline);
    if (!who.ok()) {
      RemovePaths(sockets);
      return WithExitOutput(std::move(who).error(), ops_, ProcIdentity{}, logs);
    }
    LaunchGuard guard(ops_, *who, sockets);
    if (spec.on_spawn) BANGER_RETURN_IF_ERROR(spec.on_spawn(*who));

    Status st = WaitForFcApi(ops_, *who, spec.control_sock_path, deadline);
    if (st.ok()) {
      FcClient fc(spec.control_sock_path, timeout, deadline);
      st = Configure(fc, place.fc, place.root);
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
  // The pre-boot configuration, in the order FC's getting-started guide uses.
  // Relative paths in `spec` are relative to `vm_dir` (FC's working directory).
  static Status Configure(FcClient& fc, const LaunchSpec& spec, const std::string& vm_dir) {
    auto host = [&](const std::string& p) { return p.empty() || p[0] == '/' ? p : vm_dir + "/" + p; };
    if (!spec.vmm_log_path.empty()) {
      BANGER_RETURN_IF_ERROR(CreateFcFileIfMissing(host(spec.vmm_log_path)));
      BANGER_RETURN_IF_ERROR(fc.PutLogger(spec.vmm_log_path, "Info"));
    }
    if (!spec.metrics_path.empty()) {
      BANGER_RETURN_IF_ERROR(CreateFcFileIfMissing(host(spec.metrics_path)));
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

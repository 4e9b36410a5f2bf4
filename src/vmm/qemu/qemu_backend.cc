// The QEMU backend: spawn qemu-system-x86_64 -M microvm with the argv from
// qemu_argv.h, then drive it over QMP (qmp_client.h).
#include <thread>

#include "base/fs.h"
#include "base/unique_fd.h"
#include "vmm/backend.h"
#include "vmm/launch_util.h"
#include "vmm/qemu/qemu_argv.h"
#include "vmm/qemu/qemu_snapshot.h"
#include "vmm/qemu/qmp_client.h"
#include "vmm/rate_limits.h"

namespace banger {
namespace {

// Bounds one QMP connection plus command outside Launch.
constexpr std::chrono::milliseconds kQmpTimeout{5000};
// How long QEMU gets to exit after QMP quit before we SIGKILL it.
constexpr std::chrono::milliseconds kQuitWait{2000};

class QemuBackend final : public VmmBackend {
 public:
  QemuBackend(BackendOptions opts, ProcessOps& ops) : opts_(std::move(opts)), ops_(ops) {}

  BackendKind kind() const override { return BackendKind::kQemu; }

  Status CheckAvailable() override {
    BANGER_ASSIGN_OR_RETURN(QemuAccel accel, ParseQemuAccel(opts_.qemu_accel));
    auto bin = FindExecutable(opts_.qemu_bin);
    if (!bin.ok()) {
      return Error::Unavailable("qemu not found (" + bin.error().message() +
                                "): install qemu-system-x86 or set qemu_bin in config.toml");
    }
    if (accel == QemuAccel::kKvm) {
      auto kvm = CheckKvmUsable();
      if (!kvm.ok()) {
        return Error::Unavailable("qemu_accel is \"kvm\" but " + kvm.error().message() +
                                  ": fix access to /dev/kvm, or set qemu_accel = \"tcg\" in config.toml"
                                  " (software emulation: slower, needs no KVM)");
      }
    }
    return OkStatus();
  }

  Result<VmmProcess> Launch(const LaunchSpec& spec, std::chrono::milliseconds timeout) override {
    return LaunchWith(spec, nullptr, true, timeout);
  }

  Result<VmmProcess> LaunchFromSnapshot(const LaunchSpec& spec, const SnapshotPaths& in, bool resume,
                                        std::chrono::milliseconds timeout) override {
    BANGER_ASSIGN_OR_RETURN(UniqueFd stream, OpenQemuSnapshotForRestore(in));
    return LaunchWith(spec, &stream, resume, timeout);
  }

  Status SaveSnapshot(const VmmProcess& p, const SnapshotPaths& out,
                      std::chrono::milliseconds timeout) override {
    return SaveQemuSnapshot(p, out, timeout);
  }

 private:
  // Launch, or with `incoming` (an open migration stream) a launch that
  // continues a saved VM: -S -incoming fd:N, then cont when `resume`.
  Result<VmmProcess> LaunchWith(const LaunchSpec& spec, const UniqueFd* incoming, bool resume,
                                std::chrono::milliseconds timeout) {
    Deadline deadline(timeout);
    BANGER_ASSIGN_OR_RETURN(QemuAccel accel, ParseQemuAccel(opts_.qemu_accel));
    BANGER_RETURN_IF_ERROR(CheckSocketPath("QMP socket", spec.control_sock_path));
    if (!spec.agent_sock_path.empty()) {
      BANGER_RETURN_IF_ERROR(CheckSocketPath("agent socket", spec.agent_sock_path));
    }
    const std::string runas = opts_.vmm_user ? opts_.vmm_user->name : "";
    BANGER_ASSIGN_OR_RETURN(std::vector<std::string> argv, BuildQemuArgv(opts_.qemu_bin, accel, spec, runas));
    if (incoming) argv.insert(argv.end(), {"-S", "-incoming", "fd:" + std::to_string(incoming->get())});

    // Otherwise a stale socket file could be mistaken for a ready QMP server.
    const std::vector<std::string> sockets = {spec.control_sock_path, spec.agent_sock_path};
    RemovePaths(sockets);

    // QEMU appends the console (-chardev file,append=on) to a file made
    // here with mode 0600: QEMU would create it with the umask's mode. The
    // daemon's upkeep caps it (base/fs.h RotateAppendedFile).
    BANGER_RETURN_IF_ERROR(CreateFileWithMode(spec.console_log_path, 0600));
    std::vector<LogMark> logs = {LogMark(spec.vmm_log_path)};
    SpawnOptions so;
    so.argv = std::move(argv);
    so.stdout_path = spec.vmm_log_path;
    so.cgroup_procs_files = spec.cgroup_procs_files;
    if (incoming) so.keep_fds = {incoming->get()};
    auto pid = SpawnDetached(so);
    if (!pid.ok()) return std::move(pid).error().Wrap("spawning qemu");
    auto who = IdentifySpawned(ops_, *pid, VmmUid(opts_));
    if (!who.ok()) {
      RemovePaths(sockets);
      return WithExitOutput(std::move(who).error(), ops_, ProcIdentity{}, logs);
    }
    LaunchGuard guard(ops_, *who, sockets);
    if (spec.on_spawn) BANGER_RETURN_IF_ERROR(spec.on_spawn(*who));

    auto qmp = WaitForQmp(*who, spec.control_sock_path, deadline);
    if (!qmp.ok()) return WithExitOutput(std::move(qmp).error(), ops_, *who, logs);
    if (incoming) {
      auto st = FinishIncoming(*qmp, resume, deadline);
      if (!st.ok()) return WithExitOutput(std::move(st).error(), ops_, *who, logs);
      guard.Release();
      return VmmProcess{*pid, spec.control_sock_path, *who, spec.agent_sock_path};
    }
    auto status = qmp->Execute("query-status", deadline.Remaining());
    if (!status.ok()) return WithExitOutput(std::move(status).error(), ops_, *who, logs);
    std::string state = StatusName(*status);
    if (state != "running") {
      return WithExitOutput(Error::Internal("qemu is \"" + state + "\" after start, not running"), ops_, *who,
                            logs);
    }
    guard.Release();
    return VmmProcess{*pid, spec.control_sock_path, *who, spec.agent_sock_path};
  }

  // Launch's body, above; everything else the backend does follows.
 public:
  Status Shutdown(const VmmProcess& p, std::chrono::milliseconds graceful) override {
    if (IsSameProcess(ops_, p.identity)) BANGER_RETURN_IF_ERROR(Stop(p, graceful));
    RemovePaths({p.control_sock_path, p.agent_sock_path});
    return OkStatus();
  }

  Status Pause(const VmmProcess& p) override { return Command(p, "stop"); }
  Status Resume(const VmmProcess& p) override { return Command(p, "cont"); }

  Result<Json> Metrics(const VmmProcess& p, const std::string&) override {
    BANGER_ASSIGN_OR_RETURN(QmpClient qmp, QmpClient::Connect(p.control_sock_path, kQmpTimeout));
    BANGER_ASSIGN_OR_RETURN(Json stats, qmp.Execute("query-blockstats", kQmpTimeout));
    return Json{{"blockstats", std::move(stats)}};
  }

  Status SetRateLimits(const VmmProcess& p, const std::vector<std::string>& drive_ids, bool,
                       const RateLimits& limits) override {
    BANGER_RETURN_IF_ERROR(CheckRateLimitSupport(BackendKind::kQemu, limits));
    BANGER_ASSIGN_OR_RETURN(QmpClient qmp, QmpClient::Connect(p.control_sock_path, kQmpTimeout));
    for (const auto& id : drive_ids) {
      auto res = qmp.Execute("block_set_io_throttle", kQmpTimeout, QemuBlockThrottleArgs(id, limits));
      if (!res.ok()) return std::move(res).error().Wrap("throttling drive " + id);
    }
    return OkStatus();
  }

  Result<std::string> QueryState(const VmmProcess& p) override {
    BANGER_ASSIGN_OR_RETURN(QmpClient qmp, QmpClient::Connect(p.control_sock_path, kQmpTimeout));
    BANGER_ASSIGN_OR_RETURN(Json status, qmp.Execute("query-status", kQmpTimeout));
    std::string state = StatusName(status);
    // QEMU's other states ("internal-error", "guest-panicked", "shutdown"...)
    // pass through as they are: they tell the operator more than a mapping.
    return state == "prelaunch" ? std::string("not_started") : state;
  }

  // After a snapshot launch: waits until the incoming migration is in (QEMU
  // leaves "inmigrate"; with -S it is then "paused"), then resumes when asked.
  static Status FinishIncoming(QmpClient& qmp, bool resume, const Deadline& deadline) {
    while (true) {
      BANGER_ASSIGN_OR_RETURN(Json status, qmp.Execute("query-status", deadline.Remaining()));
      std::string state = StatusName(status);
      if (state == "paused" || state == "running") break;
      if (state != "inmigrate")
        return Error::Internal("qemu is \"" + state + "\" after loading the snapshot");
      if (deadline.Expired()) return Error::Timeout("qemu did not finish loading the snapshot in time");
      std::this_thread::sleep_for(kVmmPollInterval);
    }
    if (!resume) return OkStatus();
    auto res = qmp.Execute("cont", deadline.Remaining());
    if (!res.ok()) return std::move(res).error().Wrap("resuming the restored vm");
    return OkStatus();
  }

  // query-status's "status" ("running", "paused", ...), or "unknown".
  static std::string StatusName(const Json& status) {
    if (status.is_object() && status.contains("status") && status["status"].is_string()) {
      return status["status"].get<std::string>();
    }
    return "unknown";
  }

  Status Command(const VmmProcess& p, const std::string& command) {
    BANGER_ASSIGN_OR_RETURN(QmpClient qmp, QmpClient::Connect(p.control_sock_path, kQmpTimeout));
    auto res = qmp.Execute(command, kQmpTimeout);
    if (!res.ok()) return std::move(res).error();
    return OkStatus();
  }

  // Retries until QMP answers; fails at once if QEMU exits first (it binds
  // the QMP socket before loading the kernel, so a bad kernel shows up as
  // an exit here rather than a refused connection).
  Result<QmpClient> WaitForQmp(const ProcIdentity& who, const std::string& sock, const Deadline& deadline) {
    Error last = Error::Timeout("QMP socket " + sock + " never appeared");
    while (true) {
      if (!IsSameProcess(ops_, who)) return Error::Unavailable("qemu exited during launch");
      if (PathExists(sock)) {
        auto qmp = QmpClient::Connect(sock, deadline.Remaining());
        if (qmp.ok()) return qmp;
        last = std::move(qmp).error();
      }
      if (deadline.Expired()) return Error::Timeout("qemu did not come up in time: " + last.message());
      std::this_thread::sleep_for(kVmmPollInterval);
    }
  }

  // Powerdown, then quit, then SIGKILL, each given its time to work.
  Status Stop(const VmmProcess& p, std::chrono::milliseconds graceful) {
    Deadline graceful_deadline(graceful);
    // A QMP failure only skips the polite steps: SIGKILL still follows.
    auto qmp = QmpClient::Connect(p.control_sock_path, kQmpTimeout);
    if (qmp.ok() && graceful.count() > 0) {
      // An ACPI power-button press; the guest decides whether to power off.
      (void)qmp->Execute("system_powerdown", kQmpTimeout);
    }
    if (WaitUntilGone(ops_, p.identity, graceful_deadline.Remaining())) return OkStatus();
    if (qmp.ok()) {
      // QEMU may close the socket before answering quit; its exit is the answer.
      (void)qmp->Execute("quit", kQmpTimeout);
      if (WaitUntilGone(ops_, p.identity, kQuitWait)) return OkStatus();
    }
    auto st = KillAndWait(ops_, p.identity, kVmmKillWait);
    if (!st.ok()) return std::move(st).error().Wrap("stopping qemu");
    return OkStatus();
  }

  const BackendOptions opts_;
  ProcessOps& ops_;
};

}  // namespace

std::unique_ptr<VmmBackend> MakeQemuBackend(const BackendOptions& opts, ProcessOps& ops) {
  return std::make_unique<QemuBackend>(opts, ops);
}

}  // namespace banger

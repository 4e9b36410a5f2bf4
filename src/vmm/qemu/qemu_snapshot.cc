#include "vmm/qemu/qemu_snapshot.h"

#include <fcntl.h>
#include <unistd.h>

#include <thread>

#include "vmm/launch_util.h"
#include "vmm/qemu/qmp_client.h"

namespace banger {
namespace {

// The name the stream's descriptor gets inside QEMU (QMP getfd).
constexpr const char* kStreamFdName = "banger-snapshot";
// How often query-migrate is polled.
constexpr std::chrono::milliseconds kMigratePoll{5};
// QEMU throttles migration to 128 MiB/s by default; a paused VM saved to a
// local file has no reason to wait.
constexpr int64_t kUnthrottled = int64_t{1} << 40;
// How long a failed save waits for QEMU to drop the stream.
constexpr std::chrono::milliseconds kCancelWait{5000};

std::string StringField(const Json& j, const char* key) {
  if (j.is_object() && j.contains(key) && j[key].is_string()) return j[key].get<std::string>();
  return "";
}

// QEMU's migration states in which its migration thread still works on the
// stream (qapi MigrationStatus).
bool MigrationActive(const std::string& status) {
  return status == "setup" || status == "active" || status == "device" || status == "pre-switchover" ||
         status == "cancelling" || status == "wait-unplug";
}

// After a save that failed or ran out of time: cancels the migration and
// waits (at most kCancelWait) until QEMU has let go of the stream. Only then
// may the caller resume the VM (no `cont` racing the migration thread) and
// remove the file for good (no descriptor left holding its blocks).
void StopMigration(QmpClient& qmp) {
  Deadline deadline(kCancelWait);
  (void)qmp.Execute("migrate_cancel", deadline.Remaining());
  while (!deadline.Expired()) {
    auto info = qmp.Execute("query-migrate", deadline.Remaining());
    if (!info.ok() || !MigrationActive(StringField(*info, "status"))) return;
    std::this_thread::sleep_for(kMigratePoll);
  }
}

// Polls query-migrate until the migration completed or failed.
Status WaitForMigration(QmpClient& qmp, const Deadline& deadline) {
  while (true) {
    auto info = qmp.Execute("query-migrate", deadline.Remaining());
    if (!info.ok()) {
      StopMigration(qmp);
      return std::move(info).error().Wrap("asking qemu how the save goes");
    }
    const std::string status = StringField(*info, "status");
    if (status == "completed") return OkStatus();
    if (!MigrationActive(status)) {
      // "failed", "cancelled": QEMU's own words say why ("Unable to write to
      // file: No space left on device" for a full disk).
      std::string why = StringField(*info, "error-desc");
      return Error::Internal("qemu could not write the snapshot: " + (why.empty() ? status : why));
    }
    if (deadline.Expired()) {
      StopMigration(qmp);
      return Error::Timeout("qemu did not finish writing the snapshot in time (status \"" + status + "\")");
    }
    std::this_thread::sleep_for(kMigratePoll);
  }
}

}  // namespace

Status SaveQemuSnapshot(const VmmProcess& p, const SnapshotPaths& out, std::chrono::milliseconds timeout) {
  Deadline deadline(timeout);
  if (out.state_path.empty() || out.state_path[0] != '/') {
    return Error::Invalid("qemu snapshot: the state path must be absolute");
  }
  UniqueFd file(::open(out.state_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!file.valid()) return Error::FromErrno("creating " + out.state_path);
  BANGER_ASSIGN_OR_RETURN(QmpClient qmp, QmpClient::Connect(p.control_sock_path, deadline.Remaining()));
  auto step = [&](const std::string& what, Result<Json> res) -> Status {
    if (!res.ok()) return std::move(res).error().Wrap(what);
    return OkStatus();
  };
  BANGER_RETURN_IF_ERROR(step("pausing the vm", qmp.Execute("stop", deadline.Remaining())));
  BANGER_RETURN_IF_ERROR(step(
      "unthrottling migration",
      qmp.Execute("migrate-set-parameters", deadline.Remaining(), Json{{"max-bandwidth", kUnthrottled}})));
  BANGER_RETURN_IF_ERROR(
      step("handing the snapshot file to qemu",
           qmp.ExecuteWithFd("getfd", deadline.Remaining(), Json{{"fdname", kStreamFdName}}, file.get())));
  // A successful migrate takes the descriptor out of QEMU's table; until
  // then QEMU holds the file open, and a refused migrate must not leave it so.
  if (auto st = step("starting the save", qmp.Execute("migrate", deadline.Remaining(),
                                                      Json{{"uri", std::string("fd:") + kStreamFdName}}));
      !st.ok()) {
    StopMigration(qmp);  // in case QEMU started it all the same (an answer that timed out)
    (void)qmp.Execute("closefd", std::chrono::milliseconds(1000), Json{{"fdname", kStreamFdName}});
    return st;
  }
  BANGER_RETURN_IF_ERROR(WaitForMigration(qmp, deadline));
  // QEMU wrote through its own copy of the descriptor; ours reaches the same
  // open file, so this makes the stream durable before anyone records it.
  if (::fsync(file.get()) != 0) return Error::FromErrno("syncing " + out.state_path);
  return OkStatus();
}

Result<UniqueFd> OpenQemuSnapshotForRestore(const SnapshotPaths& in) {
  UniqueFd file(::open(in.state_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!file.valid()) return Error::FromErrno("opening snapshot " + in.state_path);
  return file;
}

}  // namespace banger

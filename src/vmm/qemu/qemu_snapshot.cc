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

std::string StringField(const Json& j, const char* key) {
  if (j.is_object() && j.contains(key) && j[key].is_string()) return j[key].get<std::string>();
  return "";
}

// Polls query-migrate until the migration completed or failed.
Status WaitForMigration(QmpClient& qmp, const Deadline& deadline) {
  while (true) {
    BANGER_ASSIGN_OR_RETURN(Json info, qmp.Execute("query-migrate", deadline.Remaining()));
    const std::string status = StringField(info, "status");
    if (status == "completed") return OkStatus();
    if (status == "failed" || status == "cancelled") {
      std::string why = StringField(info, "error-desc");
      return Error::Internal("qemu could not write the snapshot: " + (why.empty() ? status : why));
    }
    if (deadline.Expired()) {
      (void)qmp.Execute("migrate_cancel", std::chrono::milliseconds(1000));
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
  BANGER_RETURN_IF_ERROR(
      step("starting the save",
           qmp.Execute("migrate", deadline.Remaining(), Json{{"uri", std::string("fd:") + kStreamFdName}})));
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

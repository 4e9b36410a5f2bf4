// WorkspaceService: `workspace prepare` (a host git repository copied into a
// running VM through its guest agent (GuestExec), see workspace/workspace.h for what is
// copied in each mode) and the record of prepared workspaces (one row per
// VM and guest path; preparing the same path again replaces it).
//
// Thread-safety: safe for concurrent use; prepares of one VM and guest path
// are serialized (the guest swaps the directory in at the end).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "daemon/events.h"
#include "daemon/guest_exec.h"
#include "daemon/vm_service.h"
#include "model/requests.h"
#include "store/store.h"

namespace banger {

class WorkspaceService {
 public:
  WorkspaceService(VmService& vms, Store& store, EventLog& events, std::string tmp_dir);

  // `progress` gets human-readable lines; `cancel` (the client left) stops
  // the copy, leaving the guest's previous contents in place.
  Result<WorkspacePrepareResult> Prepare(const std::string& vm_ref, const PrepareWorkspaceRequest& req,
                                         const std::function<void(const std::string&)>& progress,
                                         const std::atomic<bool>& cancel);
  Result<std::vector<WorkspacePrepareResult>> List(const std::string& vm_ref);
  // `workspace export` / `diff` (workspace_export.cc): the guest's commits and
  // uncommitted changes as commits in the host repository, optionally a new
  // branch; the host's working tree, index and HEAD are not touched.
  Result<WorkspaceExportResult> Export(const std::string& vm_ref, const ExportWorkspaceRequest& req,
                                       const std::function<void(const std::string&)>& progress,
                                       const std::atomic<bool>& cancel);

 private:
  // The one workspace of the repository at `source_path` in `vm`.
  Result<WorkspacePrepareResult> FindWorkspace(const VmRecord& vm, const std::string& source_path,
                                               const std::string& guest_path);
  // Runs argv in the guest with stdout into a new file at `path` (at most
  // `max_bytes`, at most 10 minutes); returns the bytes written.
  Result<int64_t> GuestToFile(const std::string& vm_id, const std::vector<std::string>& argv,
                              const std::string& path, int64_t max_bytes,
                              std::chrono::milliseconds agent_timeout, const std::string& what,
                              const std::atomic<bool>& cancel);

  std::shared_ptr<std::mutex> LockFor(const std::string& key);

  VmService& vms_;
  GuestExec exec_;
  Store& store_;
  EventLog& events_;
  std::string tmp_dir_;
  std::mutex locks_mu_;
  std::map<std::string, std::shared_ptr<std::mutex>> locks_;  // Guarded by locks_mu_.
};

}  // namespace banger

#include "daemon/workspace_service.h"

#include <signal.h>

#include <cstdio>
#include <thread>

#include "base/fs.h"
#include "base/log.h"
#include "base/strings.h"
#include "base/time.h"
#include "workspace/workspace.h"

namespace banger {

namespace {

constexpr size_t kMaxGuestErr = 64 * 1024;
// After stdin is closed, the guest's tar only writes what it has buffered.
constexpr std::chrono::minutes kUnpackTimeout{5};

std::string Mib(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

}  // namespace

WorkspaceService::WorkspaceService(VmService& vms, Store& store, EventLog& events, std::string tmp_dir)
    : vms_(vms), exec_(vms), store_(store), events_(events), tmp_dir_(std::move(tmp_dir)) {}

std::shared_ptr<std::mutex> WorkspaceService::LockFor(const std::string& key) {
  std::lock_guard<std::mutex> lk(locks_mu_);
  auto& m = locks_[key];
  if (!m) m = std::make_shared<std::mutex>();
  return m;
}

Result<WorkspacePrepareResult> WorkspaceService::Prepare(
    const std::string& vm_ref, const PrepareWorkspaceRequest& req,
    const std::function<void(const std::string&)>& progress, const std::atomic<bool>& cancel) {
  // Everything the caller can get wrong is checked before anything is done.
  BANGER_ASSIGN_OR_RETURN(WorkspacePrepareMode mode,
                          ParseWorkspacePrepareMode(req.mode.empty() ? "shallow_overlay" : req.mode));
  if (!req.branch.empty()) BANGER_RETURN_IF_ERROR(ValidateBranchName(req.branch));
  if (!req.guest_path.empty()) BANGER_RETURN_IF_ERROR(ValidateGuestPath(req.guest_path));
  BANGER_ASSIGN_OR_RETURN(VmView view, vms_.Get(vm_ref));
  const VmRecord& vm = view.vm;
  if (!VmStateHasVmm(vm.state)) {  // a paused VM is resumed by the exec below
    return Error::Conflict("vm " + vm.name + " is " + VmStateName(vm.state) +
                           "; start it with `banger vm start " + vm.name + "`");
  }
  BANGER_ASSIGN_OR_RETURN(RepoInfo repo, InspectRepo(req.source_path));
  std::string guest_path = req.guest_path.empty() ? "/root/" + repo.name : req.guest_path;
  BANGER_RETURN_IF_ERROR(ValidateGuestPath(guest_path));
  std::string ctx = "preparing " + repo.root + " in vm " + vm.name + " at " + guest_path;

  auto lock = LockFor(vm.id + ":" + guest_path);
  std::lock_guard<std::mutex> lk(*lock);

  progress("staging " + std::string(WorkspacePrepareModeName(mode)) + " of " + repo.root + " (" +
           repo.head_commit.substr(0, 12) + ")");
  BANGER_ASSIGN_OR_RETURN(TempDir staging, Annotate(TempDir::Create(tmp_dir_, "ws-"), ctx));
  BANGER_RETURN_IF_ERROR(Annotate(StageGitDir(repo, mode, req.branch, staging.path()), ctx));
  BANGER_ASSIGN_OR_RETURN(auto files, Annotate(WorkTreeFiles(repo, mode), ctx));
  if (cancel) return Error::Unavailable(ctx + ": cancelled");

  progress("waiting for the guest agent of " + vm.name);
  ExecRequest er;
  er.argv = GuestUnpackArgv(guest_path, req.readonly);
  er.cwd = "/";
  BANGER_ASSIGN_OR_RETURN(auto cmd, Annotate(exec_.Open(vm.id, er, req.agent_timeout), ctx));
  ExecChannel& ch = cmd->channel();

  // The guest's output is drained while we write (flow control would stall
  // it otherwise); its stderr explains a failure. Bounded: 64 KiB.
  std::string guest_err;
  std::optional<ExitStatus> exit;
  Error read_error = Error::Internal("");
  std::thread reader([&] {
    for (;;) {
      auto ev = cmd->Next();
      if (!ev.ok()) {
        read_error = std::move(ev).error();
        return;
      }
      if (ev->kind == ExecEvent::kExit) {
        exit = ev->exit;
        return;
      }
      if (ev->kind != ExecEvent::kStderr) continue;
      if (guest_err.size() < kMaxGuestErr) guest_err.append(ev->data, 0, kMaxGuestErr - guest_err.size());
    }
  });
  auto started = std::chrono::steady_clock::now();
  auto last_report = started;
  auto packed = Pack(
      repo, staging.path(), files,
      [&](std::string_view chunk) -> Status {
        if (cancel) return Error::Unavailable("cancelled");
        return ch.WriteStdin(chunk);
      },
      [&](const PackStats& s) {
        auto now = std::chrono::steady_clock::now();
        if (now - last_report < std::chrono::milliseconds(500)) return;
        last_report = now;
        progress("copied " + std::to_string(s.files) + " files, " + Mib(s.bytes));
      });
  if (!packed.ok()) {
    (void)ch.Signal(SIGKILL);  // a half-written stream must not be unpacked
  }
  (void)ch.CloseStdin();
  // The whole stream is in the guest: unpacking the rest has a deadline.
  cmd->KillAt(std::chrono::steady_clock::now() + kUnpackTimeout, std::chrono::seconds(10));
  reader.join();
  // The guest's own failure (a full disk, no tar) says more than the write
  // it broke off.
  if (exit && exit->ShellCode() != 0 && !cancel) {
    return Error::Internal(ctx + ": unpacking in the guest failed (exit " +
                           std::to_string(exit->ShellCode()) + "): " + LastLine(guest_err));
  }
  if (!packed.ok()) return packed.error().Wrap(ctx);
  if (!exit) return read_error.Wrap(ctx + ": guest agent connection lost");
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  char rate[64];
  std::snprintf(rate, sizeof rate, " in %.1f s", secs);
  progress("copied " + std::to_string(packed->files) + " files, " + Mib(packed->bytes) + rate);

  WorkspacePrepareResult r;
  r.vm_id = vm.id;
  r.source_path = req.source_path;
  r.repo_root = repo.root;
  r.repo_name = repo.name;
  r.guest_path = guest_path;
  r.mode = mode;
  r.readonly = req.readonly;
  r.head_commit = repo.head_commit;
  r.current_branch = repo.current_branch;
  if (!req.branch.empty()) {
    r.branch_name = req.branch;
    r.base_commit = repo.head_commit;
  }
  r.prepared_at = Now();
  BANGER_RETURN_IF_ERROR(Annotate(store_.UpsertWorkspace(r), ctx + ": recording it"));
  Event ev;
  ev.type = "workspace.prepared";
  ev.vm_id = vm.id;
  ev.vm_name = vm.name;
  ev.data = Json{{"guest_path", guest_path},
                 {"repo_root", repo.root},
                 {"mode", WorkspacePrepareModeName(mode)},
                 {"head_commit", repo.head_commit}};
  events_.Emit(std::move(ev));
  spdlog::info("workspace {} prepared in vm {} at {} ({} files, {})", repo.root, vm.name, guest_path,
               packed->files, Mib(packed->bytes));
  return r;
}

Result<std::vector<WorkspacePrepareResult>> WorkspaceService::List(const std::string& vm_ref) {
  BANGER_ASSIGN_OR_RETURN(VmView view, vms_.Get(vm_ref));
  return store_.ListWorkspaces(view.vm.id);
}

}  // namespace banger

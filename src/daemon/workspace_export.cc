// WorkspaceService::Export: a prepared workspace's guest changes back into
// the host repository (docs/adr/0021). The guest sends what it has (its HEAD,
// a bundle of its commits, a tar of its work tree) over ordinary agent
// execs, each with a deadline and a byte cap; the host builds the commits
// with plumbing (workspace/export.h) as the repository's owner.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <optional>

#include "base/fs.h"
#include "base/log.h"
#include "base/strings.h"
#include "base/unique_fd.h"
#include "daemon/workspace_service.h"
#include "workspace/export.h"
#include "workspace/workspace.h"

namespace banger {

namespace {

constexpr int64_t kDefaultMaxBytes = int64_t{1} << 30;
constexpr size_t kMaxGuestErr = 64 * 1024;
// Each guest command (bundle, tar) gets this long, then SIGKILL.
constexpr std::chrono::minutes kGuestCommandTimeout{10};

// $1 = the workspace directory. Prints the guest's HEAD commit when the
// guest has git and the directory a repository; exit 3 = no such directory.
constexpr const char* kProbeScript =
    "d=$1\n"
    "[ -d \"$d\" ] || { echo \"no directory $d in the guest\" >&2; exit 3; }\n"
    "cd \"$d\" || exit 3\n"
    "if [ -e .git ] && command -v git >/dev/null 2>&1; then\n"
    "  git -c safe.directory='*' rev-parse --verify -q 'HEAD^{commit}' || true\n"
    "fi\n";

// $1 = the directory, $2 = the base commit. A bundle of HEAD's commits that
// the base does not have on stdout; nothing when there are none.
constexpr const char* kBundleScript =
    "set -e\n"
    "cd \"$1\"\n"
    "g() { git -c safe.directory='*' \"$@\"; }\n"
    "[ -n \"$(g rev-list -n 1 HEAD \"^$2\")\" ] || exit 0\n"
    "t=$(mktemp)\n"
    "trap 'rm -f \"$t\"' EXIT\n"
    "g bundle create \"$t\" HEAD \"^$2\" >&2\n"
    "cat \"$t\"\n";

// $1 = the directory. A tar of everything in it but the top .git, with
// busybox tar (no --exclude): the top-level names are listed one by one.
constexpr const char* kTarScript =
    "cd \"$1\" || exit 3\n"
    "set --\n"
    "for f in .[!.]* ..?* *; do\n"
    "  if [ -e \"$f\" ] || [ -L \"$f\" ]; then [ \"$f\" = .git ] || set -- \"$@\" \"./$f\"; fi\n"
    "done\n"
    "[ $# -gt 0 ] || exit 0\n"
    "exec tar -c -f - \"$@\"\n";

bool IsHexId(const std::string& s) {
  if (s.size() != 40 && s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string MibText(int64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

}  // namespace

Result<int64_t> WorkspaceService::GuestToFile(const std::string& vm_id, const std::vector<std::string>& argv,
                                              const std::string& path, int64_t max_bytes,
                                              std::chrono::milliseconds agent_timeout,
                                              const std::string& what, const std::atomic<bool>& cancel) {
  ExecRequest er;
  er.argv = argv;
  er.cwd = "/";
  BANGER_ASSIGN_OR_RETURN(auto cmd, exec_.Open(vm_id, er, agent_timeout));
  (void)cmd->channel().CloseStdin();
  cmd->KillAt(std::chrono::steady_clock::now() + kGuestCommandTimeout, std::chrono::seconds(10));
  // Readable by the repository's owner, who runs git on it (ADR 0021).
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd.valid()) return Error::FromErrno("creating " + path);
  int64_t total = 0;
  std::string err;
  for (;;) {
    if (cancel) {
      (void)cmd->channel().Signal(SIGKILL);
      return Error::Unavailable(what + ": cancelled");
    }
    auto ev = cmd->Next();
    if (!ev.ok()) {
      if (cmd->killed_at_deadline()) return Error::Timeout(what + ": the guest took longer than 10 minutes");
      return ev.error().Wrap(what + ": guest agent connection lost");
    }
    if (ev->kind == ExecEvent::kExit) {
      if (ev->exit.ShellCode() != 0) {
        return Error::Internal(what + " failed in the guest (exit " + std::to_string(ev->exit.ShellCode()) +
                               "): " + LastLine(err));
      }
      return total;
    }
    if (ev->kind == ExecEvent::kStderr) {
      if (err.size() < kMaxGuestErr) err.append(ev->data, 0, kMaxGuestErr - err.size());
      continue;
    }
    total += static_cast<int64_t>(ev->data.size());
    if (total > max_bytes) {
      (void)cmd->channel().Signal(SIGKILL);
      return Error::Invalid(what + ": the guest sent more than " + MibText(max_bytes) +
                            " (raise --max-size)");
    }
    std::string_view left = ev->data;
    while (!left.empty()) {
      ssize_t n = ::write(fd.get(), left.data(), left.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Error::FromErrno("writing " + path);
      left.remove_prefix(static_cast<size_t>(n));
    }
  }
}

Result<WorkspacePrepareResult> WorkspaceService::FindWorkspace(const VmRecord& vm,
                                                               const std::string& source_path,
                                                               const std::string& guest_path) {
  BANGER_ASSIGN_OR_RETURN(RepoInfo repo, InspectRepo(source_path));
  BANGER_ASSIGN_OR_RETURN(auto all, store_.ListWorkspaces(vm.id));
  std::vector<WorkspacePrepareResult> found;
  for (auto& w : all) {
    if (w.repo_root == repo.root && (guest_path.empty() || w.guest_path == guest_path)) found.push_back(w);
  }
  if (found.empty()) {
    return Error::NotFound("vm " + vm.name + " has no workspace of " + repo.root +
                           (guest_path.empty() ? "" : " at " + guest_path) + " (`banger workspace prepare " +
                           vm.name + "` first)");
  }
  if (found.size() > 1) {
    std::string paths;
    for (const auto& w : found) paths += (paths.empty() ? "" : ", ") + w.guest_path;
    return Error::Invalid("vm " + vm.name + " has " + std::to_string(found.size()) + " workspaces of " +
                          repo.root + " (" + paths + "); pick one with --guest-path");
  }
  return found.front();
}

Result<WorkspaceExportResult> WorkspaceService::Export(
    const std::string& vm_ref, const ExportWorkspaceRequest& req,
    const std::function<void(const std::string&)>& progress, const std::atomic<bool>& cancel) {
  // Everything the caller can get wrong is checked before the guest is asked.
  BANGER_RETURN_IF_ERROR(ValidateRequest(req));
  if (!req.branch.empty()) BANGER_RETURN_IF_ERROR(ValidateBranchName(req.branch));
  if (!req.guest_path.empty()) BANGER_RETURN_IF_ERROR(ValidateGuestPath(req.guest_path));
  const int64_t max_bytes = req.max_bytes > 0 ? req.max_bytes : kDefaultMaxBytes;
  BANGER_ASSIGN_OR_RETURN(VmView view, vms_.Get(vm_ref));
  const VmRecord& vm = view.vm;
  BANGER_ASSIGN_OR_RETURN(WorkspacePrepareResult ws, FindWorkspace(vm, req.source_path, req.guest_path));
  if (!VmStateHasVmm(vm.state)) {
    return Error::Conflict("vm " + vm.name + " is " + VmStateName(vm.state) +
                           "; start it with `banger vm start " + vm.name + "`");
  }
  const std::string ctx = "exporting " + ws.guest_path + " of vm " + vm.name + " to " + ws.repo_root;
  const std::string& base = ws.head_commit;
  BANGER_ASSIGN_OR_RETURN(GitUser who, Annotate(RepoOwner(ws.repo_root), ctx));
  if (!HasCommit(ws.repo_root, base, who)) {
    return Error::Conflict(ctx + ": the prepared commit " + base.substr(0, 12) +
                           " is no longer in the repository");
  }
  if (!req.branch.empty() && !req.force) {
    // Said now, not after the copy; CreateBranch checks again atomically.
    if (BranchExists(ws.repo_root, req.branch, who)) {
      return Error::Conflict("branch " + req.branch + " already exists in " + ws.repo_root +
                             " (--force replaces it)");
    }
  }

  auto lock = LockFor(vm.id + ":" + ws.guest_path);
  std::lock_guard<std::mutex> lk(*lock);

  // The owner (not root) runs git on the files, so they live where it can
  // reach them: root:owner's group 0710 (nobody else gets in), the guest's
  // files root's (the owner cannot swap a path under the unpacking), and
  // the temporary index in a directory of the owner's.
  std::optional<TempDir> own_tmp;  // the daemon's tmp, when git runs as the daemon's user
  std::optional<ScratchDir> shared_tmp;
  if (who.run_as) {
    BANGER_ASSIGN_OR_RETURN(ScratchDir d, Annotate(ScratchDir::Create("/var/tmp", "banger-export-"), ctx));
    shared_tmp.emplace(std::move(d));
  } else {
    BANGER_ASSIGN_OR_RETURN(TempDir d, Annotate(TempDir::Create(tmp_dir_, "wsx-"), ctx));
    own_tmp.emplace(std::move(d));
  }
  const std::string tmp_path = shared_tmp ? shared_tmp->path() : (own_tmp ? own_tmp->path() : std::string());
  const std::string index_dir = tmp_path + "/index.d";
  if (::mkdir(index_dir.c_str(), 0700) != 0) return Error::FromErrno(ctx + ": creating " + index_dir);
  if (who.run_as &&
      (::chown(tmp_path.c_str(), 0, who.run_as->gid) != 0 || ::chmod(tmp_path.c_str(), 0710) != 0 ||
       ::chown(index_dir.c_str(), who.run_as->uid, who.run_as->gid) != 0)) {
    return Error::FromErrno(ctx + ": opening " + tmp_path + " to the repository's owner");
  }

  progress("waiting for the guest agent of " + vm.name);
  GuestRunOptions ro;
  ro.agent_timeout = req.agent_timeout;
  ro.max_output = 4096;
  ExecRequest probe;
  probe.argv = {"sh", "-c", kProbeScript, "banger-export", ws.guest_path};
  probe.cwd = "/";
  BANGER_ASSIGN_OR_RETURN(GuestRunResult pr, Annotate(exec_.Run(vm.id, probe, ro), ctx));
  if (pr.code() == 3) return Error::NotFound(ctx + ": " + LastLine(pr.err));
  if (pr.code() != 0) {
    return Error::Internal(ctx + ": the guest's probe failed (exit " + std::to_string(pr.code()) +
                           "): " + LastLine(pr.err));
  }
  std::string guest_head = Trim(pr.out);
  if (!guest_head.empty() && !IsHexId(guest_head)) {
    return Error::Internal(ctx + ": the guest's HEAD is not a commit id");
  }

  std::string parent = base;
  int64_t bytes = 0;
  if (!guest_head.empty() && guest_head != base) {
    progress("fetching the guest's commits");
    const std::string bundle = tmp_path + "/guest.bundle";
    BANGER_ASSIGN_OR_RETURN(
        int64_t n,
        Annotate(GuestToFile(vm.id, {"sh", "-c", kBundleScript, "banger-export", ws.guest_path, base}, bundle,
                             max_bytes, req.agent_timeout, "bundling the guest's commits", cancel),
                 ctx));
    bytes += n;
    if (n > 0) {
      BANGER_ASSIGN_OR_RETURN(parent, Annotate(FetchBundle(ws.repo_root, bundle, who), ctx));
    } else if (HasCommit(ws.repo_root, guest_head, who)) {
      parent = guest_head;  // the guest went back to an older commit
    } else {
      return Error::Conflict(ctx + ": the guest's HEAD " + guest_head.substr(0, 12) +
                             " is neither a descendant of the prepared commit nor in the repository");
    }
  }
  if (ws.mode == WorkspacePrepareMode::kMetadataOnly && guest_head.empty()) {
    return Error::Invalid(ctx + ": the workspace holds only .git and the guest has no git to check it out");
  }

  progress("copying the guest's work tree");
  const std::string tar = tmp_path + "/tree.tar";
  BANGER_ASSIGN_OR_RETURN(
      int64_t tn,
      Annotate(GuestToFile(vm.id, {"sh", "-c", kTarScript, "banger-export", ws.guest_path}, tar,
                           max_bytes - bytes, req.agent_timeout, "packing the guest's work tree", cancel),
               ctx));
  bytes += tn;
  const std::string tree = tmp_path + "/tree";
  if (::mkdir(tree.c_str(), 0755) != 0) return Error::FromErrno(ctx + ": creating " + tree);
  BANGER_ASSIGN_OR_RETURN(ExtractStats ex, Annotate(ExtractGuestTree(tar, tree, max_bytes), ctx));
  if (cancel) return Error::Unavailable(ctx + ": cancelled");

  progress("building the commits (" + std::to_string(ex.files) + " files)");
  std::string message = req.commit_message.empty()
                            ? "Uncommitted changes from vm " + vm.name + ":" + ws.guest_path
                            : req.commit_message;
  BANGER_ASSIGN_OR_RETURN(
      std::string tip,
      Annotate(CommitWorkTree(ws.repo_root, parent, tree, index_dir + "/index", message, who), ctx));
  WorkspaceExportResult r;
  r.vm_id = vm.id;
  r.repo_root = ws.repo_root;
  r.guest_path = ws.guest_path;
  r.base_commit = base;
  r.guest_head = guest_head;
  r.commit = tip;
  r.uncommitted = tip != parent;
  r.bytes = bytes;
  BANGER_ASSIGN_OR_RETURN(r.commits, Annotate(CountCommits(ws.repo_root, base, tip, who), ctx));
  if (!req.branch.empty()) {
    BANGER_RETURN_IF_ERROR(Annotate(CreateBranch(ws.repo_root, req.branch, tip, req.force, who), ctx));
    r.branch = req.branch;
  }
  Event ev;
  ev.type = "workspace.exported";
  ev.vm_id = vm.id;
  ev.vm_name = vm.name;
  ev.data =
      Json{{"guest_path", ws.guest_path}, {"repo_root", ws.repo_root}, {"commit", tip}, {"branch", r.branch}};
  events_.Emit(std::move(ev));
  spdlog::info("workspace {} of vm {} exported to {} ({} commits{})", ws.guest_path, vm.name, ws.repo_root,
               r.commits, r.branch.empty() ? "" : ", branch " + r.branch);
  return r;
}

}  // namespace banger

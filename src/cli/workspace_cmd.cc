// banger workspace prepare|list|export|diff: a host git repository into a
// running VM, and the guest's changes back.
#include <memory>
#include <string>

#include "base/fs.h"
#include "base/process.h"
#include "base/strings.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "http/http.h"
#include "model/requests.h"

namespace banger {
namespace {

struct PrepareFlags {
  std::string vm;
  std::string path = ".";
  std::string mode = "shallow_overlay";
  bool readonly = false;
  std::string branch;
  std::string guest_path;
  int timeout_s = 120;
};

std::string WorkspacesPath(const std::string& vm) { return "/v1/vms/" + UrlEncode(vm) + "/workspaces"; }

int WorkspacePrepare(CliContext& ctx, const PrepareFlags& f) {
  PrepareWorkspaceRequest req;
  // The daemon's working directory is not ours: send an absolute path.
  req.source_path = AbsolutePath(f.path);
  req.guest_path = f.guest_path;
  req.mode = f.mode;
  req.readonly = f.readonly;
  req.branch = f.branch;
  req.agent_timeout = std::chrono::seconds(f.timeout_s);
  auto w = ProgressCall(ctx, WorkspacesPath(f.vm) + "/prepare", ToJson(req), "the workspace copy");
  if (!w.ok()) return Report(w.error());
  if (ctx.json()) {
    ctx.OutJson(*w);
  } else {
    ctx.Out(JsonText(*w, "/guest_path") + "\n");
  }
  return kExitOk;
}

std::string RenderWorkspaces(const Json& ws) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& w : ws) {
    std::string branch = JsonText(w, "/branch_name");
    if (branch.empty()) branch = JsonText(w, "/current_branch");
    rows.push_back({JsonText(w, "/guest_path"), JsonText(w, "/repo_root"), JsonText(w, "/mode"),
                    JsonText(w, "/head_commit").substr(0, 12), branch, JsonText(w, "/prepared_at")});
  }
  return RenderTable({"GUEST PATH", "SOURCE", "MODE", "COMMIT", "BRANCH", "PREPARED"}, rows);
}

struct ExportFlags {
  std::string vm;
  std::string path = ".";
  std::string branch;
  std::string patch;
  std::string commit_message;
  std::string guest_path;
  bool force = false;
  int64_t max_mib = 1024;
  int timeout_s = 120;
};

// The daemon builds the commits in the repository (as its owner); the
// patch and the diff are read from them here, as the user.
Result<Json> CallExport(CliContext& ctx, const ExportFlags& f, const std::string& branch) {
  ExportWorkspaceRequest req;
  req.source_path = AbsolutePath(f.path);
  req.guest_path = f.guest_path;
  req.branch = branch;
  req.force = f.force;
  req.commit_message = f.commit_message;
  req.max_bytes = f.max_mib << 20;
  req.agent_timeout = std::chrono::seconds(f.timeout_s);
  return ProgressCall(ctx, WorkspacesPath(f.vm) + "/export", ToJson(req), "the workspace export");
}

Result<std::string> GitOut(const Json& w, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"git", "-C", JsonText(w, "/repo_root")};
  argv.insert(argv.end(), args.begin(), args.end());
  BANGER_ASSIGN_OR_RETURN(auto r, RunCommand(argv, std::chrono::minutes(5)));
  if (r.exit_code != 0) return Error::Internal("git " + args.front() + ": " + LastLine(r.err));
  return r.out;
}

int WorkspaceExport(CliContext& ctx, const ExportFlags& f) {
  if (f.branch.empty() && f.patch.empty()) {
    return Report(Error::Invalid("workspace export: give --branch NAME or --patch FILE"), kExitUsage);
  }
  auto w = CallExport(ctx, f, f.branch);
  if (!w.ok()) return Report(w.error());
  const std::string base = JsonText(*w, "/base_commit");
  const std::string tip = JsonText(*w, "/commit");
  const int64_t n = JsonInt(*w, "/commits");
  std::string summary;
  if (!f.patch.empty()) {
    auto patch = GitOut(*w, {"format-patch", "--stdout", "--binary", base + ".." + tip});
    if (!patch.ok()) return Report(patch.error());
    if (f.patch == "-") {
      ctx.Out(*patch);
    } else {
      auto st = WriteFileAtomic(AbsolutePath(f.patch), *patch, 0644);
      if (!st.ok()) return Report(st.error());
    }
    summary = std::to_string(n) + " commit(s) as a patch in " + f.patch;
  }
  if (!f.branch.empty()) {
    summary = "branch " + f.branch + " (" + std::to_string(n) + " commit(s) on " + base.substr(0, 12) + ")" +
              (summary.empty() ? "" : ", " + summary);
  }
  if (n == 0) summary += ": nothing changed in the guest";
  if (ctx.json()) {
    ctx.OutJson(*w);
  } else if (f.patch != "-") {
    ctx.Out(summary + "\n");
  }
  return kExitOk;
}

int WorkspaceDiff(CliContext& ctx, const ExportFlags& f) {
  auto w = CallExport(ctx, f, "");
  if (!w.ok()) return Report(w.error());
  if (ctx.json()) {
    ctx.OutJson(*w);
    return kExitOk;
  }
  auto diff = GitOut(
      *w, {"diff", "--no-ext-diff", "--binary", JsonText(*w, "/base_commit"), JsonText(*w, "/commit")});
  if (!diff.ok()) return Report(diff.error());
  ctx.Out(*diff);
  return kExitOk;
}

void AddExportOptions(CLI::App* c, ExportFlags* f) {
  c->add_option("vm", f->vm, "VM name or id")->required();
  c->add_option("path", f->path, "A directory inside the prepared repository (default: .)");
  c->add_option("--guest-path", f->guest_path,
                "Which workspace, when the repository is prepared more than once")
      ->type_name("DIR");
  c->add_option("--max-size", f->max_mib, "MiB the guest may send back (default 1024)")
      ->type_name("MIB")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  c->add_option("--timeout", f->timeout_s, "Seconds to wait for a booting guest's agent (default 120)")
      ->type_name("S")
      ->check(CLI::Range(0, 3600));
}

}  // namespace

void AddWorkspaceCommands(CLI::App& app, Command* selected) {
  auto* ws = AddGroup(app, "workspace", "Git workspaces copied into VMs");
  {
    auto [c, f] = AddLeaf<PrepareFlags>(*ws, selected, "prepare",
                                        "Copy the git repository at PATH (default: here) into a running VM "
                                        "(default: /root/<repo name>)",
                                        WorkspacePrepare);
    c->add_option("vm", f->vm, "VM name or id")->required();
    c->add_option("path", f->path, "A directory inside the repository (default: .)");
    c->add_option("--mode", f->mode,
                  "shallow_overlay (HEAD + your uncommitted changes, default), full_copy (with all history), "
                  "metadata_only (just .git)")
        ->check(CLI::IsMember({"shallow_overlay", "full_copy", "metadata_only"}))
        ->type_name("MODE");
    c->add_flag("--readonly", f->readonly, "Make the copy read-only in the guest");
    c->add_option("--branch", f->branch, "Create and check out this branch at HEAD in the copy")
        ->type_name("B");
    c->add_option("--guest-path", f->guest_path, "Where in the guest (default: /root/<repo name>)")
        ->type_name("DIR");
    c->add_option("--timeout", f->timeout_s, "Seconds to wait for a booting guest's agent (default 120)")
        ->type_name("S")
        ->check(CLI::Range(0, 3600));
  }
  // -q: the guest paths `workspace export --guest-path` takes.
  AddRefListLeaf(*ws, selected, "list", "List the workspaces prepared in a VM", "vm", "VM name or id",
                 "guest paths", WorkspacesPath, "workspaces", RenderWorkspaces,
                 [](const Json& w) { return JsonText(w, "/guest_path"); });
  ws->get_subcommand("list")->alias("ls");
  {
    auto [c, f] =
        AddLeaf<ExportFlags>(*ws, selected, "export",
                             "Bring the guest's commits and uncommitted changes in a workspace back "
                             "as a new branch or a patch (the host's checkout is not touched)",
                             WorkspaceExport);
    AddExportOptions(c, f);
    c->add_option("--branch", f->branch, "Create this branch in the host repository")->type_name("NAME");
    c->add_option("--patch", f->patch, "Write the commits as a patch for `git am` (- = stdout)")
        ->type_name("FILE");
    c->add_option("--commit-message", f->commit_message, "Message of the commit of uncommitted changes")
        ->type_name("M");
    c->add_flag("--force", f->force, "Replace an existing branch (never the checked-out one)");
  }
  {
    auto [c, f] = AddLeaf<ExportFlags>(
        *ws, selected, "diff", "Show what changed in a VM's workspace since it was prepared", WorkspaceDiff);
    AddExportOptions(c, f);
  }
}

}  // namespace banger

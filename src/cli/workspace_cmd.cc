// banger workspace prepare|list: a host git repository into a running VM.
#include <memory>
#include <string>

#include "base/fs.h"
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
  auto w = ProgressCall(ctx, WorkspacesPath(f.vm), ToJson(req), "the workspace copy");
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
  AddRefLeaf(*ws, selected, "list", "List the workspaces prepared in a VM", "vm", "VM name or id",
             [](CliContext& ctx, const std::string& vm) {
               return GetAndShow(ctx, WorkspacesPath(vm), "workspaces", RenderWorkspaces);
             });
}

}  // namespace banger

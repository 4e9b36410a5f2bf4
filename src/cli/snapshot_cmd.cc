// banger vm snapshot create|list|delete, banger vm restore (snapshots on disk).
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/output.h"
#include "http/http.h"
#include "model/requests.h"

namespace banger {
namespace {

std::string SnapshotsPath(const std::string& vm) { return "/v1/vms/" + UrlEncode(vm) + "/snapshots"; }

struct CreateSnapshotFlags {
  std::string vm;
  std::string name;
};

struct DeleteSnapshotFlags {
  std::string vm;
  std::string name;
};

struct ForkFlags {
  std::string vm;
  std::string name;
  int count = 1;
};

struct RestoreFlags {
  std::string vm;
  std::string snapshot;
};

int64_t IntAt(const Json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_number_integer() ? j[key].get<int64_t>() : 0;
}

std::string RenderSnapshots(const Json& snaps) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : snaps) {
    rows.push_back({JsonText(s, "/name"), JsonText(s, "/created_at"),
                    FormatSizeBytes(IntAt(s, "bytes_on_disk")), JsonText(s, "/backend")});
  }
  return RenderTable({"NAME", "CREATED", "SIZE ON DISK", "BACKEND"}, rows);
}

int SnapshotCreate(CliContext& ctx, const CreateSnapshotFlags& f) {
  auto api = ctx.Connect();
  if (!api.ok()) return Report(api.error());
  ctx.Progress("saving vm " + f.vm + "...");
  CreateSnapshotRequest req{f.name};
  Json body = ToJson(req);
  auto s = (*api)->Call("POST", SnapshotsPath(f.vm), &body, kLongTimeout);
  if (!s.ok()) return Report(s.error());
  ctx.OutNameOrJson(*s);
  return kExitOk;
}

int SnapshotDelete(CliContext& ctx, const DeleteSnapshotFlags& f) {
  auto api = ctx.Connect();
  if (!api.ok()) return Report(api.error());
  auto r = (*api)->Call("DELETE", SnapshotsPath(f.vm) + "/" + UrlEncode(f.name), nullptr, kLongTimeout);
  if (!r.ok()) return Report(r.error());
  if (ctx.json()) {
    ctx.OutJson(*r);
  } else {
    ctx.Out(f.name + "\n");
  }
  return kExitOk;
}

int VmRestore(CliContext& ctx, const RestoreFlags& f) {
  auto api = ctx.Connect();
  if (!api.ok()) return Report(api.error());
  ctx.Progress("restoring vm " + f.vm + "...");
  RestoreVmRequest req{f.snapshot};
  Json body = ToJson(req);
  auto vm = (*api)->Call("POST", "/v1/vms/" + UrlEncode(f.vm) + "/restore", &body, kLongTimeout);
  if (!vm.ok()) return Report(vm.error());
  ctx.OutNameOrJson(*vm);
  return kExitOk;
}

int VmFork(CliContext& ctx, const ForkFlags& f) {
  auto api = ctx.Connect();
  if (!api.ok()) return Report(api.error());
  ctx.Progress("forking vm " + f.vm + "...");
  ForkVmRequest req{f.name, f.count};
  Json body = ToJson(req);
  auto r = (*api)->Call("POST", "/v1/vms/" + UrlEncode(f.vm) + "/fork", &body, kLongTimeout);
  if (!r.ok()) return Report(r.error());
  if (ctx.json()) {
    ctx.OutJson((*r)["vms"]);
  } else {
    for (const auto& v : (*r)["vms"]) ctx.Out(JsonText(v, "/name") + "\n");
  }
  return kExitOk;
}

}  // namespace

void AddSnapshotCommands(CLI::App& vm, Command* selected) {
  auto* snap = AddGroup(vm, "snapshot", "Save a running VM to disk, list and delete its snapshots");
  {
    auto [c, f] = AddLeaf<CreateSnapshotFlags>(
        *snap, selected, "create",
        "Snapshot a running VM: memory, device state and its writable disks (it runs on after)",
        SnapshotCreate);
    c->add_option("vm", f->vm, "VM name or id")->required();
    c->add_option("--name", f->name, "Snapshot name (default: snap-<UTC time>)")->type_name("NAME");
  }
  // -q: the names `snapshot delete` takes.
  AddRefListLeaf(*snap, selected, "list", "List a VM's snapshots", "vm", "VM name or id", "snapshot names",
                 SnapshotsPath, "snapshots", RenderSnapshots,
                 [](const Json& s) { return JsonText(s, "/name"); });
  snap->get_subcommand("list")->alias("ls");
  {
    auto [c, f] =
        AddLeaf<DeleteSnapshotFlags>(*snap, selected, "delete", "Delete a snapshot", SnapshotDelete);
    c->alias("rm");
    c->add_option("vm", f->vm, "VM name or id")->required();
    c->add_option("snapshot", f->name, "Snapshot name")->required();
  }
  {
    auto [c, f] = AddLeaf<RestoreFlags>(
        vm, selected, "restore",
        "Continue a stopped VM from a snapshot (its writable disks become the snapshot's)", VmRestore);
    c->add_option("vm", f->vm, "VM name or id")->required();
    c->add_option("--snapshot", f->snapshot, "Snapshot name (default: the newest)")->type_name("NAME");
  }
  {
    auto [c, f] = AddLeaf<ForkFlags>(
        vm, selected, "fork",
        "New VMs continuing a running or paused VM from this moment (the source runs on)", VmFork);
    c->add_option("vm", f->vm, "Source VM name or id")->required();
    c->add_option("--name", f->name, "Name of the fork; with --count N: NAME-1 .. NAME-N")
        ->type_name("NAME")
        ->required();
    c->add_option("--count", f->count, "How many forks (1 to 64)")->type_name("N");
  }
}

}  // namespace banger

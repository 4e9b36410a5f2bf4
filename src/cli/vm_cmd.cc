// banger vm create|start|stop|restart|pause|resume|delete|list|show|logs|set (vm port: port_cmd.cc)
#include <chrono>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/output.h"
#include "http/http.h"

namespace banger {
namespace {

std::string VmPath(const std::string& ref) { return "/v1/vms/" + UrlEncode(ref); }

int VmCreate(CliContext& ctx, const CreateFlags& f) {
  auto req = BuildCreateRequest(f);
  if (!req.ok()) return Report(req.error());
  auto api = ctx.Connect();
  if (!api.ok()) return Report(api.error());
  ctx.Progress(f.name.empty() ? "creating vm..." : "creating vm " + f.name + "...");
  Json body = ToJson(*req);
  auto vm = (*api)->Call("POST", "/v1/vms", &body, kLongTimeout);
  if (!vm.ok()) return Report(vm.error());
  ctx.OutNameOrJson(*vm);
  return kExitOk;
}

// Runs `op` on each named VM in turn. Every failure is reported on its own
// line and the others still run; the exit code says whether any failed.
// Prints each VM's name, or with --json the VM (an array when several).
int ForEachVm(CliContext& ctx, const std::vector<std::string>& refs, const std::string& doing,
              const std::function<Result<Json>(ApiClient&, const std::string&)>& op) {
  auto api = ctx.Connect();
  if (!api.ok()) return Report(api.error());
  int rc = kExitOk;
  Json results = Json::array();
  for (const auto& ref : refs) {
    ctx.Progress(doing + " vm " + ref + "...");
    auto r = op(**api, ref);
    if (!r.ok()) {
      rc = Report(r.error());
      continue;
    }
    if (ctx.json()) {
      results.push_back(*r);
    } else {
      std::string name = JsonText(*r, "/name");
      ctx.Out((name.empty() ? ref : name) + "\n");
    }
  }
  if (ctx.json() && !results.empty()) ctx.OutJson(refs.size() == 1 ? results[0] : results);
  return rc;
}

int VmStopLike(CliContext& ctx, const std::vector<std::string>& refs, std::optional<int> timeout,
               const std::string& action, const std::string& doing, bool save) {
  auto req = BuildStopRequest(timeout);
  if (!req.ok()) return Report(req.error());
  req->save = save;
  Json body = ToJson(*req);
  return ForEachVm(ctx, refs, doing, [&](ApiClient& api, const std::string& ref) {
    return api.Call("POST", VmPath(ref) + "/" + action, &body, kLongTimeout);
  });
}

int VmDelete(CliContext& ctx, const std::vector<std::string>& refs, bool if_exists) {
  auto api = ctx.Connect();
  if (!api.ok()) return Report(api.error());
  int rc = kExitOk;
  Json results = Json::array();
  for (const auto& ref : refs) {
    ctx.Progress("deleting vm " + ref + "...");
    auto r =
        (*api)->Call("DELETE", VmPath(ref) + (if_exists ? "?missing_ok=true" : ""), nullptr, kLongTimeout);
    if (!r.ok()) {
      rc = Report(r.error());
      continue;
    }
    if (ctx.json()) {
      results.push_back(*r);
    } else if (auto d = Decode<DeleteResponse>(*r); d.ok() && d->deleted) {
      // A VM that --if-exists found missing was not deleted: nothing to name.
      ctx.Out(ref + "\n");
    }
  }
  if (ctx.json() && !results.empty()) ctx.OutJson(refs.size() == 1 ? results[0] : results);
  return rc;
}

int VmList(CliContext& ctx, const std::vector<std::string>& raw_labels, const ListFormatFlags& flags) {
  auto labels = ParseLabelFlags(raw_labels);
  if (!labels.ok()) return Report(labels.error());
  auto format = CheckListFormat(ctx, flags);
  if (!format.ok()) return Report(format.error());
  auto api = ctx.Connect();
  if (!api.ok()) return Report(api.error());
  if (format->style == ListStyle::kJson) {
    // As OutJson would print it, without parsing hundreds of VMs first.
    auto text = (*api)->GetMemberText("/v1/vms" + LabelQuery(*labels), "vms", 2);
    if (!text.ok()) return Report(text.error());
    ctx.Out(*text + "\n");
    return kExitOk;
  }
  auto list = (*api)->Call("GET", "/v1/vms" + LabelQuery(*labels));
  if (!list.ok()) return Report(list.error());
  Json vms = list->value("vms", Json::array());
  // Image names are a nicety of the table: without them it shows image ids.
  std::map<std::string, std::string> image_names;
  if (format->style == ListStyle::kTable) {
    if (auto images = (*api)->Call("GET", "/v1/images"); images.ok()) {
      image_names = ImageNamesById(images->value("images", Json::array()));
    }
  }
  ctx.Out(RenderList(
      *format, vms, [&](const Json& all) { return RenderVmTable(all, image_names, Now()); }, IdOf));
  return kExitOk;
}

int VmShow(CliContext& ctx, const std::string& ref) {
  auto api = ctx.Connect();
  if (!api.ok()) return Report(api.error());
  auto vm = (*api)->Call("GET", VmPath(ref));
  if (!vm.ok()) return Report(vm.error());
  if (ctx.json()) {
    ctx.OutJson(*vm);
    return kExitOk;
  }
  std::string image_name;
  if (std::string image_id = JsonText(*vm, "/image_id"); !image_id.empty()) {
    if (auto image = (*api)->Call("GET", "/v1/images/" + UrlEncode(image_id)); image.ok()) {
      image_name = JsonText(*image, "/name");
    }
  }
  ctx.Out(RenderKeyValues(VmDetails(*vm, image_name)));
  return kExitOk;
}

int ShowVmStats(CliContext& ctx, const std::string& ref) {
  return GetAndShow(ctx, VmPath(ref) + "/stats", nullptr,
                    [](const Json& stats) { return RenderKeyValues(VmStatsDetails(stats, Now())); });
}

int VmSet(CliContext& ctx, const std::string& ref, const SetFlags& f) {
  auto req = BuildSetRequest(f);
  if (!req.ok()) return Report(req.error());
  Json body = ToJson(*req);
  return CallAndName(ctx, "PATCH", VmPath(ref), &body);
}

struct LogsFlags {
  std::string ref;
  bool follow = false;
  std::string tail = "all";
  std::string since;
};

int VmLogs(CliContext& ctx, const LogsFlags& f) {
  auto tail = ParseTailFlag(f.tail);
  if (!tail.ok()) return Report(tail.error());
  // --since: the daemon's time index of the log picks the starting offset
  // (GET .../logs?since=, up to ~1 s of older output included); later
  // reads and the follow stream go on by offset from there.
  std::optional<int64_t> since_ms;
  if (!f.since.empty()) {
    auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    auto t = ParseSinceFlag(f.since, now_ms);
    if (!t.ok()) return Report(t.error());
    since_ms = *t;
  }
  int64_t offset = 0;
  if (!f.follow || *tail || since_ms) {
    // Everything written so far (the log is capped by console_log_max_bytes),
    // printed as it comes, or its last lines once all is read.
    auto api = ctx.Connect();
    if (!api.ok()) return Report(api.error());
    std::string all;
    while (true) {
      std::string target =
          VmPath(f.ref) + "/logs?" +
          (since_ms ? "since=" + UnixSecondsText(*since_ms) : "offset=" + std::to_string(offset));
      since_ms.reset();
      auto r = (*api)->Raw("GET", target, "", kReadTimeout);
      if (!r.ok()) return Report(r.error());
      if (*tail) {
        all += r->body;
      } else {
        ctx.Out(r->body);
      }
      auto next = r->headers.find("x-banger-next-offset");
      offset = next != r->headers.end() ? std::strtoll(next->second.c_str(), nullptr, 10)
                                        : offset + static_cast<int64_t>(r->body.size());
      if (r->body.empty()) break;
    }
    if (*tail) ctx.Out(LastLines(all, static_cast<size_t>(**tail)));
    if (!f.follow) return kExitOk;
  }
  // The console stream: from `offset` (0, or where the tail ended), then new
  // bytes until the VM has stopped and all was sent.
  ExitOkOnInterrupt();
  return FollowStream(ctx, VmPath(f.ref) + "/console?offset=" + std::to_string(offset), StreamType::kStdout,
                      [&ctx](const std::string& bytes) { ctx.Out(bytes); });
}

void AddRateFlags(CLI::App& c, RateFlags& f) {
  c.add_option("--disk-bw", f.disk_bw, "Disk bandwidth limit per disk, bytes/s (10M, 1G, ...; 0 = unlimited)")
      ->type_name("BYTES_PER_SEC");
  c.add_option("--disk-iops", f.disk_iops, "Disk operations per second limit per disk (0 = unlimited)")
      ->type_name("N");
  c.add_option("--net-bw", f.net_bw,
               "Network bandwidth limit each way, bytes/s (10M, ...; 0 = unlimited; firecracker only)")
      ->type_name("BYTES_PER_SEC");
}

void AddLifetimeFlags(CLI::App& c, LifetimeFlags& f, bool at_create) {
  c.add_option("--idle-suspend", f.idle_suspend,
               "Pause the VM in RAM after this long without exec, ssh, session or workspace use; the next "
               "use resumes it (30s, 10m, 1h; 0 or off = never" +
                   std::string(at_create ? "; default: the config's vm_defaults.idle_suspend)" : ")"))
      ->type_name("DURATION");
  c.add_option("--idle-suspend-to", f.idle_suspend_to,
               "Where idle suspend puts the VM: ram (paused, default) or disk (saved like vm stop --save, "
               "its VMM gone; the next use starts it again from the saved state)")
      ->type_name("ram|disk");
  c.add_option("--ttl", f.ttl,
               at_create
                   ? "Stop or delete the VM this long after its creation (0 or off = never; default: the "
                     "config's vm_defaults.ttl)"
                   : "Stop or delete the VM this long from now (a new deadline; 0 or off = never)")
      ->type_name("DURATION");
  c.add_option("--ttl-action", f.ttl_action, "What the ttl does at expiry: stop (default) or delete")
      ->type_name("stop|delete");
}

}  // namespace

void AddCreateFlags(CLI::App& c, CreateFlags& f, bool with_no_start) {
  c.add_option("--name", f.name, "VM name, a DNS label (default: a generated one)")->type_name("NAME");
  c.add_option("--image", f.image, "Image name or id (default: the config's default_image_name)")
      ->type_name("IMAGE");
  c.add_option("--vcpus,--cpus", f.vcpus, "Number of vCPUs")->type_name("N");
  c.add_option("--memory", f.memory, kMemoryHelp)->type_name("SIZE");
  c.add_option("--system-overlay-size", f.system_overlay_size, "Root filesystem overlay size (512M, 8G, ...)")
      ->type_name("SIZE");
  c.add_option("--work-disk-size", f.work_disk_size, "Work disk size (512M, 8G, ...)")->type_name("SIZE");
  c.add_flag("--nat", f.nat, "Give the guest outbound network access");
  if (with_no_start) c.add_flag("--no-start", f.no_start, "Create only; do not start");
  c.add_flag("--cold", f.cold,
             "Boot the kernel even when a template snapshot of the image and spec exists (see `banger "
             "image template`)");
  c.add_option("--backend", f.backend, "VMM backend: firecracker or qemu (default: the daemon's)")
      ->type_name("BACKEND");
  c.add_option("--label", f.labels, "Label KEY=VALUE (repeatable)")
      ->type_name("K=V")
      ->allow_extra_args(false);
  c.add_option("--request-id", f.request_id,
               "Idempotency key: repeating a create with it returns the same VM")
      ->type_name("ID");
  c.add_option("--mount", f.mounts,
               "Share a host folder (QEMU only; the image needs a kernel with 9p, see `image build "
               "--kernel-flavour`): HOST_DIR:GUEST_DIR[:ro|rw], repeatable, at most 8")
      ->type_name("HOST:GUEST[:ro]")
      ->allow_extra_args(false);
  AddRateFlags(c, f.rates);
  AddLifetimeFlags(c, f.lifetime, /*at_create=*/true);
  c.add_option("-p,--publish", f.ports,
               "Publish a guest TCP port on the host: [HOST_IP:]HOST_PORT:GUEST_PORT[/tcp] (repeatable; "
               "HOST_IP defaults to 127.0.0.1)")
      ->type_name("PORTS")
      ->allow_extra_args(false);
}

namespace {

void AddCreate(CLI::App& vm, Command* selected) {
  auto [c, f] =
      AddLeaf<CreateFlags>(vm, selected, "create", "Create a VM (and start it, unless --no-start)", VmCreate);
  AddCreateFlags(*c, *f, /*with_no_start=*/true);
}

void AddStopLike(CLI::App& vm, Command* selected, const std::string& action, const std::string& doing,
                 const std::string& help) {
  struct Flags {
    std::vector<std::string> refs;
    std::optional<int> timeout;
    bool save = false;
  };
  auto f = std::make_shared<Flags>();
  auto* c = vm.add_subcommand(action, help);
  c->add_option("name", f->refs, "VM names or ids")->required();
  c->add_option("--timeout", f->timeout, "Seconds to wait for a graceful shutdown before forcing")
      ->type_name("SECONDS");
  if (action == "stop") {
    c->add_flag("--save", f->save,
                "Save the VM to disk (memory and device state) before stopping; the next start resumes it");
  }
  c->callback([=] {
    *selected = [=](CliContext& ctx) { return VmStopLike(ctx, f->refs, f->timeout, action, doing, f->save); };
  });
}

void AddVmList(CLI::App& parent, Command* selected, const std::string& name, const std::string& help) {
  struct ListFlags {
    std::vector<std::string> labels;
    ListFormatFlags format;
  };
  auto [c, f] = AddLeaf<ListFlags>(parent, selected, name, help, [](CliContext& ctx, const ListFlags& lf) {
    return VmList(ctx, lf.labels, lf.format);
  });
  c->add_option("--label", f->labels, "Only VMs with label KEY=VALUE (repeatable)")
      ->type_name("K=V")
      ->allow_extra_args(false);
  AddListFlags(*c, f->format, "VM ids");
}

}  // namespace

void AddVmCommands(CLI::App& app, Command* selected) {
  auto* vm = AddGroup(app, "vm", "Create, run and inspect VMs");
  AddCreate(*vm, selected);
  AddExecCommands(*vm, selected);
  // docker's top-level spellings: banger run, banger exec, banger ps.
  AddExecCommands(app, selected);
  AddVmList(app, selected, "ps", "List VMs (the same as vm list)");
  AddSshCommand(*vm, selected);
  AddCpCommand(*vm, selected);
  AddSnapshotCommands(*vm, selected);
  AddPortCommands(*vm, selected);

  {
    auto refs = std::make_shared<std::vector<std::string>>();
    auto* c = vm->add_subcommand("start", "Start VMs");
    c->add_option("name", *refs, "VM names or ids")->required();
    c->callback([=] {
      *selected = [=](CliContext& ctx) {
        return ForEachVm(ctx, *refs, "starting", [](ApiClient& api, const std::string& ref) {
          return api.Call("POST", VmPath(ref) + "/start", nullptr, kLongTimeout);
        });
      };
    });
  }
  AddStopLike(*vm, selected, "stop", "stopping", "Stop VMs (gracefully, then forced after --timeout)");
  AddStopLike(*vm, selected, "restart", "restarting", "Restart VMs (each gets a new boot id)");
  for (auto [action, doing, help] :
       {std::tuple<const char*, const char*, const char*>{
            "pause", "pausing",
            "Pause running VMs: vCPUs stop, memory stays (exec, ssh and sessions resume them)"},
        {"resume", "resuming", "Resume paused VMs"}}) {
    auto refs = std::make_shared<std::vector<std::string>>();
    auto* c = vm->add_subcommand(action, help);
    c->add_option("name", *refs, "VM names or ids")->required();
    c->callback([=, action = std::string(action), doing = std::string(doing)] {
      *selected = [=](CliContext& ctx) {
        return ForEachVm(ctx, *refs, doing, [&](ApiClient& api, const std::string& ref) {
          return api.Call("POST", VmPath(ref) + "/" + action, nullptr, kLongTimeout);
        });
      };
    });
  }
  {
    auto refs = std::make_shared<std::vector<std::string>>();
    auto if_exists = std::make_shared<bool>(false);
    auto* c = vm->add_subcommand("delete", "Delete VMs (running ones are stopped first)");
    c->alias("rm");
    c->add_option("name", *refs, "VM names or ids")->required();
    c->add_flag("--if-exists", *if_exists, "A VM that does not exist is not an error");
    c->callback([=] { *selected = [=](CliContext& ctx) { return VmDelete(ctx, *refs, *if_exists); }; });
  }
  AddVmList(*vm, selected, "list", "List VMs");
  vm->get_subcommand("list")->alias("ls");
  vm->get_subcommand("list")->alias("ps");
  AddRefLeaf(*vm, selected, "show", "Show a VM", "name", "VM name or id", VmShow);
  AddRefLeaf(*vm, selected, "stats", "Show a VM's resource use: CPU, memory, disk on the host, VMM metrics",
             "name", "VM name or id", ShowVmStats);
  {
    auto [c, f] = AddLeaf<LogsFlags>(*vm, selected, "logs", "Print a VM's console log", VmLogs);
    c->add_option("name", f->ref, "VM name or id")->required();
    c->add_flag("-f,--follow", f->follow, "Keep printing new output until interrupted or the VM stops");
    c->add_option("-n,--tail", f->tail,
                  "Print only the last N lines (default: all); with --follow, then follow")
        ->type_name("N");
    c->add_option("--since", f->since,
                  "Print only output written since then: a duration back from now (10m, 1h30m, 2s), an RFC "
                  "3339 UTC time (2026-11-30T16:00:00Z) or unix seconds; to about 1 s (up to 1 s of older "
                  "output may come too)")
        ->type_name("DURATION|TIME");
  }
  {
    auto ref = std::make_shared<std::string>();
    auto f = std::make_shared<SetFlags>();
    auto* c = vm->add_subcommand(
        "set", "Change a VM's resources (vCPUs, memory and disk need it stopped; rate limits apply live)");
    c->add_option("name", *ref, "VM name or id")->required();
    c->add_option("--vcpus,--cpus", f->vcpus, "Number of vCPUs")->type_name("N");
    c->add_option("--memory", f->memory, kMemoryHelp)->type_name("SIZE");
    c->add_option("--work-disk-size", f->work_disk_size, "Work disk size (512M, 8G, ...)")->type_name("SIZE");
    c->add_flag("--nat", f->nat, "Enable outbound network access");
    c->add_flag("--no-nat", f->no_nat, "Disable outbound network access");
    AddRateFlags(*c, f->rates);
    AddLifetimeFlags(*c, f->lifetime, /*at_create=*/false);
    c->callback([=] { *selected = [=](CliContext& ctx) { return VmSet(ctx, *ref, *f); }; });
  }
}

}  // namespace banger

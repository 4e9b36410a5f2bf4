// banger vm port add|rm|list: published ports of a VM, changed live
// (docs/cli.md). `vm create/run -p` publishes them at create (vm_cmd.cc).
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/output.h"
#include "http/http.h"
#include "model/json.h"
#include "model/port.h"
#include "model/requests.h"

namespace banger {
namespace {

std::string PortsPath(const std::string& ref) { return "/v1/vms/" + UrlEncode(ref) + "/ports"; }

std::string RenderPorts(const Json& ports) {
  std::vector<std::vector<std::string>> rows;
  for (const Json& p : ports.is_array() ? ports : Json::array()) {
    std::string state = p.value("listening", false) ? "listening" : "not listening";
    std::string err = JsonText(p, "/error");
    if (!err.empty()) state += " (" + err + ")";
    rows.push_back({JsonText(p, "/host_ip") + ":" + std::to_string(p.value("host_port", 0)),
                    std::to_string(p.value("guest_port", 0)), JsonText(p, "/protocol"), state});
  }
  return RenderTable({"HOST", "GUEST", "PROTO", "STATE"}, rows);
}

int PortAdd(CliContext& ctx, const std::string& ref, const std::string& spec) {
  auto m = ParsePortMapping(spec);
  if (!m.ok()) return Report(m.error());
  AddPortRequest req{m->Spec()};
  Json body = ToJson(req);
  auto api = ctx.Connect();
  if (!api.ok()) return Report(api.error());
  auto r = (*api)->Call("POST", PortsPath(ref), &body);
  if (!r.ok()) return Report(r.error());
  if (ctx.json()) {
    ctx.OutJson(*r);
  } else {
    ctx.Out(m->Spec() + "\n");
  }
  return kExitOk;
}

// [HOST_IP:]HOST_PORT[/tcp], or a whole -p value (its guest port is ignored).
int PortRemove(CliContext& ctx, const std::string& ref, const std::string& spec) {
  auto m = ParsePortMapping(spec);
  if (!m.ok()) {
    std::string proto;
    std::string addr = spec;
    if (size_t slash = addr.rfind('/'); slash != std::string::npos) {
      proto = addr.substr(slash);
      addr.resize(slash);
    }
    m = ParsePortMapping(addr + ":1" + proto);
    if (!m.ok()) {
      return Report(Error::Invalid("port \"" + spec + "\": expected [HOST_IP:]HOST_PORT[/tcp]"));
    }
  }
  auto api = ctx.Connect();
  if (!api.ok()) return Report(api.error());
  std::string target = PortsPath(ref) + "/" + std::to_string(m->host_port) +
                       "?host_ip=" + UrlEncode(m->host_ip) + "&protocol=" + UrlEncode(m->protocol);
  auto r = (*api)->Call("DELETE", target, nullptr);
  if (!r.ok()) return Report(r.error());
  if (ctx.json()) {
    ctx.OutJson(*r);
  } else {
    ctx.Out(JsonText(*r, "/removed") + "\n");
  }
  return kExitOk;
}

}  // namespace

void AddPortCommands(CLI::App& vm, Command* selected) {
  auto* port = AddGroup(vm, "port", "Publish guest TCP ports on the host (live)");
  for (const char* verb : {"add", "rm"}) {
    auto ref = std::make_shared<std::string>();
    auto spec = std::make_shared<std::string>();
    bool add = std::string(verb) == "add";
    auto* c =
        port->add_subcommand(verb, add ? "Publish a port of a VM: [HOST_IP:]HOST_PORT:GUEST_PORT[/tcp]"
                                       : "Stop publishing a host port of a VM: [HOST_IP:]HOST_PORT[/tcp]");
    c->add_option("name", *ref, "VM name or id")->required();
    c->add_option("port", *spec, add ? "[HOST_IP:]HOST_PORT:GUEST_PORT[/tcp]" : "[HOST_IP:]HOST_PORT[/tcp]")
        ->required();
    c->callback([=] {
      *selected = [=](CliContext& ctx) {
        return add ? PortAdd(ctx, *ref, *spec) : PortRemove(ctx, *ref, *spec);
      };
    });
  }
  // -q: each port's spec, which `vm port rm` takes.
  AddRefListLeaf(*port, selected, "list", "List a VM's published ports", "name", "VM name or id",
                 "port specs", PortsPath, "ports", RenderPorts,
                 [](const Json& p) { return JsonText(p, "/spec"); });
  port->get_subcommand("list")->alias("ls");
}

}  // namespace banger

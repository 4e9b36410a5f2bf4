// Published ports: /v1/vms/{ref}/ports (list, add) and
// /v1/vms/{ref}/ports/{host_port} (remove), and a create that publishes
// ports (POST /v1/vms with "ports"): every host address is bound before the
// VM is made, so a taken one fails the create and nothing is left.
#include "api/handlers.h"
#include "api/respond.h"
#include "model/json.h"
#include "model/requests.h"

namespace banger {
namespace {

Json PortJson(const PortStatus& p) {
  Json j = ToJson(p.port);
  j["spec"] = p.port.Spec();
  j["listening"] = p.listening;
  if (!p.error.empty()) j["error"] = p.error;
  return j;
}

}  // namespace

HttpResponse CreateVm(ApiServices& s, const CreateVmRequest& cr, const std::optional<Credentials>& caller) {
  if (cr.ports.empty()) {
    API_TRY(auto result, s.vms.Create(cr, caller));
    return JsonResponse(result.created ? 201 : 200, VmViewJson(result.view));
  }
  if (!s.ports) return ErrorResponse(Error::Unavailable("published ports are not available in this daemon"));
  if (!cr.request_id.empty()) {
    // A retried create answers with the VM it made (which holds the ports).
    API_TRY(auto prior, s.vms.store().FindVmByRequestId(cr.request_id));
    if (prior) {
      API_TRY(auto result, s.vms.Create(cr, caller));
      return JsonResponse(result.created ? 201 : 200, VmViewJson(result.view));
    }
  }
  std::vector<PortMapping> ports;
  for (const auto& spec : cr.ports) {
    API_TRY(PortMapping m, ParsePortMapping(spec));
    ports.push_back(std::move(m));
  }
  API_TRY(PortReservation reserved, s.ports->Reserve(ports));
  API_TRY(auto result, s.vms.Create(cr, caller));
  if (auto st = s.ports->Attach(result.view.vm.id, std::move(reserved)); !st.ok()) {
    // Nothing is left behind: the VM goes with its ports.
    if (auto del = s.vms.Delete(result.view.vm.id, /*missing_ok=*/true); !del.ok()) {
      return ErrorResponse(std::move(st).error().Wrap(
          "publishing ports (and deleting the vm failed: " + del.error().message() + ")"));
    }
    return ErrorResponse(st.error());
  }
  API_TRY(VmView view, s.vms.Get(result.view.vm.id));
  return JsonResponse(result.created ? 201 : 200, VmViewJson(view));
}

void AddPortRoutes(RouteTable& t, ApiServices& s) {
  t.Add("GET", "/v1/vms/{ref}/ports", [&s](const ApiCall& c) {
    if (!s.ports)
      return ErrorResponse(Error::Unavailable("published ports are not available in this daemon"));
    API_TRY(VmView view, s.vms.Get(c.Param(0)));
    API_TRY(auto list, s.ports->List(view.vm.id));
    Json arr = Json::array();
    for (const auto& p : list) arr.push_back(PortJson(p));
    return JsonResponse(200, Json{{"ports", arr}});
  });
  t.Add("POST", "/v1/vms/{ref}/ports", [&s](const ApiCall& c) {
    if (!s.ports)
      return ErrorResponse(Error::Unavailable("published ports are not available in this daemon"));
    API_TRY(AddPortRequest req, DecodeBody<AddPortRequest>(c.req));
    API_TRY(PortMapping m, ParsePortMapping(req.port));
    API_TRY(VmView view, s.vms.Get(c.Param(0)));
    API_TRY(PortStatus added, s.ports->Add(view.vm.id, m));
    return JsonResponse(201, PortJson(added));
  });
  t.Add("DELETE", "/v1/vms/{ref}/ports/{host_port}", [&s](const ApiCall& c) {
    if (!s.ports)
      return ErrorResponse(Error::Unavailable("published ports are not available in this daemon"));
    std::string host_ip = c.QueryValue("host_ip");
    std::string proto = c.QueryValue("protocol");
    // Validated like a -p value (guest port 1 is a placeholder: ignored).
    API_TRY(PortMapping m, ParsePortMapping((host_ip.empty() ? std::string(kDefaultPortHostIp) : host_ip) +
                                            ":" + c.Param(1) + ":1/" + (proto.empty() ? "tcp" : proto)));
    API_TRY(VmView view, s.vms.Get(c.Param(0)));
    if (auto st = s.ports->Remove(view.vm.id, m); !st.ok()) return ErrorResponse(st.error());
    return JsonResponse(200,
                        Json{{"removed", m.host_ip + ":" + std::to_string(m.host_port) + "/" + m.protocol}});
  });
}

}  // namespace banger

// /v1/vms/{ref}/workspaces: list, prepare and export (progress streams).
#include "api/handlers.h"
#include "api/respond.h"
#include "model/requests.h"

namespace banger {

void AddWorkspaceRoutes(RouteTable& t, ApiServices& s) {
  t.Add("GET", "/v1/vms/{ref}/workspaces", [&s](const ApiCall& c) {
    API_TRY(auto list, s.workspaces.List(c.Param(0)));
    Json arr = Json::array();
    for (const auto& w : list) arr.push_back(ToJson(w));
    return JsonResponse(200, Json{{"workspaces", arr}});
  });
  t.Add(
      "POST", "/v1/vms/{ref}/workspaces",
      [&s](const ApiCall& c) {
        if (auto st = RequireUpgrade(c.req, "workspace prepare"); !st.ok()) return ErrorResponse(st.error());
        API_TRY(PrepareWorkspaceRequest pr, DecodeBody<PrepareWorkspaceRequest>(c.req));
        API_TRY(auto view, s.vms.Get(c.Param(0)));  // answer "no such vm" before upgrading
        std::string vm_id = view.vm.id;
        return ProgressUpgrade([&s, vm_id, pr](const auto& progress, const auto& cancel) {
          return ToJsonResult(s.workspaces.Prepare(vm_id, pr, progress, cancel));
        });
      },
      RouteAccess::kLocal);  // names a host path
  t.Add(
      "POST", "/v1/vms/{ref}/workspaces/export",
      [&s](const ApiCall& c) {
        if (auto st = RequireUpgrade(c.req, "workspace export"); !st.ok()) return ErrorResponse(st.error());
        API_TRY(ExportWorkspaceRequest er, DecodeBody<ExportWorkspaceRequest>(c.req));
        API_TRY(auto view, s.vms.Get(c.Param(0)));  // answer "no such vm" before upgrading
        std::string vm_id = view.vm.id;
        return ProgressUpgrade([&s, vm_id, er](const auto& progress, const auto& cancel) {
          return ToJsonResult(s.workspaces.Export(vm_id, er, progress, cancel));
        });
      },
      RouteAccess::kLocal);  // writes into a host repository
}

}  // namespace banger

// /v1/vms/{ref}/workspaces: list, prepare and export (progress streams, WebSockets).
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
      "GET", "/v1/vms/{ref}/workspaces/prepare",
      [&s](const ApiCall& c) {
        if (auto st = RequireWebSocket(c.req, "workspace prepare"); !st.ok())
          return ErrorResponse(st.error());
        API_TRY(auto view, s.vms.Get(c.Param(0)));  // answer "no such vm" before upgrading
        std::string vm_id = view.vm.id;
        return ProgressStream(
            "workspace prepare request", [&s, vm_id](const Json& open) -> Result<ProgressOp> {
              BANGER_ASSIGN_OR_RETURN(PrepareWorkspaceRequest pr,
                                      Decode<PrepareWorkspaceRequest>(open, "workspace prepare request"));
              return ProgressOp([&s, vm_id, pr](const auto& progress, const auto& cancel) {
                return ToJsonResult(s.workspaces.Prepare(vm_id, pr, progress, cancel));
              });
            });
      },
      RouteAccess::kLocal);  // names a host path
  t.Add(
      "GET", "/v1/vms/{ref}/workspaces/export",
      [&s](const ApiCall& c) {
        if (auto st = RequireWebSocket(c.req, "workspace export"); !st.ok()) return ErrorResponse(st.error());
        API_TRY(auto view, s.vms.Get(c.Param(0)));  // answer "no such vm" before upgrading
        std::string vm_id = view.vm.id;
        return ProgressStream(
            "workspace export request", [&s, vm_id](const Json& open) -> Result<ProgressOp> {
              BANGER_ASSIGN_OR_RETURN(ExportWorkspaceRequest er,
                                      Decode<ExportWorkspaceRequest>(open, "workspace export request"));
              return ProgressOp([&s, vm_id, er](const auto& progress, const auto& cancel) {
                return ToJsonResult(s.workspaces.Export(vm_id, er, progress, cancel));
              });
            });
      },
      RouteAccess::kLocal);  // writes into a host repository
}

}  // namespace banger

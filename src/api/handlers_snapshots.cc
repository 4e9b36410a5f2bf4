// /v1/vms/{ref}/snapshots, /v1/vms/{ref}/restore and /v1/vms/{ref}/fork: snapshots on disk
// (daemon/snapshot_service.h).
#include "api/handlers.h"
#include "api/respond.h"
#include "model/requests.h"

namespace banger {
namespace {

// A snapshot as the API shows it: the record, minus nothing (paths are the
// daemon's, under the VM directory; the files map gives their sizes).
Json SnapshotJson(const VmSnapshot& s) { return ToJson(s); }

HttpResponse Unavailable() {
  return ErrorResponse(Error::Unavailable("snapshots are not available in this daemon"));
}

}  // namespace

void AddSnapshotRoutes(RouteTable& t, ApiServices& s) {
  t.Add("GET", "/v1/vms/{ref}/snapshots", [&s](const ApiCall& c) {
    if (!s.snapshots) return Unavailable();
    API_TRY(auto all, s.snapshots->List(c.Param(0)));
    Json arr = Json::array();
    for (const auto& snap : all) arr.push_back(SnapshotJson(snap));
    return JsonResponse(200, Json{{"snapshots", arr}});
  });
  t.Add("POST", "/v1/vms/{ref}/snapshots", [&s](const ApiCall& c) {
    if (!s.snapshots) return Unavailable();
    API_TRY(CreateSnapshotRequest req, DecodeBody<CreateSnapshotRequest>(c.req));
    API_TRY(VmSnapshot snap, s.snapshots->Create(c.Param(0), req.name));
    return JsonResponse(201, SnapshotJson(snap));
  });
  t.Add("DELETE", "/v1/vms/{ref}/snapshots/{name}", [&s](const ApiCall& c) {
    if (!s.snapshots) return Unavailable();
    if (auto st = s.snapshots->Delete(c.Param(0), c.Param(1)); !st.ok()) return ErrorResponse(st.error());
    return JsonResponse(200, ToJson(DeleteResponse{true, c.Param(1)}));
  });
  t.Add("POST", "/v1/vms/{ref}/fork", [&s](const ApiCall& c) {
    if (!s.snapshots) return Unavailable();
    API_TRY(ForkVmRequest req, DecodeBody<ForkVmRequest>(c.req));
    API_TRY(auto forks, s.snapshots->Fork(c.Param(0), req.name, req.count.value_or(1)));
    Json arr = Json::array();
    for (const auto& v : forks) arr.push_back(VmViewJson(v));
    return JsonResponse(201, Json{{"vms", arr}});
  });
  t.Add("POST", "/v1/vms/{ref}/restore", [&s](const ApiCall& c) {
    if (!s.snapshots) return Unavailable();
    API_TRY(RestoreVmRequest req, DecodeBody<RestoreVmRequest>(c.req));
    API_TRY(VmView view, s.snapshots->Restore(c.Param(0), req.snapshot));
    return JsonResponse(200, VmViewJson(view));
  });
}

}  // namespace banger

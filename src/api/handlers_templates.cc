// /v1/templates: template snapshots for warm start (daemon/template_service.h).
#include "api/handlers.h"
#include "api/respond.h"
#include "model/requests.h"

namespace banger {
namespace {

HttpResponse Unavailable() {
  return ErrorResponse(Error::Unavailable("templates are not available in this daemon"));
}

}  // namespace

void AddTemplateRoutes(RouteTable& t, ApiServices& s) {
  t.Add("GET", "/v1/templates", [&s](const ApiCall& c) {
    if (!s.templates) return Unavailable();
    std::string image;
    if (auto it = c.query.find("image"); it != c.query.end()) image = it->second;
    API_TRY(auto all, s.templates->List(image));
    Json arr = Json::array();
    for (const auto& tmpl : all) arr.push_back(ToJson(tmpl));
    return JsonResponse(200, Json{{"templates", arr}});
  });
  t.Add("POST", "/v1/templates", [&s](const ApiCall& c) {
    if (!s.templates) return Unavailable();
    API_TRY(CreateTemplateRequest req, DecodeBody<CreateTemplateRequest>(c.req));
    API_TRY(VmTemplate tmpl, s.templates->Create(req));
    return JsonResponse(201, ToJson(tmpl));
  });
  t.Add("DELETE", "/v1/templates/{id}", [&s](const ApiCall& c) {
    if (!s.templates) return Unavailable();
    if (auto st = s.templates->Delete(c.Param(0)); !st.ok()) return ErrorResponse(st.error());
    return JsonResponse(200, ToJson(DeleteResponse{true, c.Param(0)}));
  });
}

}  // namespace banger

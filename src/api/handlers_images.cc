// /v1/images: list, import, build and pull (progress streams), prune, show, delete.
#include "api/handlers.h"
#include "api/respond.h"
#include "model/requests.h"

namespace banger {

void AddImageRoutes(RouteTable& t, ApiServices& s) {
  t.Add("GET", "/v1/images", [&s](const ApiCall&) {
    API_TRY(auto imgs, s.images.ListImages());
    Json arr = Json::array();
    for (const auto& i : imgs) arr.push_back(ToJson(i));
    return JsonResponse(200, Json{{"images", arr}});
  });
  t.Add(
      "POST", "/v1/images",
      [&s](const ApiCall& c) {
        API_TRY(auto ir, DecodeBody<ImportImageRequest>(c.req));
        API_TRY(Image img, s.images.ImportImage(ir));
        return JsonResponse(201, ToJson(img));
      },
      RouteAccess::kLocal);  // names host files
  t.Add(
      "GET", "/v1/images/build",
      [&s](const ApiCall& c) {
        if (auto st = RequireWebSocket(c.req, "image build"); !st.ok()) return ErrorResponse(st.error());
        return ProgressStream("image build request", [&s](const Json& open) -> Result<ProgressOp> {
          BANGER_ASSIGN_OR_RETURN(BuildImageRequest br,
                                  Decode<BuildImageRequest>(open, "image build request"));
          return ProgressOp([&s, br](const auto& progress, const auto& cancel) {
            return ToJsonResult(s.images.BuildImage(br, progress, cancel));
          });
        });
      },
      RouteAccess::kLocal);
  t.Add(
      "GET", "/v1/images/pull",
      [&s](const ApiCall& c) {
        if (auto st = RequireWebSocket(c.req, "image pull"); !st.ok()) return ErrorResponse(st.error());
        return ProgressStream("image pull request", [&s](const Json& open) -> Result<ProgressOp> {
          BANGER_ASSIGN_OR_RETURN(PullImageRequest pr, Decode<PullImageRequest>(open, "image pull request"));
          return ProgressOp([&s, pr](const auto& progress, const auto& cancel) {
            return ToJsonResult(s.images.PullImage(pr, progress, cancel));
          });
        });
      },
      RouteAccess::kLocal);  // reaches out to registries with the caller's credentials
  t.Add(
      "POST", "/v1/images/prune",
      [&s](const ApiCall&) {
        API_TRY(PruneImagesResponse r, s.images.PruneImages());
        return JsonResponse(200, ToJson(r));
      },
      RouteAccess::kLocal);
  t.Add("GET", "/v1/images/{ref}", [&s](const ApiCall& c) {
    API_TRY(Image img, s.images.GetImage(c.Param(0)));
    return JsonResponse(200, ToJson(img));
  });
  t.Add("DELETE", "/v1/images/{ref}", [&s](const ApiCall& c) {
    API_TRY(std::string id, s.images.DeleteImage(c.Param(0)));
    return JsonResponse(200, ToJson(DeleteResponse{true, id}));
  });
}

}  // namespace banger

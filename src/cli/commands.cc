// The helpers of commands.h that the verb groups share.
#include "cli/commands.h"

#include "api/stream.h"

namespace banger {

CLI::App* AddGroup(CLI::App& app, const std::string& name, const std::string& help) {
  auto* group = app.add_subcommand(name, help);
  group->require_subcommand(1);
  return group;
}

void AddRefLeaf(CLI::App& parent, Command* selected, const std::string& name, const std::string& help,
                const std::string& arg, const std::string& arg_help,
                std::function<int(CliContext&, const std::string&)> run) {
  auto [c, ref] = AddLeaf<std::string>(parent, selected, name, help, std::move(run));
  c->add_option(arg, *ref, arg_help)->required();
}

Result<UpgradeResult> OpenStream(CliContext& ctx, const std::string& target, const Json& body) {
  BANGER_ASSIGN_OR_RETURN(auto api, ctx.Connect());
  HttpRequest req;
  req.method = "POST";
  req.target = target;
  req.body = SafeDump(body);
  BANGER_ASSIGN_OR_RETURN(
      auto up, UnixHttpUpgrade(api->home().Socket(), req, kStreamProtocol, std::chrono::seconds(30)));
  if (up.status != 101) return ErrorFromResponse(up.response);
  return up;
}

int CallAndName(CliContext& ctx, const std::string& method, const std::string& target, const Json* body) {
  auto api = ctx.Connect();
  if (!api.ok()) return Report(api.error());
  auto answer = (*api)->Call(method, target, body, kLongTimeout);
  if (!answer.ok()) return Report(answer.error());
  ctx.OutNameOrJson(*answer);
  return kExitOk;
}

int GetAndShow(CliContext& ctx, const std::string& target, const char* list_key,
               const std::function<std::string(const Json&)>& render) {
  auto api = ctx.Connect();
  if (!api.ok()) return Report(api.error());
  auto got = (*api)->Call("GET", target);
  if (!got.ok()) return Report(got.error());
  Json shown = list_key ? got->value(list_key, Json::array()) : *got;
  if (ctx.json()) {
    ctx.OutJson(shown);
  } else {
    ctx.Out(render(shown));
  }
  return kExitOk;
}

}  // namespace banger

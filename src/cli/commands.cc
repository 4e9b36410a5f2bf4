// The helpers of commands.h that the verb groups share.
#include "cli/commands.h"

#include "api/stream.h"
#include "cli/output.h"

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

Result<std::unique_ptr<WsConn>> OpenStream(CliContext& ctx, const std::string& target, const Json* open,
                                           std::chrono::milliseconds timeout) {
  BANGER_ASSIGN_OR_RETURN(auto api, ctx.Connect());
  WsOptions options;
  // The daemon reads as fast as the guest takes the data; a slow guest is not a dead daemon.
  options.write_timeout = std::chrono::hours(24);
  options.ping_interval = std::chrono::milliseconds(0);
  return api->OpenStream(target, open, timeout, options);
}

int FollowStream(CliContext& ctx, const std::string& target, StreamType type,
                 const std::function<void(const std::string&)>& on) {
  auto ws = OpenStream(ctx, target, nullptr);
  if (!ws.ok()) return Report(ws.error());
  for (;;) {
    auto m = (*ws)->Recv();
    if (!m.ok() || !m->has_value()) {
      return Report(Error::Unavailable("connection to bangerd lost while following " + target));
    }
    const WsMessage& msg = **m;
    if (msg.text) continue;
    const auto t = static_cast<StreamType>(msg.type());
    if (t == type) {
      on(std::string(msg.payload()));
    } else if (t == StreamType::kResult) {
      return kExitOk;
    } else if (t == StreamType::kError) {
      return Report(DecodeErrorFrame(std::string(msg.payload())));
    }
  }
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

void AddListFlags(CLI::App& c, ListFormatFlags& f, const std::string& quiet_help) {
  c.add_option("--format", f.format,
               "Output format: table (default), json, yaml, a Go template ('{{.Name}}'), or 'table "
               "{{.Name}}\\t{{.State}}' for columns with a header (docs/cli.md)")
      ->type_name("FORMAT");
  c.add_flag("-q,--quiet", f.quiet, "Print only the " + quiet_help + ", one per line");
}

Result<ListFormat> CheckListFormat(const CliContext& ctx, const ListFormatFlags& f) {
  return ParseListFormat(f, ctx.json());
}

std::string IdOf(const Json& item) { return JsonText(item, "/id"); }

int GetAndShowList(CliContext& ctx, const ListFormatFlags& f, const std::string& target, const char* list_key,
                   const std::function<std::string(const Json&)>& render,
                   const std::function<std::string(const Json&)>& id) {
  auto format = CheckListFormat(ctx, f);
  if (!format.ok()) return Report(format.error());
  auto api = ctx.Connect();
  if (!api.ok()) return Report(api.error());
  auto got = (*api)->Call("GET", target);
  if (!got.ok()) return Report(got.error());
  ctx.Out(RenderList(*format, got->value(list_key, Json::array()), render, id));
  return kExitOk;
}

void AddRefListLeaf(CLI::App& parent, Command* selected, const std::string& name, const std::string& help,
                    const std::string& arg, const std::string& arg_help, const std::string& quiet_help,
                    const std::function<std::string(const std::string&)>& target, const char* list_key,
                    const std::function<std::string(const Json&)>& render,
                    const std::function<std::string(const Json&)>& id) {
  struct Flags {
    std::string ref;
    ListFormatFlags format;
  };
  auto [c, f] = AddLeaf<Flags>(parent, selected, name, help, [=](CliContext& ctx, const Flags& flags) {
    return GetAndShowList(ctx, flags.format, target(flags.ref), list_key, render, id);
  });
  c->add_option(arg, f->ref, arg_help)->required();
  AddListFlags(*c, f->format, quiet_help);
}

}  // namespace banger

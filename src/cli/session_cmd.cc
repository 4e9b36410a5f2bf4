// banger session start|list|show|logs|attach|stop (docs/sessions.md).
#include <memory>

#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/output.h"
#include "http/http.h"

namespace banger {
namespace {

constexpr int kExitBangerFailed = 125;

struct StartFlags {
  std::string vm;
  std::string name;
  std::vector<std::string> tags;
  GuestCommandFlags cmd;  // argv, -u, -w, -e, --no-image-env
  bool stdin_pipe = false;
};

std::string SessionPath(const std::string& ref, const std::string& vm, const std::string& suffix = "") {
  std::string p = "/v1/sessions/" + UrlEncode(ref) + suffix;
  if (!vm.empty()) p += "?vm=" + UrlEncode(vm);
  return p;
}

std::string StatusText(const Json& s) {
  std::string st = JsonText(s, "/status");
  if (s.contains("exit_code") && s["exit_code"].is_number_integer()) {
    st += " (" + std::to_string(s["exit_code"].get<int>()) + ")";
  }
  return st;
}

std::string CommandText(const Json& s) {
  std::string cmd = JsonText(s, "/command");
  if (s.contains("args") && s["args"].is_array()) {
    for (const auto& a : s["args"]) cmd += " " + (a.is_string() ? a.get<std::string>() : "");
  }
  return cmd;
}

int SessionStart(CliContext& ctx, const StartFlags& f) {
  auto tags = ParseLabelFlags(f.tags);
  if (!tags.ok()) return Report(tags.error());
  StartSessionRequest req;
  if (auto st = PutGuestCommand(req, f.cmd); !st.ok()) return Report(st.error());
  req.name = f.name;
  req.tags = std::move(*tags);
  req.stdin_pipe = f.stdin_pipe;
  Json body = ToJson(req);
  return CallAndName(ctx, "POST", "/v1/vms/" + UrlEncode(f.vm) + "/sessions", &body);
}

int SessionList(CliContext& ctx, const std::string& vm, const ListFormatFlags& flags) {
  auto format = CheckListFormat(ctx, flags);
  if (!format.ok()) return Report(format.error());
  auto api = ctx.Connect();
  if (!api.ok()) return Report(api.error());
  auto list =
      (*api)->Call("GET", "/v1/sessions" + (vm.empty() ? "" : "?vm=" + UrlEncode(vm)), nullptr, kLongTimeout);
  if (!list.ok()) return Report(list.error());
  Json sessions = list->value("sessions", Json::array());
  if (format->style != ListStyle::kTable) {
    ctx.Out(RenderList(*format, sessions, nullptr, IdOf));
    return kExitOk;
  }
  auto vms = (*api)->Call("GET", "/v1/vms");
  std::map<std::string, std::string> vm_names;
  if (vms.ok()) {
    for (const auto& v : (*vms)["vms"]) vm_names[JsonText(v, "/id")] = JsonText(v, "/name");
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : sessions) {
    rows.push_back({JsonText(s, "/name"), vm_names[JsonText(s, "/vm_id")], StatusText(s), CommandText(s),
                    FormatAge(ParseRfc3339(JsonText(s, "/created_at")).value(), Now())});
  }
  ctx.Out(RenderTable({"NAME", "VM", "STATUS", "COMMAND", "CREATED"}, rows));
  return kExitOk;
}

int SessionShow(CliContext& ctx, const std::string& ref, const std::string& vm) {
  auto api = ctx.Connect();
  if (!api.ok()) return Report(api.error());
  auto s = (*api)->Call("GET", SessionPath(ref, vm), nullptr, kLongTimeout);
  if (!s.ok()) return Report(s.error());
  if (ctx.json()) {
    ctx.OutJson(*s);
    return kExitOk;
  }
  KeyValues kv = {
      {"name", JsonText(*s, "/name")},
      {"id", JsonText(*s, "/id")},
      {"status", StatusText(*s)},
      {"command", CommandText(*s)},
      {"guest pid", JsonText(*s, "/guest_pid")},
      {"stdin", JsonText(*s, "/stdin_mode")},
      {"logs", JsonText(*s, "/guest_state_dir")},
      {"reattachable", (*s)["reattachable"].is_boolean() && (*s)["reattachable"].get<bool>() ? "yes" : "no"},
      {"launch stage", JsonText(*s, "/launch_stage")}};
  if (!JsonText(*s, "/launch_message").empty())
    kv.push_back({"launch message", JsonText(*s, "/launch_message")});
  if (!JsonText(*s, "/last_error").empty()) kv.push_back({"last error", JsonText(*s, "/last_error")});
  if ((*s).contains("tags") && (*s)["tags"].is_object()) {
    std::string tags;
    for (auto it = (*s)["tags"].begin(); it != (*s)["tags"].end(); ++it) {
      tags += (tags.empty() ? "" : ",") + it.key() + "=" + (it->is_string() ? it->get<std::string>() : "");
    }
    if (!tags.empty()) kv.push_back({"tags", tags});
  }
  ctx.Out(RenderKeyValues(kv));
  return kExitOk;
}

int SessionStop(CliContext& ctx, const std::string& ref, const std::string& vm) {
  return CallAndName(ctx, "POST", SessionPath(ref, vm, "/stop"), nullptr);
}

}  // namespace

void AddSessionCommands(CLI::App& app, Command* selected) {
  auto* session = AddGroup(app, "session", "Detached commands in a VM, with logs, that outlive the CLI");
  {
    auto [c, f] = AddLeaf<StartFlags>(*session, selected, "start",
                                      "Start a detached command: banger session start VM [-- CMD [ARGS...]] "
                                      "(no CMD: the image's Entrypoint + Cmd)",
                                      SessionStart);
    c->add_option("vm", f->vm, "VM name or id")->required();
    c->add_option("--name", f->name, "Session name (default: derived from the command)")->type_name("NAME");
    c->add_option("--tag", f->tags, "Tag KEY=VALUE (repeatable)")->type_name("K=V")->allow_extra_args(false);
    c->add_flag("--stdin", f->stdin_pipe, "Keep stdin open for `session attach`");
    AddGuestCommandFlags(*c, f->cmd, /*command_required=*/false);
  }
  {
    struct ListFlags {
      std::string vm;
      ListFormatFlags format;
    };
    auto f = std::make_shared<ListFlags>();
    auto* c = session->add_subcommand("list", "List sessions (of one VM, or all)");
    c->alias("ls");
    c->add_option("vm", f->vm, "VM name or id");
    AddListFlags(*c, f->format, "session ids");
    c->callback([=] { *selected = [=](CliContext& ctx) { return SessionList(ctx, f->vm, f->format); }; });
  }
  struct Ref {
    std::string session, vm;
    bool follow = false;
  };
  auto add_ref = [&](const std::string& name, const std::string& help, auto run) {
    auto r = std::make_shared<Ref>();
    auto* c = session->add_subcommand(name, help);
    c->add_option("session", r->session, "Session name or id")->required();
    c->add_option("--vm", r->vm, "The session's VM, when the name is used in several")->type_name("VM");
    if (name == "logs") c->add_flag("-f,--follow", r->follow, "Keep printing until the session ends");
    c->callback([=] { *selected = [=](CliContext& ctx) { return run(ctx, *r); }; });
  };
  add_ref("show", "Show a session",
          [](CliContext& ctx, const Ref& r) { return SessionShow(ctx, r.session, r.vm); });
  add_ref("stop", "Stop a session (SIGTERM, then SIGKILL)",
          [](CliContext& ctx, const Ref& r) { return SessionStop(ctx, r.session, r.vm); });
  add_ref("logs", "Print a session's stdout and stderr", [](CliContext& ctx, const Ref& r) {
    std::string target = SessionPath(r.session, r.vm, "/logs");
    target +=
        (target.find('?') == std::string::npos ? "?follow=" : "&follow=") + std::string(r.follow ? "1" : "0");
    int code = StreamCommand(ctx, target, nullptr, false, false);
    return code == kExitBangerFailed ? kExitFailed : code;
  });
  add_ref("attach", "Follow a running session's output and send it stdin", [](CliContext& ctx, const Ref& r) {
    int code = StreamCommand(ctx, SessionPath(r.session, r.vm, "/attach"), nullptr, true, false);
    return code == kExitBangerFailed ? kExitFailed : code;
  });
}

}  // namespace banger

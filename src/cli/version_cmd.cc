// banger version: this client's version and the running daemon's, docker
// style (a Client block, a Server block). It does not start a daemon: with
// none running it prints the client block, says so on stderr and exits 1, as
// `docker version` does without its daemon.
#include <string>

#include "cli/commands.h"
#include "cli/output.h"

namespace banger {
namespace {

// The API level this client speaks (GET /v1/ping's "api").
constexpr int kClientApiLevel = 1;

#if defined(__x86_64__)
constexpr const char* kArch = "amd64";
#elif defined(__aarch64__)
constexpr const char* kArch = "arm64";
#else
constexpr const char* kArch = "unknown";
#endif

std::string Indented(const KeyValues& kv) {
  std::string out;
  std::string text = RenderKeyValues(kv);
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    out += " " + text.substr(start, end - start + 1);
    start = end + 1;
  }
  return out;
}

struct VersionFlags {
  std::string format;
};

int Version(CliContext& ctx, const VersionFlags& f) {
  auto format = CheckListFormat(ctx, ListFormatFlags{f.format, false});
  if (!format.ok()) return Report(format.error());
  Json client = {{"version", BANGER_VERSION}, {"api", kClientApiLevel}, {"os", "linux"}, {"arch", kArch}};
  Json all = {{"client", client}, {"server", nullptr}};
  auto ping = ctx.client().Ping();
  if (ping.ok()) {
    all["server"] = {{"version", ping->value("version", "")}, {"api", ping->value("api", 0)},
                     {"pid", ping->value("pid", 0)},          {"started_at", ping->value("started_at", "")},
                     {"home", ping->value("home", "")},       {"backend", ping->value("backend", "")}};
  }
  if (format->style == ListStyle::kTable) {
    std::string text = "Client:\n" + Indented({{"Version", BANGER_VERSION},
                                               {"API version", std::to_string(kClientApiLevel)},
                                               {"OS/Arch", std::string("linux/") + kArch}});
    if (ping.ok()) {
      const Json& s = all["server"];
      text += "\nServer: bangerd\n" + Indented({{"Version", JsonText(s, "/version")},
                                                {"API version", JsonText(s, "/api")},
                                                {"PID", JsonText(s, "/pid")},
                                                {"Started", JsonText(s, "/started_at")},
                                                {"Home", JsonText(s, "/home")},
                                                {"Backend", JsonText(s, "/backend")}});
    }
    ctx.Out(text);
  } else {
    ctx.Out(RenderOne(*format, all));
  }
  if (!ping.ok()) {
    if (ping.error().kind() != ErrorKind::kUnavailable) return Report(ping.error());
    return Report(Error::Unavailable("bangerd is not running (it starts on demand; `banger daemon status`)"));
  }
  return kExitOk;
}

}  // namespace

void AddVersionCommand(CLI::App& app, Command* selected) {
  auto [c, f] = AddLeaf<VersionFlags>(app, selected, "version",
                                      "Show the version of banger and of the running bangerd", Version);
  c->add_option("--format", f->format, "json, yaml, or a Go template ('{{.Server.Version}}')")
      ->type_name("FORMAT");
}

}  // namespace banger

// banger events: the daemon's event stream, one JSON object per line.
#include <cstdint>
#include <memory>
#include <string>

#include "cli/commands.h"

namespace banger {
namespace {

constexpr int kEventsPage = 1000;

struct EventsFlags {
  int64_t after = 0;
  bool follow = false;
};

int Events(CliContext& ctx, const EventsFlags& f) {
  if (f.after < 0) {
    return Report(Error::Invalid("--after must be zero or more, got " + std::to_string(f.after)), kExitUsage);
  }
  if (f.follow) {
    // The event stream: every event after the cursor, then live ones.
    ExitOkOnInterrupt();
    return FollowStream(ctx, "/v1/events/stream?after=" + std::to_string(f.after), StreamType::kEvent,
                        [&ctx](const std::string& event) { ctx.Out(event + "\n"); });
  }
  auto api = ctx.Connect();
  if (!api.ok()) return Report(api.error());
  int64_t cursor = f.after;
  while (true) {
    std::string target =
        "/v1/events?after=" + std::to_string(cursor) + "&limit=" + std::to_string(kEventsPage);
    auto page = (*api)->Call("GET", target, nullptr, kReadTimeout);
    if (!page.ok()) return Report(page.error());
    Json events = page->value("events", Json::array());
    for (const Json& e : events) {
      ctx.Out(SafeDump(e) + "\n");
      // Resume after the last event seen, so a reconnect neither skips nor repeats.
      cursor = e.value("seq", cursor);
    }
    if (events.empty()) return kExitOk;
  }
}

}  // namespace

void AddEventsCommand(CLI::App& app, Command* selected) {
  auto f = std::make_shared<EventsFlags>();
  auto* c = app.add_subcommand("events", "Print daemon events (state changes, ...) as JSON lines");
  c->add_option("--after", f->after, "Only events after this sequence number")->type_name("SEQ");
  c->add_flag("-f,--follow", f->follow, "Keep waiting for new events until interrupted");
  c->callback([=] { *selected = [=](CliContext& ctx) { return Events(ctx, *f); }; });
}

}  // namespace banger

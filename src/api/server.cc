#include "api/server.h"

#include <sys/socket.h>

#include <atomic>
#include <charconv>
#include <thread>
#include <regex>

#include "api/exec_stream.h"
#include "api/stream.h"
#include "base/log.h"
#include "model/json.h"

namespace banger {
namespace {

std::vector<std::string> Segments(const std::string& path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

HttpResponse JsonResponse(int status, const Json& body) {
  HttpResponse r;
  r.status = status;
  // Guest-provided text (errors quoting console output) may be invalid UTF-8.
  r.body = body.dump(-1, ' ', false, Json::error_handler_t::replace);
  return r;
}

Json VMViewJson(const VMView& v) {
  Json j = ToJson(v.vm);
  if (v.handles) j["handles"] = ToJson(*v.handles);
  return j;
}

Result<int64_t> QueryInt(const std::map<std::string, std::string>& q, const std::string& key, int64_t def,
                         int64_t lo, int64_t hi) {
  auto it = q.find(key);
  if (it == q.end() || it->second.empty()) return def;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
  if (ec != std::errc() || p != it->second.data() + it->second.size()) {
    return Error::Invalid("query parameter " + key + " must be an integer");
  }
  if (v < lo || v > hi) {
    return Error::Invalid("query parameter " + key + " must be between " + std::to_string(lo) + " and " +
                          std::to_string(hi));
  }
  return v;
}

bool QueryBool(const std::map<std::string, std::string>& q, const std::string& key) {
  auto it = q.find(key);
  return it != q.end() && (it->second == "true" || it->second == "1" || it->second.empty());
}

Result<Json> Body(const HttpRequest& req) {
  if (req.body.empty()) return Json::object();
  auto j = ParseJson(req.body);
  if (!j.ok()) return std::move(j).error();
  if (!j->is_object()) return Error::Invalid("request body must be a JSON object");
  return *j;
}

// Reads an optional field: `out` is set only when the key is present and
// non-null. The getter is always called so the key counts as known.
template <typename T>
void OptField(JsonReader& r, const char* key, std::optional<T>& out) {
  bool present = r.Has(key);
  T v{};
  if constexpr (std::is_same_v<T, int>) {
    r.Int(key, v);
  } else if constexpr (std::is_same_v<T, int64_t>) {
    r.Int64(key, v);
  } else if constexpr (std::is_same_v<T, bool>) {
    r.Bool(key, v);
  } else {
    r.Str(key, v);
  }
  if (present) out = v;
}

Result<CreateVMRequest> ParseCreate(const Json& j) {
  CreateVMRequest c;
  JsonReader r(j, "create request");
  r.Str("name", c.name);
  r.Str("image", c.image);
  OptField(r, "vcpu_count", c.vcpu_count);
  OptField(r, "memory_mib", c.memory_mib);
  OptField(r, "system_overlay_size_bytes", c.system_overlay_size_bytes);
  OptField(r, "work_disk_size_bytes", c.work_disk_size_bytes);
  OptField(r, "nat_enabled", c.nat_enabled);
  OptField(r, "backend", c.backend);
  r.Bool("no_start", c.no_start);
  r.StrMap("labels", c.labels);
  r.Str("request_id", c.request_id);
  BANGER_RETURN_IF_ERROR(r.Finish());
  return c;
}

Result<SetVMRequest> ParseSet(const Json& j) {
  SetVMRequest s;
  JsonReader r(j, "set request");
  OptField(r, "vcpu_count", s.vcpu_count);
  OptField(r, "memory_mib", s.memory_mib);
  OptField(r, "work_disk_size_bytes", s.work_disk_size_bytes);
  OptField(r, "nat_enabled", s.nat_enabled);
  BANGER_RETURN_IF_ERROR(r.Finish());
  return s;
}

Result<std::optional<std::chrono::milliseconds>> ParseStop(const Json& j) {
  std::optional<int64_t> ms;
  JsonReader r(j, "stop request");
  OptField(r, "timeout_ms", ms);
  BANGER_RETURN_IF_ERROR(r.Finish());
  if (!ms) return std::optional<std::chrono::milliseconds>{};
  if (*ms < 0 || *ms > 3600 * 1000) return Error::Invalid("timeout_ms must be between 0 and 3600000");
  return std::optional<std::chrono::milliseconds>(std::chrono::milliseconds(*ms));
}

Result<ImportImageRequest> ParseImport(const Json& j) {
  ImportImageRequest i;
  JsonReader r(j, "image import request");
  r.Str("name", i.name);
  r.Str("kernel_path", i.kernel_path);
  r.Str("rootfs_path", i.rootfs_path);
  r.Str("initrd_path", i.initrd_path);
  r.Str("modules_dir", i.modules_dir);
  r.Str("work_seed_path", i.work_seed_path);
  BANGER_RETURN_IF_ERROR(r.Finish());
  return i;
}

struct ExecParams {
  ExecRequest req;
  std::chrono::milliseconds agent_timeout{std::chrono::seconds(120)};
};

Result<ExecParams> ParseExec(const Json& j) {
  ExecParams p;
  int rows = 24, cols = 80;
  int64_t timeout_ms = p.agent_timeout.count();
  JsonReader r(j, "exec request");
  r.StrList("argv", p.req.argv);
  r.StrMap("env", p.req.env);
  r.Str("cwd", p.req.cwd);
  r.Bool("tty", p.req.tty);
  r.Int("rows", rows);
  r.Int("cols", cols);
  r.Int64("timeout_ms", timeout_ms);
  BANGER_RETURN_IF_ERROR(r.Finish());
  if (p.req.argv.empty()) return Error::Invalid("exec request: argv must name a command");
  for (const auto& a : p.req.argv) {
    if (a.find('\0') != std::string::npos) return Error::Invalid("exec request: argv contains a NUL byte");
  }
  static const std::regex env_key("^[A-Za-z_][A-Za-z0-9_]*$");
  for (const auto& [k, v] : p.req.env) {
    if (!std::regex_match(k, env_key)) return Error::Invalid("exec request: bad environment variable name \"" + k + "\"");
    if (v.find('\0') != std::string::npos) return Error::Invalid("exec request: env " + k + " contains a NUL byte");
  }
  if (!p.req.cwd.empty() && p.req.cwd[0] != '/') {
    return Error::Invalid("exec request: cwd must be an absolute path, got \"" + p.req.cwd + "\"");
  }
  if (rows < 1 || rows > 1000 || cols < 1 || cols > 1000) return Error::Invalid("exec request: bad window size");
  p.req.rows = static_cast<uint16_t>(rows);
  p.req.cols = static_cast<uint16_t>(cols);
  if (timeout_ms < 0 || timeout_ms > 3600 * 1000) return Error::Invalid("exec request: timeout_ms out of range");
  p.agent_timeout = std::chrono::milliseconds(timeout_ms);
  return p;
}

Result<BuildImageRequest> ParseBuild(const Json& j) {
  BuildImageRequest b;
  JsonReader r(j, "image build request");
  r.Str("name", b.name);
  r.Str("profile", b.profile);
  r.Bool("docker", b.docker);
  r.Int64("size_bytes", b.size_bytes);
  BANGER_RETURN_IF_ERROR(r.Finish());
  return b;
}

Result<StartSessionRequest> ParseSessionStart(const Json& j) {
  StartSessionRequest r;
  int64_t timeout_ms = r.agent_timeout.count();
  JsonReader rd(j, "session start request");
  rd.Str("name", r.name);
  rd.StrList("argv", r.argv);
  rd.StrMap("env", r.env);
  rd.Str("cwd", r.cwd);
  rd.StrMap("tags", r.tags);
  rd.Bool("stdin", r.stdin_pipe);
  rd.Int64("timeout_ms", timeout_ms);
  BANGER_RETURN_IF_ERROR(rd.Finish());
  if (r.argv.empty()) return Error::Invalid("session start request: argv must name a command");
  if (timeout_ms < 0 || timeout_ms > 3600 * 1000) return Error::Invalid("session start request: timeout_ms out of range");
  r.agent_timeout = std::chrono::milliseconds(timeout_ms);
  return r;
}

template <typename T>
Result<Json> ToJsonResult(Result<T> r) {
  if (!r.ok()) return std::move(r).error();
  return ToJson(*r);
}

Result<PrepareWorkspaceRequest> ParsePrepare(const Json& j) {
  PrepareWorkspaceRequest r;
  int64_t timeout_ms = r.agent_timeout.count();
  JsonReader rd(j, "workspace prepare request");
  rd.Str("source_path", r.source_path);
  rd.Str("guest_path", r.guest_path);
  rd.Str("mode", r.mode);
  rd.Bool("readonly", r.readonly);
  rd.Str("branch", r.branch);
  rd.Int64("timeout_ms", timeout_ms);
  BANGER_RETURN_IF_ERROR(rd.Finish());
  if (r.source_path.empty()) return Error::Invalid("workspace prepare request: source_path is required");
  if (timeout_ms < 0 || timeout_ms > 3600 * 1000) {
    return Error::Invalid("workspace prepare request: timeout_ms out of range");
  }
  r.agent_timeout = std::chrono::milliseconds(timeout_ms);
  return r;
}

// A 101 answer relaying an upgraded connection to an exec in a VM.
HttpResponse ExecUpgrade(VmService& vms, const std::string& vm_id, const ExecRequest& exec,
                         std::chrono::milliseconds agent_timeout) {
  HttpResponse r;
  r.status = 101;
  r.content_type = "";
  r.headers["Upgrade"] = kStreamProtocol;
  r.upgrade = [&vms, vm_id, exec, agent_timeout](UniqueFd fd, std::string leftover) {
    ServeExecStream(std::move(fd), std::move(leftover), vms, vm_id, exec, agent_timeout);
  };
  return r;
}

Result<Labels> ParseSelector(const std::string& raw) {
  Labels out;
  size_t i = 0;
  while (i < raw.size()) {
    size_t j = raw.find(',', i);
    if (j == std::string::npos) j = raw.size();
    BANGER_ASSIGN_OR_RETURN(auto kv, ParseLabel(raw.substr(i, j - i)));
    out[kv.first] = kv.second;
    i = j + 1;
  }
  return out;
}

}  // namespace

int HttpStatusFor(ErrorKind k) {
  switch (k) {
    case ErrorKind::kInvalidArgument: return 400;
    case ErrorKind::kNotFound: return 404;
    case ErrorKind::kConflict: return 409;
    case ErrorKind::kUnavailable: return 503;
    case ErrorKind::kTimeout: return 504;
    case ErrorKind::kInternal: return 500;
  }
  return 500;
}

HttpResponse ErrorResponse(const Error& e) {
  return JsonResponse(HttpStatusFor(e.kind()),
                      Json{{"error", {{"code", ErrorKindName(e.kind())}, {"message", e.message()}}}});
}

ApiRouter::ApiRouter(VmService& vms, SessionService& sessions, VmMonitor& monitor, WorkspaceService& workspaces,
                     EventLog& events, DaemonInfo info, std::function<void()> request_stop)
    : vms_(vms),
      sessions_(sessions),
      monitor_(monitor),
      workspaces_(workspaces),
      events_(events),
      info_(std::move(info)),
      request_stop_(std::move(request_stop)) {}

HttpResponse ApiRouter::Handle(const HttpRequest& req) {
  try {
    HttpResponse r = Route(req);
    spdlog::debug("api: {} {} -> {}", req.method, req.target, r.status);
    return r;
  } catch (const std::exception& e) {
    // Last line of defence: a bug must not kill the daemon or the connection silently.
    spdlog::error("api: {} {}: unexpected exception: {}", req.method, req.target, e.what());
    return ErrorResponse(Error::Internal(std::string("unexpected error: ") + e.what()));
  }
}

// NOLINTBEGIN(bugprone-macro-parentheses): `lhs` may be a declaration.
#define API_TRY(lhs, expr)                           \
  auto BANGER_CONCAT(_r_, __LINE__) = (expr);         \
  if (!BANGER_CONCAT(_r_, __LINE__).ok())             \
    return ErrorResponse(BANGER_CONCAT(_r_, __LINE__).error()); \
  lhs = std::move(BANGER_CONCAT(_r_, __LINE__)).value()
// NOLINTEND(bugprone-macro-parentheses)

void ApiRouter::ServeProgress(UniqueFd fd, std::string leftover, const ProgressOp& op) {
  // A client that goes away cancels the build: a reader notices the end of
  // the stream while the build runs on this thread.
  std::atomic<bool> cancel{false};
  std::thread watcher([&] {
    StreamReader reader(fd.get(), std::move(leftover));
    for (;;) {
      auto f = reader.Next();
      if (!f.ok() || !f->has_value()) break;
    }
    cancel = true;
  });
  auto progress = [&](const std::string& line) {
    if (!WriteStreamFrame(fd.get(), StreamType::kProgress, line).ok()) cancel = true;
  };
  auto result = op(progress, cancel);
  if (result.ok()) {
    WriteStreamFrame(fd.get(), StreamType::kResult, result->dump()).ok();
  } else {
    WriteStreamFrame(fd.get(), StreamType::kError, EncodeErrorFrame(result.error())).ok();
  }
  ::shutdown(fd.get(), SHUT_RD);
  watcher.join();
}

HttpResponse ApiRouter::Sessions(const HttpRequest& req, const std::vector<std::string>& seg) {
  const std::string& m = req.method;
  auto q = req.Query();
  std::string vm = q.count("vm") ? q["vm"] : "";
  if (seg.size() == 2) {
    if (m != "GET") return ErrorResponse(Error::Invalid("method " + m + " not allowed on " + req.Path()));
    API_TRY(auto list, sessions_.List(vm));
    Json arr = Json::array();
    for (const auto& s : list) arr.push_back(ToJson(s));
    return JsonResponse(200, Json{{"sessions", arr}});
  }
  const std::string& ref = seg[2];
  if (seg.size() == 3 && m == "GET") {
    API_TRY(GuestSession s, sessions_.Get(ref, vm));
    return JsonResponse(200, ToJson(s));
  }
  if (seg.size() == 4 && m == "POST") {
    const std::string& action = seg[3];
    if (action == "stop") {
      API_TRY(GuestSession s, sessions_.Stop(ref, vm));
      return JsonResponse(200, ToJson(s));
    }
    if (action == "logs" || action == "attach") {
      if (req.headers.count("upgrade") == 0) {
        return ErrorResponse(Error::Invalid(action + " needs an upgraded connection (Upgrade: banger-stream/1)"));
      }
      API_TRY(Json body, Body(req));
      bool follow = false;
      JsonReader r(body, action + " request");
      r.Bool("follow", follow);
      if (auto st = r.Finish(); !st.ok()) return ErrorResponse(st.error());
      API_TRY(SessionStream st, action == "logs" ? sessions_.Logs(ref, vm, follow) : sessions_.Attach(ref, vm));
      return ExecUpgrade(vms_, st.vm_id, st.exec, std::chrono::seconds(30));
    }
  }
  return ErrorResponse(Error::NotFound("no such endpoint: " + m + " " + req.Path()));
}

HttpResponse ApiRouter::Route(const HttpRequest& req) {
  auto seg = Segments(req.Path());
  const std::string& m = req.method;
  auto q = req.Query();
  auto not_allowed = [&] {
    return ErrorResponse(Error::Invalid("method " + m + " not allowed on " + req.Path()));
  };
  if (seg.size() < 2 || seg[0] != "v1") {
    return ErrorResponse(Error::NotFound("no such endpoint: " + req.Path()));
  }
  const std::string& res = seg[1];

  if (res == "ping" && seg.size() == 2) {
    if (m != "GET") return not_allowed();
    auto all = vms_.List({});
    Json j{{"version", info_.version}, {"api", 1},          {"pid", info_.pid},
           {"home", info_.home},       {"started_at", FormatRfc3339(info_.started_at)},
           {"backend", info_.backend}, {"qemu_accel", info_.qemu_accel},
           {"vms_total", all.ok() ? all->size() : 0}, {"vms_running", vms_.CountRunning()}};
    if (!info_.web_url.empty()) j["web_url"] = info_.web_url;
    return JsonResponse(200, j);
  }
  if (res == "daemon" && seg.size() == 3 && seg[2] == "stop") {
    if (m != "POST") return not_allowed();
    request_stop_();
    return JsonResponse(202, Json::object());
  }

  if (res == "images") {
    if (seg.size() == 2) {
      if (m == "GET") {
        API_TRY(auto imgs, vms_.ListImages());
        Json arr = Json::array();
        for (const auto& i : imgs) arr.push_back(ToJson(i));
        return JsonResponse(200, Json{{"images", arr}});
      }
      if (m == "POST") {
        API_TRY(Json body, Body(req));
        API_TRY(auto ir, ParseImport(body));
        API_TRY(Image img, vms_.ImportImage(ir));
        return JsonResponse(201, ToJson(img));
      }
      return not_allowed();
    }
    if (seg.size() == 3 && seg[2] == "build") {
      if (m != "POST") return not_allowed();
      if (req.headers.count("upgrade") == 0) {
        return ErrorResponse(Error::Invalid("image build needs an upgraded connection (Upgrade: banger-stream/1)"));
      }
      API_TRY(Json body, Body(req));
      API_TRY(BuildImageRequest br, ParseBuild(body));
      HttpResponse r;
      r.status = 101;
      r.content_type = "";
      r.headers["Upgrade"] = kStreamProtocol;
      r.upgrade = [this, br](UniqueFd fd, std::string leftover) {
        ServeProgress(std::move(fd), std::move(leftover), [this, br](const auto& progress, const auto& cancel) {
          return ToJsonResult(vms_.BuildImage(br, progress, cancel));
        });
      };
      return r;
    }
    if (seg.size() == 3) {
      if (m == "GET") {
        API_TRY(Image img, vms_.GetImage(seg[2]));
        return JsonResponse(200, ToJson(img));
      }
      if (m == "DELETE") {
        API_TRY(std::string id, vms_.DeleteImage(seg[2]));
        return JsonResponse(200, Json{{"deleted", true}, {"id", id}});
      }
      return not_allowed();
    }
  }

  if (res == "vms") {
    if (seg.size() == 2) {
      if (m == "GET") {
        Labels selector;
        if (auto it = q.find("label"); it != q.end()) {
          API_TRY(selector, ParseSelector(it->second));
        }
        API_TRY(auto views, vms_.List(selector));
        Json arr = Json::array();
        for (const auto& v : views) arr.push_back(VMViewJson(v));
        return JsonResponse(200, Json{{"vms", arr}});
      }
      if (m == "POST") {
        API_TRY(Json body, Body(req));
        API_TRY(auto cr, ParseCreate(body));
        API_TRY(auto result, vms_.Create(cr));
        return JsonResponse(result.created ? 201 : 200, VMViewJson(result.view));
      }
      return not_allowed();
    }
    const std::string& ref = seg[2];
    if (seg.size() == 3) {
      if (m == "GET") {
        API_TRY(auto v, vms_.Get(ref));
        return JsonResponse(200, VMViewJson(v));
      }
      if (m == "PATCH") {
        API_TRY(Json body, Body(req));
        API_TRY(auto sr, ParseSet(body));
        API_TRY(auto v, vms_.Set(ref, sr));
        return JsonResponse(200, VMViewJson(v));
      }
      if (m == "DELETE") {
        API_TRY(std::string id, vms_.Delete(ref, QueryBool(q, "missing_ok")));
        if (id.empty()) return JsonResponse(200, Json{{"deleted", false}});
        return JsonResponse(200, Json{{"deleted", true}, {"id", id}});
      }
      return not_allowed();
    }
    if (seg.size() == 4) {
      const std::string& action = seg[3];
      if (action == "logs") {
        if (m != "GET") return not_allowed();
        API_TRY(int64_t offset, QueryInt(q, "offset", 0, 0, INT64_MAX));
        API_TRY(int64_t wait_ms, QueryInt(q, "wait_ms", 0, 0, 60000));
        API_TRY(auto chunk, vms_.ReadLogs(ref, offset, 1 << 20, std::chrono::milliseconds(wait_ms)));
        HttpResponse r;
        r.status = 200;
        r.content_type = "application/octet-stream";
        r.headers["X-Banger-Next-Offset"] = std::to_string(chunk.next_offset);
        r.headers["X-Banger-Vm-State"] = VMStateName(chunk.state);
        r.body = std::move(chunk.data);
        return r;
      }
      if (action == "workspaces") {
        if (m == "GET") {
          API_TRY(auto list, workspaces_.List(ref));
          Json arr = Json::array();
          for (const auto& w : list) arr.push_back(ToJson(w));
          return JsonResponse(200, Json{{"workspaces", arr}});
        }
        if (m != "POST") return not_allowed();
        if (req.headers.count("upgrade") == 0) {
          return ErrorResponse(
              Error::Invalid("workspace prepare needs an upgraded connection (Upgrade: banger-stream/1)"));
        }
        API_TRY(Json body, Body(req));
        API_TRY(PrepareWorkspaceRequest pr, ParsePrepare(body));
        API_TRY(auto view, vms_.Get(ref));  // answer "no such vm" before upgrading
        HttpResponse r;
        r.status = 101;
        r.content_type = "";
        r.headers["Upgrade"] = kStreamProtocol;
        std::string vm_id = view.vm.id;
        r.upgrade = [this, vm_id, pr](UniqueFd fd, std::string leftover) {
          ServeProgress(std::move(fd), std::move(leftover), [this, vm_id, pr](const auto& progress, const auto& cancel) {
            return ToJsonResult(workspaces_.Prepare(vm_id, pr, progress, cancel));
          });
        };
        return r;
      }
      if (action == "stats") {
        if (m != "GET") return not_allowed();
        API_TRY(VMRecord vm, monitor_.StatsNow(ref));
        return JsonResponse(200, Json{{"id", vm.id},
                                      {"name", vm.name},
                                      {"state", VMStateName(vm.state)},
                                      {"stats", ToJson(vm.stats)}});
      }
      if (m != "POST") return not_allowed();
      if (action == "exec") {
        if (req.headers.count("upgrade") == 0) {
          return ErrorResponse(Error::Invalid("exec needs an upgraded connection (Upgrade: banger-stream/1)"));
        }
        API_TRY(Json body, Body(req));
        API_TRY(ExecParams params, ParseExec(body));
        API_TRY(auto view, vms_.Get(ref));  // answer "no such vm" before upgrading
        return ExecUpgrade(vms_, view.vm.id, params.req, params.agent_timeout);
      }
      if (action == "sessions") {
        API_TRY(Json body, Body(req));
        API_TRY(StartSessionRequest sr, ParseSessionStart(body));
        sr.vm = ref;
        API_TRY(GuestSession s, sessions_.Start(sr));
        return JsonResponse(201, ToJson(s));
      }
      if (action == "start") {
        API_TRY(Json body, Body(req));
        if (!body.empty()) return ErrorResponse(Error::Invalid("start takes no body fields"));
        API_TRY(auto v, vms_.Start(ref));
        return JsonResponse(200, VMViewJson(v));
      }
      if (action == "stop" || action == "restart") {
        API_TRY(Json body, Body(req));
        API_TRY(auto graceful, ParseStop(body));
        if (action == "stop") {
          API_TRY(auto v, vms_.Stop(ref, graceful));
          return JsonResponse(200, VMViewJson(v));
        }
        API_TRY(auto v, vms_.Restart(ref, graceful));
        return JsonResponse(200, VMViewJson(v));
      }
    }
  }

  if (res == "sessions") return Sessions(req, seg);

  if (res == "events" && seg.size() == 2) {
    if (m != "GET") return not_allowed();
    API_TRY(int64_t after, QueryInt(q, "after", 0, 0, INT64_MAX));
    API_TRY(int64_t wait_ms, QueryInt(q, "wait_ms", 0, 0, 60000));
    API_TRY(int64_t limit, QueryInt(q, "limit", 100, 1, 1000));
    API_TRY(auto evs, events_.Read(after, static_cast<int>(limit), std::chrono::milliseconds(wait_ms)));
    Json arr = Json::array();
    int64_t last = after;
    for (const auto& e : evs) {
      arr.push_back(ToJson(e));
      last = e.seq;
    }
    return JsonResponse(200, Json{{"events", arr}, {"last_seq", last}});
  }

  return ErrorResponse(Error::NotFound("no such endpoint: " + m + " " + req.Path()));
}

}  // namespace banger

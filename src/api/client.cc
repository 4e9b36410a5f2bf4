#include "api/client.h"

#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "base/fs.h"
#include "base/process.h"
#include "model/json_member.h"

namespace banger {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::chrono::milliseconds kPollInterval{50};

ErrorKind ErrorKindFromStatus(int status) {
  switch (status) {
    case 400:
      return ErrorKind::kInvalidArgument;
    case 404:
      return ErrorKind::kNotFound;
    case 409:
      return ErrorKind::kConflict;
    case 503:
      return ErrorKind::kUnavailable;
    case 504:
      return ErrorKind::kTimeout;
    default:
      return ErrorKind::kInternal;
  }
}

std::string FirstLine(const std::string& s) {
  std::string line = s.substr(0, s.find('\n'));
  if (line.size() > 200) line = line.substr(0, 200) + "...";
  return line;
}

int64_t FileSize(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : 0;
}

// The last non-empty line a file gained beyond byte `start`: what a bangerd
// that just died said last (bangerd.out also holds earlier daemons' output).
std::string LastLineSince(const std::string& path, int64_t start) {
  int64_t grown = FileSize(path) - start;
  if (grown <= 0) return "";
  std::string tail = TailFile(path, static_cast<size_t>(std::min<int64_t>(grown, 4096)));
  while (!tail.empty() && (tail.back() == '\n' || tail.back() == '\r' || tail.back() == ' ')) tail.pop_back();
  auto nl = tail.rfind('\n');
  std::string line = nl == std::string::npos ? tail : tail.substr(nl + 1);
  // Log lines lead with "[time] [level] "; the reason is what follows.
  while (line.size() > 1 && line[0] == '[') {
    auto close = line.find("] ");
    if (close == std::string::npos) break;
    line = line.substr(close + 2);
  }
  return line;
}

std::string SelfExe() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

}  // namespace

ErrorKind ErrorKindFromCode(const std::string& code) {
  for (ErrorKind k : {ErrorKind::kInvalidArgument, ErrorKind::kNotFound, ErrorKind::kConflict,
                      ErrorKind::kUnavailable, ErrorKind::kTimeout, ErrorKind::kInternal}) {
    if (code == ErrorKindName(k)) return k;
  }
  return ErrorKind::kInternal;
}

Error ErrorFromResponse(const HttpResponse& resp) {
  auto parsed = ParseJson(resp.body);
  if (parsed.ok() && parsed->is_object()) {
    const Json& j = *parsed;
    auto err = j.find("error");
    if (err != j.end() && err->is_object()) {
      auto code = err->find("code");
      auto message = err->find("message");
      if (message != err->end() && message->is_string() && !message->get<std::string>().empty()) {
        ErrorKind kind = code != err->end() && code->is_string() ? ErrorKindFromCode(code->get<std::string>())
                                                                 : ErrorKindFromStatus(resp.status);
        return {kind, message->get<std::string>()};
      }
    }
  }
  // Not an API error body (a daemon bug, or something else on the socket):
  // say what came back rather than nothing.
  std::string line = FirstLine(resp.body);
  return {ErrorKindFromStatus(resp.status),
          "bangerd answered HTTP " + std::to_string(resp.status) + (line.empty() ? "" : ": " + line)};
}

bool FileLockHeld(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  const std::string ino = std::to_string(st.st_ino);
  std::ifstream locks("/proc/locks");
  std::string line;
  // Lines look like "1: FLOCK  ADVISORY  WRITE 7403 fe:00:10952922 0 EOF";
  // waiters carry "->" and hold nothing. The inode alone is matched: on
  // overlayfs the device /proc/locks names differs from the one stat
  // reports, and a false match only makes a caller wait longer.
  while (std::getline(locks, line)) {
    if (line.find("->") != std::string::npos) continue;
    std::istringstream fields(line);
    std::string f;
    while (fields >> f) {
      if (std::count(f.begin(), f.end(), ':') != 2) continue;
      if (f.substr(f.rfind(':') + 1) == ino) return true;
    }
  }
  return false;
}

Result<std::string> FindBangerd() {
  if (const char* env = std::getenv("BANGER_BANGERD"); env && *env) {
    auto r = FindExecutable(env);
    if (!r.ok()) return std::move(r).error().Wrap("BANGER_BANGERD");
    return r;
  }
  // Next to banger first, so a build tree or an unpacked release uses its
  // own daemon rather than whichever one PATH finds.
  std::string self = SelfExe();
  std::string dir = self.substr(0, self.rfind('/'));
  if (!self.empty()) {
    auto beside = FindExecutable(dir + "/bangerd");
    if (beside.ok()) return beside;
  }
  auto in_path = FindExecutable("bangerd");
  if (in_path.ok()) return in_path;
  return Error::Unavailable("bangerd not found in " +
                            (self.empty() ? std::string("banger's directory") : dir) +
                            " or in PATH (set BANGER_BANGERD to its path)");
}

ApiClient::ApiClient(HomeLayout home, std::string config_path)
    : home_(std::move(home)), config_path_(std::move(config_path)) {}

Result<HttpResponse> ApiClient::Raw(const std::string& method, const std::string& target,
                                    const std::string& body, std::chrono::milliseconds timeout) {
  HttpRequest req;
  req.method = method;
  req.target = target;
  req.body = body;
  BANGER_ASSIGN_OR_RETURN(HttpResponse resp, UnixHttpCall(home_.Socket(), req, timeout));
  if (resp.status < 200 || resp.status > 299) return ErrorFromResponse(resp);
  return resp;
}

Result<Json> ApiClient::Call(const std::string& method, const std::string& target, const Json* body,
                             std::chrono::milliseconds timeout) {
  BANGER_ASSIGN_OR_RETURN(HttpResponse resp, Raw(method, target, body ? SafeDump(*body) : "", timeout));
  if (resp.body.empty()) return Json::object();
  auto parsed = ParseJson(resp.body);
  if (!parsed.ok()) {
    return std::move(parsed).error().Wrap("bad answer from bangerd to " + method + " " + target);
  }
  return parsed;
}

Result<std::unique_ptr<WsConn>> ApiClient::OpenStream(const std::string& target, const Json* open,
                                                      std::chrono::milliseconds timeout,
                                                      const WsOptions& options) {
  BANGER_ASSIGN_OR_RETURN(auto dial, WsDialUnix(home_.Socket(), target, {}, timeout, options));
  if (dial.status != 101 || !dial.conn) {
    HttpResponse refused;
    refused.status = dial.status;
    refused.body = std::move(dial.response_body);
    return ErrorFromResponse(refused);
  }
  if (open != nullptr) {
    if (Status st = dial.conn->SendText(SafeDump(*open)); !st.ok()) {
      return Error::Unavailable("connection to bangerd lost: " + st.error().message());
    }
  }
  return std::move(dial.conn);
}

Result<std::string> ApiClient::GetMemberText(const std::string& target, const std::string& key, int indent) {
  BANGER_ASSIGN_OR_RETURN(HttpResponse resp, Raw("GET", target, "", kReadTimeout));
  if (resp.body.empty()) return std::string("[]");
  if (auto text = IndentedJsonMember(resp.body, key, indent, "[]")) return std::move(*text);
  // Invalid, or valid in a way the fast path leaves to the parse.
  auto parsed = ParseJson(resp.body);
  if (!parsed.ok()) return std::move(parsed).error().Wrap("bad answer from bangerd to GET " + target);
  if (!parsed->is_object())
    return Error::Internal("bad answer from bangerd to GET " + target + ": not an object");
  return SafeDump(parsed->value(key, Json::array()), indent);
}

Result<Json> ApiClient::Ping() { return Call("GET", "/v1/ping", nullptr, kPingTimeout); }

Result<pid_t> ApiClient::SpawnDaemon(const std::string& bangerd) {
  SpawnOptions opts;
  opts.argv = {bangerd, "--home", home_.root};
  if (!config_path_.empty()) {
    opts.argv.push_back("--config");
    opts.argv.push_back(config_path_);
  }
  opts.stdout_path = home_.DaemonOut();
  // The daemon outlives this CLI; it must not pin the user's cwd.
  opts.cwd = "/";
  auto pid = SpawnDetached(opts);
  if (!pid.ok()) return std::move(pid).error().Wrap("starting " + bangerd);
  return pid;
}

Status ApiClient::EnsureDaemon() {
  // A ping, not just a connect: a daemon dying under a kill -9 can still
  // accept (its listener closes last) and then reset the connection.
  auto ping = Ping();
  if (ping.ok()) return OkStatus();
  // Only a missing listener means "no daemon": one that accepts but does not
  // answer is alive (perhaps busy), and a second one would just lose the lock.
  if (ping.error().kind() != ErrorKind::kUnavailable) return ping.error();
  // A daemon of another user (root's, say) is not missing, just not ours to
  // use; starting a second one on its home could only fail.
  if (PathExists(home_.Socket()) && ::access(home_.Socket().c_str(), W_OK) != 0 && errno == EACCES) {
    return Error::Unavailable("no permission to use " + home_.Socket() +
                              " (bangerd runs as another user; use that user or another --home)");
  }

  BANGER_ASSIGN_OR_RETURN(std::string bangerd, FindBangerd());
  // Private from the start (the daemon also fixes an existing home's modes).
  if (!IsDirectory(home_.root)) {
    if (auto st = MakeDirs(home_.root, 0700); !st.ok()) {
      return std::move(st).error().Wrap("creating banger home");
    }
  }
  int64_t out_start = FileSize(home_.DaemonOut());
  BANGER_ASSIGN_OR_RETURN(pid_t pid, SpawnDaemon(bangerd));

  // Set once our daemon has exited while another process held the home's
  // lock: a concurrent CLI's daemon won the start race, or a stopping daemon
  // was still on its way out.
  bool lost_to_other = false;
  const auto deadline = Clock::now() + kDaemonWaitTimeout;
  while (Clock::now() < deadline) {
    std::this_thread::sleep_for(kPollInterval);
    ping = Ping();
    if (ping.ok()) return OkStatus();
    if (RealProcessOps().Alive(pid)) continue;
    if (FileLockHeld(home_.LockFile())) {
      lost_to_other = true;
      continue;
    }
    std::string said = LastLineSince(home_.DaemonOut(), out_start);
    // Ours found the lock taken, and its holder has let go since (a killed or
    // stopping daemon on its way out: the last of its threads can outlive its
    // pid by a moment): start another.
    if (lost_to_other || said.find(kHomeLockedMessage) != std::string::npos) {
      lost_to_other = false;
      out_start = FileSize(home_.DaemonOut());
      BANGER_ASSIGN_OR_RETURN(pid, SpawnDaemon(bangerd));
      continue;
    }
    if (said.empty()) said = "it exited without a message (see " + home_.DaemonOut() + ")";
    return Error::Unavailable("bangerd failed to start: " + said);
  }
  return Error::Timeout("bangerd did not answer on " + home_.Socket() + " within " +
                        std::to_string(kDaemonWaitTimeout.count() / 1000) + "s (" + ping.error().message() +
                        "; see " + home_.DaemonOut() + ")");
}

Status ApiClient::StopDaemon() {
  auto ping = Ping();
  if (!ping.ok()) {
    if (ping.error().kind() == ErrorKind::kUnavailable) return OkStatus();
    return ping.error();
  }
  pid_t pid = 0;
  if (auto p = ping->find("pid"); p != ping->end() && p->is_number_integer()) pid = p->get<pid_t>();

  auto stop = Call("POST", "/v1/daemon/stop");
  // A daemon may close the connection as it goes; only a refusal counts.
  if (!stop.ok() && stop.error().kind() != ErrorKind::kUnavailable) return stop.error();

  const auto deadline = Clock::now() + kDaemonWaitTimeout;
  while (Clock::now() < deadline) {
    if (!Ping().ok() && (pid <= 0 || !RealProcessOps().Alive(pid))) return OkStatus();
    std::this_thread::sleep_for(kPollInterval);
  }
  return Error::Timeout("bangerd" + (pid > 0 ? " (pid " + std::to_string(pid) + ")" : std::string()) +
                        " still running " + std::to_string(kDaemonWaitTimeout.count() / 1000) +
                        "s after being asked to stop");
}

}  // namespace banger

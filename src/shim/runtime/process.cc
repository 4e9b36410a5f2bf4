#include "runtime/process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include "api/stream.h"
#include "base/log.h"
#include "http/http.h"

namespace banger::shim {
namespace {

constexpr std::chrono::seconds kFifoOpenTimeout{30};
constexpr size_t kStdinChunk = 64 * 1024;

bool IsFileUri(const std::string& p) { return p.rfind("file://", 0) == 0; }

// Where output goes: containerd's FIFO (opened without blocking forever on a
// reader that never comes), a file:// path, or nowhere. A FIFO whose reader
// went away (containerd restarted) is reopened on the next write; output
// meanwhile is dropped, so the guest is never held up by a dead reader.
class OutputSink {
 public:
  explicit OutputSink(std::string path) : path_(std::move(path)) {}
  void Open(std::chrono::milliseconds patience) {
    if (path_.empty()) return;
    if (IsFileUri(path_)) {
      fd_.Reset(::open(path_.substr(7).c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
      return;
    }
    const auto deadline = std::chrono::steady_clock::now() + patience;
    for (;;) {
      int fd = ::open(path_.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
      if (fd >= 0) {
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        fd_.Reset(fd);
        return;
      }
      if (errno != ENXIO || std::chrono::steady_clock::now() >= deadline) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  void Write(std::string_view data) {
    if (path_.empty()) return;
    if (!fd_.valid()) Open(std::chrono::milliseconds(0));
    size_t off = 0;
    while (fd_.valid() && off < data.size()) {
      ssize_t n = ::write(fd_.get(), data.data() + off, data.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        fd_.Reset();  // the reader is gone: drop, reopen next time
        return;
      }
      off += static_cast<size_t>(n);
    }
  }

 private:
  std::string path_;
  UniqueFd fd_;
};

// An exec's exit status for containerd: its code (128 + signal when a signal
// ended it), 255 when the message is not an exit.
uint32_t ExitStatusOf(std::string_view payload) {
  auto exit = DecodeExitFrame(payload);
  return exit.ok() && exit->code >= 0 ? static_cast<uint32_t>(exit->code) : 255u;
}

Json EnvJson(const ProcessSpec& spec) {
  Json env = Json::object();
  for (const auto& [k, v] : spec.env) env[k] = v;
  return env;
}

}  // namespace

Status CheckStdio(const Stdio& io) {
  for (const std::string* p : {&io.in, &io.out, &io.err}) {
    if (p->rfind("binary://", 0) == 0)
      return Error::Invalid("binary:// logging is not supported by the banger shim");
    if (!p->empty() && !IsFileUri(*p) && (*p)[0] != '/')
      return Error::Invalid("stdio path " + *p + " is not absolute");
  }
  if (IsFileUri(io.in)) return Error::Invalid("stdin cannot be a file:// URI");
  return OkStatus();
}

Process::~Process() = default;

ProcState Process::state() const {
  std::lock_guard<std::mutex> g(mu_);
  return state_;
}

std::optional<ExitInfo> Process::exit() const {
  std::lock_guard<std::mutex> g(mu_);
  return exit_;
}

void Process::MarkExited(uint32_t status) {
  ExitFn fn;
  {
    std::lock_guard<std::mutex> g(mu_);
    if (state_ == ProcState::kStopped) return;
    state_ = ProcState::kStopped;
    exit_ = ExitInfo{status, std::chrono::system_clock::now()};
    fn = std::move(on_exit_);
  }
  cv_.notify_all();
  if (fn) fn(*this);
}

std::optional<ExitInfo> Process::Wait(const std::function<bool()>& give_up) {
  std::unique_lock<std::mutex> lk(mu_);
  while (state_ != ProcState::kStopped) {
    if (give_up && give_up()) return std::nullopt;
    cv_.wait_for(lk, std::chrono::milliseconds(200));
  }
  return exit_;
}

Status Process::Start(Bangerd& api, const std::string& vm, const std::string& session_name, ExitFn on_exit) {
  {
    std::lock_guard<std::mutex> g(mu_);
    if (state_ != ProcState::kCreated) return Error::Conflict("process " + exec_id_ + " was already started");
    on_exit_ = std::move(on_exit);
  }
  stdin_wake_.Reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!session_name.empty() && !spec_.terminal) return StartSession(api, vm, session_name);
  return StartExec(api, vm);
}

Status Process::StartSession(Bangerd& api, const std::string& vm, const std::string& session_name) {
  Json body{{"argv", spec_.args},       {"name", session_name}, {"env", EnvJson(spec_)},
            {"cwd", spec_.cwd},         {"user", spec_.User()}, {"no_image_env", true},
            {"stdin", !io_.in.empty()}, {"timeout_ms", 120000}};
  BANGER_ASSIGN_OR_RETURN(Json s,
                          api.Call("POST", "/v1/vms/" + UrlEncode(vm) + "/sessions", &body, kLongTimeout));
  {
    std::lock_guard<std::mutex> g(mu_);
    session_id_ = s.value("id", "");
    state_ = ProcState::kRunning;
  }
  auto self = shared_from_this();
  std::thread([self, api, vm]() mutable { self->FollowSession(api, vm); }).detach();
  if (!io_.in.empty()) {
    std::thread([self, api]() mutable {
      std::shared_ptr<WsConn> ws;
      auto connect = [&]() -> Status {
        if (ws) return OkStatus();
        auto opened = api.Stream("/v1/sessions/" + UrlEncode(self->session_id_) + "/attach", nullptr);
        if (!opened.ok()) return std::move(opened).error();
        ws = std::shared_ptr<WsConn>(std::move(*opened));
        return OkStatus();
      };
      self->PumpStdin(
          [&](std::string_view data) -> Status {
            for (int attempt = 0; attempt < 30 && !self->detached_; ++attempt) {
              if (connect().ok() && ws->Send(Msg(StreamType::kStdin), data).ok()) return OkStatus();
              ws.reset();  // bangerd restarting: connect again
              std::this_thread::sleep_for(std::chrono::seconds(1));
            }
            return Error::Unavailable("stdin: the session's attach stream is gone");
          },
          [&] {
            if (connect().ok()) ws->Send(Msg(StreamType::kStdinEof), "").ok();
          });
      if (ws) ws->Close();
    }).detach();
  }
  return OkStatus();
}

namespace {

// The session's recorded end (exited/failed with its exit code), asked a few
// times: the guest records it a moment after the output ends.
std::optional<uint32_t> SessionEnd(Bangerd& api, const std::string& id, bool* gone) {
  auto s = api.Call("GET", "/v1/sessions/" + UrlEncode(id));
  if (!s.ok()) {
    *gone = s.error().kind() == ErrorKind::kNotFound;
    return std::nullopt;
  }
  const std::string st = s->value("status", "");
  if (st != "exited" && st != "failed") return std::nullopt;
  if (s->contains("exit_code") && (*s)["exit_code"].is_number_integer()) {
    int code = (*s)["exit_code"].get<int>();
    return code < 0 ? 255u : static_cast<uint32_t>(code);
  }
  return 255u;
}

// A VM that is gone or no longer runs ends its processes.
bool VmDown(Bangerd& api, const std::string& vm) {
  auto v = api.Call("GET", "/v1/vms/" + UrlEncode(vm));
  if (!v.ok()) return v.error().kind() == ErrorKind::kNotFound;
  const std::string st = v->value("state", "");
  return st == "stopped" || st == "error" || st == "created";
}

}  // namespace

void Process::FollowSession(Bangerd api, const std::string& vm) {
  OutputSink out(io_.out), err(io_.err);
  out.Open(kFifoOpenTimeout);
  err.Open(kFifoOpenTimeout);
  uint64_t out_done = 0, err_done = 0;  // bytes delivered, skipped when the stream starts over
  const std::string target = "/v1/sessions/" + UrlEncode(session_id_) + "/logs?follow=1";
  while (!detached_) {
    bool ended = false;  // the stream's exit: the session's output is complete
    auto opened = api.Stream(target, nullptr);
    if (opened.ok()) {
      std::unique_ptr<WsConn> ws = std::move(*opened);
      uint64_t out_seen = 0, err_seen = 0;
      for (;;) {
        auto m = ws->Recv(std::chrono::seconds(1));
        if (detached_) return;
        if (!m.ok() && m.error().kind() == ErrorKind::kTimeout) continue;
        if (!m.ok() || !m->has_value()) break;
        const WsMessage& msg = **m;
        if (msg.text) continue;
        auto t = static_cast<StreamType>(msg.type());
        std::string_view p = msg.payload();
        if (t == StreamType::kStdout || t == StreamType::kStderr) {
          uint64_t& seen = t == StreamType::kStdout ? out_seen : err_seen;
          uint64_t& done = t == StreamType::kStdout ? out_done : err_done;
          // Skip what an earlier stream already delivered.
          uint64_t skip = done > seen ? std::min<uint64_t>(done - seen, p.size()) : 0;
          seen += p.size();
          if (skip < p.size()) {
            (t == StreamType::kStdout ? out : err).Write(p.substr(skip));
            done = seen;
          }
        } else if (t == StreamType::kExit) {
          ended = true;
          break;
        } else if (t == StreamType::kError) {
          spdlog::warn("session {}: {}", session_id_, DecodeErrorFrame(std::string(p)).message());
          break;
        }
      }
    }
    // The output ended, or the stream broke (bangerd restarting, the VM gone).
    for (int i = 0; i < (ended ? 50 : 1) && !detached_; ++i) {
      bool gone = false;
      if (auto code = SessionEnd(api, session_id_, &gone)) {
        MarkExited(*code);
        return;
      }
      if (gone || (!ended && VmDown(api, vm))) {
        MarkExited(255);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(ended ? 100 : 1000));
    }
  }
}

Status Process::StartExec(Bangerd& api, const std::string& vm) {
  Json open{{"argv", spec_.args},   {"env", EnvJson(spec_)}, {"cwd", spec_.cwd},
            {"user", spec_.User()}, {"no_image_env", true},  {"tty", spec_.terminal},
            {"rows", spec_.rows},   {"cols", spec_.cols},    {"timeout_ms", 120000}};
  BANGER_ASSIGN_OR_RETURN(auto opened, api.Stream("/v1/vms/" + UrlEncode(vm) + "/exec", &open));
  std::shared_ptr<WsConn> ws(std::move(opened));
  {
    std::lock_guard<std::mutex> g(mu_);
    exec_ = ws;
    state_ = ProcState::kRunning;
  }
  auto self = shared_from_this();
  std::thread([self, ws] { self->PumpExecOutput(ws); }).detach();
  if (io_.in.empty()) {
    ws->Send(Msg(StreamType::kStdinEof), "").ok();
  } else {
    std::thread([self, ws] {
      self->PumpStdin([&ws](std::string_view d) { return ws->Send(Msg(StreamType::kStdin), d); },
                      [&ws] { ws->Send(Msg(StreamType::kStdinEof), "").ok(); });
    }).detach();
  }
  return OkStatus();
}

void Process::PumpExecOutput(const std::shared_ptr<WsConn>& ws) {
  OutputSink out(io_.out), err(io_.err);
  out.Open(kFifoOpenTimeout);
  err.Open(kFifoOpenTimeout);
  for (;;) {
    auto m = ws->Recv();
    if (!m.ok() || !m->has_value()) {
      MarkExited(255);  // the stream broke: the command got SIGHUP (docs/api.md)
      return;
    }
    const WsMessage& msg = **m;
    if (msg.text) continue;
    switch (static_cast<StreamType>(msg.type())) {
      case StreamType::kStdout:
        out.Write(msg.payload());
        break;
      case StreamType::kStderr:
        err.Write(msg.payload());
        break;
      case StreamType::kExit: {
        MarkExited(ExitStatusOf(msg.payload()));
        ws->Close();
        return;
      }
      case StreamType::kError: {
        const std::string why = DecodeErrorFrame(std::string(msg.payload())).message();
        spdlog::warn("exec {}: {}", exec_id_, why);
        err.Write("banger: " + why + "\n");
        MarkExited(255);
        return;
      }
      default:
        break;
    }
  }
}

void Process::PumpStdin(const std::function<Status(std::string_view)>& send,
                        const std::function<void()>& eof) {
  // O_RDONLY blocks until containerd opens the writing end; CloseStdin and
  // Detach unblock it by opening the writing end themselves.
  UniqueFd in(::open(io_.in.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in.valid()) {
    spdlog::warn("stdin {}: {}", io_.in, strerror(errno));
    eof();
    return;
  }
  std::string buf(kStdinChunk, '\0');
  for (;;) {
    if (stdin_closed_ || detached_) break;
    pollfd fds[2] = {{in.get(), POLLIN, 0}, {stdin_wake_.get(), POLLIN, 0}};
    int n = ::poll(fds, 2, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || (fds[1].revents & POLLIN) != 0) break;
    ssize_t r = ::read(in.get(), buf.data(), buf.size());
    if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (r <= 0) break;  // the writer closed it: EOF
    if (!send(std::string_view(buf.data(), static_cast<size_t>(r))).ok()) return;
  }
  if (!detached_) eof();
}

void Process::CloseStdin() {
  if (stdin_closed_.exchange(true)) return;
  if (stdin_wake_.valid()) {
    uint64_t one = 1;
    (void)!::write(stdin_wake_.get(), &one, sizeof one);
  }
  // A pump still blocked in open(O_RDONLY) is released by a writer appearing.
  if (!io_.in.empty()) {
    UniqueFd w(::open(io_.in.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  }
}

void Process::Detach() {
  detached_ = true;
  CloseStdin();
  std::shared_ptr<WsConn> ws;
  {
    std::lock_guard<std::mutex> g(mu_);
    ws = exec_;
  }
  if (ws) ws->Abort();
}

Status Process::Kill(Bangerd& api, int signal) {
  std::shared_ptr<WsConn> ws;
  std::string session;
  ProcState st;
  {
    std::lock_guard<std::mutex> g(mu_);
    ws = exec_;
    session = session_id_;
    st = state_;
  }
  if (st == ProcState::kStopped) return Error::NotFound("process already finished");
  if (st == ProcState::kCreated) {
    // Never started: it ends as if the signal had killed it.
    MarkExited(128u + static_cast<uint32_t>(signal));
    return OkStatus();
  }
  if (ws) {
    char s = static_cast<char>(signal);
    return ws->Send(Msg(StreamType::kSignal), std::string_view(&s, 1));
  }
  Json body{{"signal", signal}};
  auto r = api.Call("POST", "/v1/sessions/" + UrlEncode(session) + "/signal", &body);
  if (!r.ok() && r.error().kind() == ErrorKind::kConflict) return Error::NotFound("process already finished");
  if (!r.ok()) return std::move(r).error();
  return OkStatus();
}

Status Process::Resize(uint16_t rows, uint16_t cols) {
  std::shared_ptr<WsConn> ws;
  {
    std::lock_guard<std::mutex> g(mu_);
    ws = exec_;
  }
  if (!ws) return OkStatus();  // no terminal: nothing to resize
  return ws->Send(Msg(StreamType::kResize), EncodeResize(rows, cols));
}

}  // namespace banger::shim

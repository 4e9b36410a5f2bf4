#include "daemon/session_service.h"

#include "base/fault.h"
#include "base/log.h"
#include "base/scope_guard.h"
#include "base/strings.h"
#include "model/json.h"

namespace banger {
namespace {

constexpr size_t kMaxGuestOutput = 1 << 20;
// Deadlines for the agent's session-* subcommands (they return at once,
// session-stop after up to its own --timeout 10 plus the kill).
constexpr std::chrono::seconds kLaunchTimeout{30};
constexpr std::chrono::seconds kStopTimeout{20};

std::string Basename(const std::string& p) {
  auto pos = p.rfind('/');
  std::string b = pos == std::string::npos ? p : p.substr(pos + 1);
  std::string out;
  for (char c : b) {
    char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.push_back((std::isalnum(static_cast<unsigned char>(l))) ? l : '-');
  }
  while (!out.empty() && out.front() == '-') out.erase(out.begin());
  if (out.size() > 40) out.resize(40);
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? "session" : out;
}

}  // namespace

Result<GuestRunResult> SessionService::RunInGuest(const std::string& vm_id, std::vector<std::string> argv,
                                                  std::chrono::milliseconds agent_timeout,
                                                  std::chrono::milliseconds run_timeout,
                                                  std::chrono::milliseconds open_timeout,
                                                  std::chrono::milliseconds kill_grace) {
  ExecRequest req;
  req.argv = std::move(argv);
  GuestRunOptions opts;
  opts.agent_timeout = agent_timeout;
  opts.run_timeout = run_timeout;
  opts.open_timeout = open_timeout;
  opts.kill_grace = kill_grace;
  opts.max_output = kMaxGuestOutput;
  return exec_.Run(vm_id, req, opts);
}

bool SessionService::BeginCheck(const std::string& vm_id, bool honor_backoff) {
  std::lock_guard<std::mutex> lk(check_mu_);
  CheckState& c = checks_[vm_id];
  if (c.in_flight || (honor_backoff && std::chrono::steady_clock::now() < c.skip_until)) return false;
  c.in_flight = true;
  return true;
}

void SessionService::EndCheck(const std::string& vm_id, bool guest_answered) {
  std::lock_guard<std::mutex> lk(check_mu_);
  CheckState& c = checks_[vm_id];
  c.in_flight = false;
  if (guest_answered) {
    checks_.erase(vm_id);
    return;
  }
  c.skip_until = std::chrono::steady_clock::now() + limits_.backoff;
}

void SessionService::Save(GuestSession& s, const std::string& event_type) {
  s.updated_at = Now();
  if (auto st = store_.UpsertSession(s); !st.ok()) {
    spdlog::warn("session {}: {}", s.name, st.error().message());
    return;
  }
  if (event_type.empty()) return;
  Event ev;
  ev.type = event_type;
  ev.vm_id = s.vm_id;
  ev.data = Json{{"session_id", s.id}, {"name", s.name}, {"status", GuestSessionStatusName(s.status)}};
  if (s.exit_code) ev.data["exit_code"] = *s.exit_code;
  events_.Emit(std::move(ev));
}

Result<GuestSession> SessionService::Start(const StartSessionRequest& req) {
  BANGER_ASSIGN_OR_RETURN(VmView view, vms_.Get(req.vm));
  const VmRecord& vm = view.vm;
  for (const auto& [k, v] : req.tags) BANGER_RETURN_IF_ERROR(ValidateLabel(k, v));
  // The image's defaults (OCI images) fill what the request leaves out.
  BANGER_ASSIGN_OR_RETURN(ExecRequest cmd, exec_.UserRequest(vm, UserCommandOf(req)));
  GuestSession s;
  s.id = NewId();
  s.vm_id = vm.id;
  s.name = req.name.empty() ? Basename(cmd.argv[0]) + "-" + s.id.substr(0, 4) : req.name;
  BANGER_RETURN_IF_ERROR(Annotate(ValidateVmName(s.name), "session name"));
  s.backend = "agent";
  s.attach_backend = "agent";
  s.attach_mode = req.stdin_pipe ? "stdin+logs" : "logs";
  // What runs (with the image's command, working dir); env: the request's
  // (the image's own is in `image show`).
  s.command = cmd.argv[0];
  s.args.assign(cmd.argv.begin() + 1, cmd.argv.end());
  s.cwd = cmd.cwd;
  s.env = req.env;
  s.stdin_mode = req.stdin_pipe ? "pipe" : "closed";
  s.tags = req.tags;
  s.status = GuestSessionStatus::kStarting;
  s.guest_state_dir = paths_.sessions_dir + "/" + s.id.substr(0, 16);
  s.stdout_log_path = s.guest_state_dir + "/stdout";
  s.stderr_log_path = s.guest_state_dir + "/stderr";
  s.launch_stage = "queued";
  s.created_at = s.updated_at = Now();
  {
    std::lock_guard<std::mutex> lk(starting_mu_);
    starting_.insert(s.id);
  }
  // By value: `return s` moves s out before this runs.
  ScopeGuard started([this, id = s.id] {
    std::lock_guard<std::mutex> lk(starting_mu_);
    starting_.erase(id);
  });
  // The row first: a name clash is refused before anything runs in the guest.
  BANGER_RETURN_IF_ERROR(store_.UpsertSession(s));
  BANGER_FAULT_POINT("session.start.row_written");

  std::vector<std::string> argv = {paths_.agent, "session-start", s.guest_state_dir};
  if (req.stdin_pipe) argv.push_back("--stdin");
  if (!cmd.cwd.empty()) {
    argv.push_back("--cwd");
    argv.push_back(cmd.cwd);
  }
  // Only when set: older agents do not know --user.
  if (!cmd.user.empty()) {
    argv.push_back("--user");
    argv.push_back(cmd.user);
  }
  for (const auto& [k, v] : cmd.env) {
    argv.push_back("--env");
    argv.push_back(k + "=" + v);
  }
  argv.push_back("--");
  argv.insert(argv.end(), cmd.argv.begin(), cmd.argv.end());
  s.launch_stage = "agent";
  auto run = RunInGuest(vm.id, argv, req.agent_timeout, kLaunchTimeout);
  if (!run.ok()) {
    s.status = GuestSessionStatus::kFailed;
    s.launch_message = run.error().message();
    s.last_error = run.error().message();
    Save(s, "session.failed");
    return std::move(run).error().Wrap("starting session " + s.name);
  }
  BANGER_FAULT_POINT("session.start.launched");
  auto j = ParseJson(run->out);
  s.launch_raw_log = run->out + run->err;
  if (run->code() != 0 || !j.ok() || !j->is_object() || !(*j)["pid"].is_number_integer()) {
    s.status = GuestSessionStatus::kFailed;
    s.launch_stage =
        j.ok() && j->is_object() && (*j)["stage"].is_string() ? (*j)["stage"].get<std::string>() : "launch";
    s.launch_message = j.ok() && j->is_object() && (*j)["message"].is_string()
                           ? (*j)["message"].get<std::string>()
                           : run->err;
    s.last_error = s.launch_message;
    Save(s, "session.failed");
    return Error::Invalid("session " + s.name + " could not start: " + s.launch_message);
  }
  s.guest_pid = (*j)["pid"].get<int>();
  s.status = GuestSessionStatus::kRunning;
  s.launch_stage = "running";
  s.launch_message.clear();
  s.started_at = Now();
  s.attachable = true;
  s.reattachable = true;
  Save(s, "session.started");
  BANGER_FAULT_POINT("session.start.state_saved");
  return s;
}

GuestSession SessionService::Refresh(GuestSession s, bool honor_backoff) {
  if (s.status != GuestSessionStatus::kRunning && s.status != GuestSessionStatus::kStopping &&
      s.status != GuestSessionStatus::kStarting) {
    return s;
  }
  if (s.status == GuestSessionStatus::kStarting) {
    std::lock_guard<std::mutex> lk(starting_mu_);
    if (starting_.count(s.id)) return s;  // Start settles it
  }
  auto vm = store_.GetVm(s.vm_id);
  if (!vm.ok()) return s;
  // A paused guest cannot answer, and asking would resume it (guest use):
  // its sessions keep what is known until it runs again.
  if (vm->state == VmState::kPaused && vms_.VmAlive(*vm)) return s;
  if (vm->state != VmState::kRunning || !vms_.VmAlive(*vm)) {
    s.status = GuestSessionStatus::kFailed;
    s.last_error = "the vm stopped while the session ran";
    s.reattachable = false;
    s.ended_at = Now();
    Save(s, "session.ended");
    return s;
  }
  // Bounded, one at a time per VM, and not again soon after a guest that
  // did not answer: a hostile or wedged guest costs each caller at most one
  // check's deadlines every backoff.
  if (!BeginCheck(s.vm_id, honor_backoff)) return s;
  auto run = RunInGuest(s.vm_id, {paths_.agent, "session-status", s.guest_state_dir}, limits_.agent_timeout,
                        limits_.run_timeout, limits_.open_timeout, limits_.kill_grace);
  EndCheck(s.vm_id, run.ok());
  if (!run.ok()) {
    spdlog::info("session {}: no status from vm {} ({}); next check in {} s", s.name, s.vm_id,
                 run.error().message(), limits_.backoff.count() / 1000);
    return s;  // the guest is busy, booting or hostile: keep what we know
  }
  auto j = ParseJson(run->out);
  if (!j.ok() || !j->is_object() || !(*j)["state"].is_string()) return s;
  std::string state = (*j)["state"];
  if (state == "running") {
    if (s.status != GuestSessionStatus::kStarting) return s;
    // The daemon died between launching it and recording it: it runs, so it is started.
    s.status = GuestSessionStatus::kRunning;
    if ((*j)["pid"].is_number_integer()) s.guest_pid = (*j)["pid"].get<int>();
    s.launch_stage = "running";
    s.launch_message.clear();
    if (s.started_at == Timestamp{}) s.started_at = Now();
    s.attachable = true;
    s.reattachable = true;
    Save(s, "session.started");
    return s;
  }
  if (state == "exited") {
    s.status = GuestSessionStatus::kExited;
    if ((*j)["exit_code"].is_number_integer()) s.exit_code = (*j)["exit_code"].get<int>();
  } else {
    s.status = GuestSessionStatus::kFailed;
    s.last_error = (*j)["message"].is_string() ? (*j)["message"].get<std::string>() : "session " + state;
  }
  s.reattachable = false;
  s.ended_at = Now();
  Save(s, "session.ended");
  return s;
}

Result<GuestSession> SessionService::Find(const std::string& ref, const std::string& vm_ref) {
  std::string vm_id;
  if (!vm_ref.empty()) {
    BANGER_ASSIGN_OR_RETURN(VmRecord vm, store_.GetVm(vm_ref));
    vm_id = vm.id;
  }
  return store_.GetSession(ref, vm_id);
}

Result<GuestSession> SessionService::Get(const std::string& ref, const std::string& vm_ref) {
  BANGER_ASSIGN_OR_RETURN(GuestSession s, Find(ref, vm_ref));
  return Refresh(std::move(s), /*honor_backoff=*/false);
}

Result<std::vector<GuestSession>> SessionService::List(const std::string& vm_ref) {
  std::string vm_id;
  if (!vm_ref.empty()) {
    BANGER_ASSIGN_OR_RETURN(VmRecord vm, store_.GetVm(vm_ref));
    vm_id = vm.id;
  }
  BANGER_ASSIGN_OR_RETURN(auto sessions, store_.ListSessions(vm_id));
  for (auto& s : sessions) s = Refresh(std::move(s));
  return sessions;
}

Result<GuestSession> SessionService::Stop(const std::string& ref, const std::string& vm_ref) {
  BANGER_ASSIGN_OR_RETURN(GuestSession s, Find(ref, vm_ref));
  s = Refresh(std::move(s), /*honor_backoff=*/false);
  if (s.status != GuestSessionStatus::kRunning) return s;
  s.status = GuestSessionStatus::kStopping;
  Save(s, "");
  auto run = RunInGuest(s.vm_id, {paths_.agent, "session-stop", s.guest_state_dir, "--timeout", "10"},
                        std::chrono::seconds(10), kStopTimeout);
  if (!run.ok()) return std::move(run).error().Wrap("stopping session " + s.name);
  return Refresh(std::move(s), /*honor_backoff=*/false);
}

Result<GuestSession> SessionService::Signal(const std::string& ref, const std::string& vm_ref, int signo) {
  BANGER_ASSIGN_OR_RETURN(GuestSession s, Find(ref, vm_ref));
  if (s.status != GuestSessionStatus::kRunning && s.status != GuestSessionStatus::kStarting &&
      s.status != GuestSessionStatus::kStopping) {
    return Error::Conflict("session " + s.name + " is " + GuestSessionStatusName(s.status));
  }
  auto run = RunInGuest(s.vm_id, {paths_.agent, "session-kill", s.guest_state_dir, std::to_string(signo)},
                        std::chrono::seconds(10), std::chrono::seconds(8));
  if (!run.ok()) return std::move(run).error().Wrap("signalling session " + s.name);
  if (run->code() == 3) {
    return Refresh(std::move(s), /*honor_backoff=*/false);  // it ended meanwhile: record that
  }
  if (run->code() != 0) {
    return Error::Internal("signalling session " + s.name + ": " + Trim(run->err));
  }
  return s;
}

Result<SessionStream> SessionService::Logs(const std::string& ref, const std::string& vm_ref, bool follow) {
  BANGER_ASSIGN_OR_RETURN(GuestSession s, Find(ref, vm_ref));
  SessionStream st{s.vm_id, {}};
  st.exec.argv = {paths_.agent, "session-logs", s.guest_state_dir, "--from-start"};
  if (follow) st.exec.argv.push_back("--follow");
  return st;
}

Result<SessionStream> SessionService::Attach(const std::string& ref, const std::string& vm_ref) {
  BANGER_ASSIGN_OR_RETURN(GuestSession s, Find(ref, vm_ref));
  s = Refresh(std::move(s), /*honor_backoff=*/false);
  if (s.status != GuestSessionStatus::kRunning) {
    return Error::Conflict("session " + s.name + " is " + GuestSessionStatusName(s.status) +
                           "; use `banger session logs " + s.name + "` to read its output");
  }
  return SessionStream{s.vm_id, {{paths_.agent, "session-attach", s.guest_state_dir}, {}, "", false, 24, 80}};
}

void SessionService::PollRunning(const std::function<bool()>& stop) {
  auto sessions = store_.ListSessions("");
  if (!sessions.ok()) return;
  for (auto& s : *sessions) {
    if (stop && stop()) return;
    if (s.status == GuestSessionStatus::kRunning || s.status == GuestSessionStatus::kStarting)
      Refresh(std::move(s));
  }
}

}  // namespace banger

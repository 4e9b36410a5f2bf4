#include "daemon/guest_exec.h"

#include <signal.h>

#include <algorithm>
#include <thread>

#include "base/fault.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/strings.h"
#include "base/time.h"

namespace banger {

namespace {

using Clock = std::chrono::steady_clock;

// How often a reader with no kill time re-checks for one.
constexpr auto kNextPoll = std::chrono::seconds(1);

}  // namespace

std::string ConsoleTail(const std::string& path) {
  std::string tail = TailRotatedFile(path, 600);  // upkeep may just have rotated it
  std::vector<std::string> lines;
  for (std::string& line : Split(tail, '\n')) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) lines.push_back(std::move(line));
  }
  if (lines.size() > 4) lines.erase(lines.begin(), lines.end() - 4);
  std::string out;
  for (const auto& l : lines) out += (out.empty() ? "" : " | ") + l;
  return out.empty() ? "(console is empty)" : out;
}

// ---- GuestCommand ----

GuestCommand::GuestCommand(VmService& vms, std::string vm_id, bool run_command)
    : vms_(vms), vm_id_(std::move(vm_id)), run_command_(run_command) {}

GuestCommand::~GuestCommand() {
  channel_.reset();
  conn_.reset();
  if (in_use_) vms_.EndUse(vm_id_);
  EndRun();
}

void GuestCommand::EndRun() {
  if (!run_command_ || run_ended_.exchange(true)) return;
  spdlog::info("vm {}: its run command ended; deleting it (auto_remove)", vm_id_);
  if (auto r = vms_.Delete(vm_id_, /*missing_ok=*/true); !r.ok()) {
    // The sweeper retries: the VM is stopped or still marked auto-remove.
    spdlog::warn("vm {}: auto-remove: {}", vm_id_, r.error().message());
  }
}

void GuestCommand::KillAt(Clock::time_point when, std::chrono::milliseconds grace) {
  std::lock_guard<std::mutex> lk(kill_mu_);
  // Only ever earlier: a later call never extends a deadline already set.
  if (kill_at_ && *kill_at_ + grace_ <= when + grace) return;
  kill_at_ = when;
  grace_ = grace;
}

void GuestCommand::Hangup(std::chrono::milliseconds grace) {
  (void)channel_->Signal(SIGHUP);
  KillAt(Clock::now() + grace, grace);
}

Result<ExecEvent> GuestCommand::Next() {
  for (;;) {
    auto now = Clock::now();
    auto wake = now + kNextPoll;
    std::optional<Clock::time_point> kill_at;
    std::chrono::milliseconds grace{0};
    {
      std::lock_guard<std::mutex> lk(kill_mu_);
      kill_at = kill_at_;
      grace = grace_;
    }
    if (kill_at) {
      auto give_up = *kill_at + grace;
      if (!killed_ && now >= *kill_at) {
        killed_ = true;
        spdlog::info("vm {}: command past its deadline; sending SIGKILL", vm_id_);
        (void)channel_->Signal(SIGKILL);
      }
      if (now >= give_up) {
        // Also wakes a writer blocked on stdin credit the guest never grants.
        std::string why = "the command in vm " + vm_id_ + " reported no exit after SIGKILL";
        channel_->Abort(why);
        return Error::Timeout(why);
      }
      wake = std::min(wake, killed_ ? give_up : *kill_at);
    }
    auto ev = channel_->NextUntil(wake);
    if (!ev.ok() && ev.error().kind() == ErrorKind::kTimeout) continue;
    if (ev.ok() && ev->kind == ExecEvent::kExit) BANGER_FAULT_POINT("exec.command_finished");
    return ev;
  }
}

// ---- GuestExec ----

Result<std::shared_ptr<AgentConn>> GuestExec::WaitForAgent(const std::string& ref,
                                                           std::chrono::milliseconds timeout) {
  AgentPool* agents = vms_.agents();
  if (!agents) return Error::Unavailable("guest agent access is not configured");
  auto deadline = Clock::now() + timeout;
  Error last = Error::Timeout("no attempt made");
  for (;;) {
    // A paused VM (vm pause, idle suspend) continues first: guest use resumes it.
    BANGER_RETURN_IF_ERROR(vms_.ResumeIfPaused(ref, "resumed for guest use"));
    BANGER_ASSIGN_OR_RETURN(VmRecord vm, vms_.store().GetVm(ref));
    if (vm.state != VmState::kRunning || !vms_.VmAlive(vm)) {
      if (vm.state == VmState::kRunning) {
        return Error::Conflict("vm " + vm.name + " stopped while waiting for its agent; console: " +
                               ConsoleTail(vm.runtime.log_path));
      }
      return Error::Conflict("vm " + vm.name + " is " + VmStateName(vm.state) +
                             "; start it with `banger vm start " + vm.name + "`");
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      return Error::Timeout("guest agent of vm " + vm.name + " did not answer within " +
                            std::to_string(timeout.count() / 1000) + "s (" + last.message() +
                            "); console: " + ConsoleTail(vm.runtime.log_path));
    }
    auto conn = agents->Get(vm, std::min(left, std::chrono::milliseconds(3000)));
    if (conn.ok()) {
      if (auto st = vms_.store().TouchVm(vm.id, Now()); !st.ok()) {
        spdlog::warn("vm {}: {}", vm.name, st.error().message());
      }
      return *conn;
    }
    // A version mismatch or a stopping daemon will not fix itself by waiting.
    if (conn.error().kind() == ErrorKind::kInvalidArgument || agents->shut_down())
      return std::move(conn).error().Wrap("vm " + vm.name);
    last = std::move(conn).error();
    std::this_thread::sleep_for(
        std::min(std::chrono::milliseconds(200), std::max(left, std::chrono::milliseconds(1))));
  }
}

Result<std::unique_ptr<GuestCommand>> GuestExec::Open(const std::string& ref, const ExecRequest& req,
                                                      std::chrono::milliseconds agent_timeout,
                                                      bool may_be_run_command) {
  BANGER_ASSIGN_OR_RETURN(VmRecord vm, vms_.store().GetVm(ref));
  bool run = may_be_run_command && vm.spec.auto_remove && vms_.ClaimRunCommand(vm.id);
  // Made first: a run command that cannot start has ended too (its VM goes).
  std::unique_ptr<GuestCommand> cmd(new GuestCommand(vms_, vm.id, run));
  BANGER_ASSIGN_OR_RETURN(cmd->conn_, WaitForAgent(vm.id, agent_timeout));
  vms_.BeginUse(vm.id);  // a VM running a command is not idle
  cmd->in_use_ = true;
  BANGER_FAULT_POINT("exec.agent_ready");
  auto ch = cmd->conn_->Exec(req);
  if (!ch.ok()) return std::move(ch).error().Wrap("starting command in vm " + vm.name);
  cmd->channel_ = std::move(*ch);
  BANGER_FAULT_POINT("exec.command_started");
  return cmd;
}

Result<ExecRequest> GuestExec::UserRequest(const VmRecord& vm, UserCommand cmd, bool may_be_run_command) {
  Image image;
  if (auto img = vms_.store().GetImage(vm.image_id); img.ok()) {
    image = std::move(*img);
  } else if (img.error().kind() == ErrorKind::kNotFound) {
    image.name = vm.image_id;  // gone (a VM's image cannot be deleted): no defaults
  } else {
    return std::move(img).error();
  }
  auto resolved = ApplyImageDefaults(image, std::move(cmd));
  if (!resolved.ok()) {
    if (may_be_run_command && vm.spec.auto_remove && vms_.ClaimRunCommand(vm.id)) {
      GuestCommand ended(vms_, vm.id, /*run_command=*/true);  // deletes the VM
    }
    return std::move(resolved).error();
  }
  ExecRequest req;
  req.argv = std::move(resolved->argv);
  req.env = std::move(resolved->env);
  req.cwd = std::move(resolved->cwd);
  req.user = std::move(resolved->user);
  return req;
}

Result<GuestRunResult> GuestExec::Run(const std::string& ref, const ExecRequest& req,
                                      const GuestRunOptions& opts) {
  ExecRequest bounded = req;
  bounded.open_timeout = opts.open_timeout;
  BANGER_ASSIGN_OR_RETURN(auto cmd, Open(ref, bounded, opts.agent_timeout));
  BANGER_RETURN_IF_ERROR(cmd->channel().CloseStdin());
  cmd->KillAt(Clock::now() + opts.run_timeout, opts.kill_grace);
  GuestRunResult run;
  std::string what = req.argv.empty() ? "command" : req.argv[0];
  for (;;) {
    auto ev = cmd->Next();
    if (!ev.ok() || (ev->kind == ExecEvent::kExit && cmd->killed_at_deadline())) {
      if (ev.ok() || ev.error().kind() == ErrorKind::kTimeout) {
        return Error::Timeout(what + " in vm " + cmd->vm_id() + " did not finish within " +
                              std::to_string(opts.run_timeout.count()) + " ms");
      }
      return std::move(ev).error().Wrap("running " + what);
    }
    if (ev->kind == ExecEvent::kExit) {
      run.exit = ev->exit;
      return run;
    }
    if (ev->kind == ExecEvent::kStdoutEof) continue;
    std::string& dst = ev->kind == ExecEvent::kStdout ? run.out : run.err;
    size_t room = opts.max_output > dst.size() ? opts.max_output - dst.size() : 0;
    if (ev->data.size() > room) run.truncated = true;
    dst.append(ev->data, 0, std::min(room, ev->data.size()));
  }
}

// ---- AutoRemoveSweeper ----

void AutoRemoveSweeper::Sweep() {
  auto vms = vms_.store().ListVms();
  if (!vms.ok()) return;
  auto now = Clock::now();
  std::map<std::string, Clock::time_point> still_unclaimed;
  for (const auto& rec : *vms) {
    if (!rec.spec.auto_remove) continue;
    // Get demotes a running VM whose VMM died.
    auto view = vms_.Get(rec.id);
    if (!view.ok()) continue;
    const VmRecord& vm = view->vm;
    bool remove = false;
    std::string why;
    if (vm.state == VmState::kStopped || vm.state == VmState::kError) {
      remove = true;
      why = "it is " + std::string(VmStateName(vm.state));
    } else if (VmStateHasVmm(vm.state) && !vms_.RunCommandClaimed(vm.id)) {
      auto it = unclaimed_since_.find(vm.id);
      auto since = it == unclaimed_since_.end() ? now : it->second;
      if (now - since >= grace_) {
        remove = true;
        why = "its run command never started or was lost";
      } else {
        still_unclaimed[vm.id] = since;
      }
    }
    if (!remove) continue;
    spdlog::info("vm {}: deleting it (auto_remove): {}", vm.name, why);
    if (auto r = vms_.Delete(vm.id, /*missing_ok=*/true); !r.ok()) {
      spdlog::warn("vm {}: auto-remove: {}", vm.name, r.error().message());
    }
  }
  unclaimed_since_ = std::move(still_unclaimed);
}

}  // namespace banger

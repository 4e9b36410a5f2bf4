// SessionService: detached guest commands (the seed's GuestSession), see
// docs/sessions.md. Rows live in the store; the processes and their logs
// live in the guest under /var/lib/banger/sessions/<id>, driven by the
// static agent's session-* subcommands run to completion through GuestExec
// (each with a deadline and bounded output), so a restarted daemon re-finds
// every session by asking the guest. Logs and attach streams are relayed by
// api/exec_stream.cc.
//
// The guest is not trusted to answer: every status check (Refresh, used by
// List, Get, Stop, Attach and the poller) is bounded (GuestCheckLimits), at
// most one check per VM runs at a time, and a VM whose check timed out or
// lost its connection is not asked again for `backoff` by List and the
// poller (its sessions keep their recorded status meanwhile). Get, Stop,
// Attach and Start ask all the same, within their deadlines.
//
// Thread-safety: safe to call concurrently (state is in the store and guest;
// the per-VM check state has its own mutex).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "agent/client.h"
#include "daemon/guest_exec.h"
#include "daemon/vm_service.h"
#include "model/requests.h"

namespace banger {

// What an upgraded logs/attach stream relays: an exec in the session's VM.
struct SessionStream {
  std::string vm_id;
  ExecRequest exec;
};

// Where the guest's agent and session state are (tests run the real agent
// on the host with paths of their own).
struct SessionGuestPaths {
  std::string agent = "/usr/local/sbin/banger-agent";
  std::string sessions_dir = "/var/lib/banger/sessions";
};

// Deadlines of one session status check in a guest.
struct GuestCheckLimits {
  std::chrono::milliseconds agent_timeout{std::chrono::seconds(5)};  // the agent answers
  std::chrono::milliseconds open_timeout{std::chrono::seconds(5)};   // OPEN_OK
  std::chrono::milliseconds run_timeout{std::chrono::seconds(8)};    // session-status exits
  std::chrono::milliseconds kill_grace{std::chrono::seconds(1)};     // EXIT after SIGKILL
  std::chrono::milliseconds backoff{std::chrono::seconds(30)};       // after a failed check
};

class SessionService {
 public:
  SessionService(VmService& vms, Store& store, EventLog& events, SessionGuestPaths paths = {},
                 GuestCheckLimits limits = {})
      : vms_(vms), exec_(vms), store_(store), events_(events), paths_(std::move(paths)), limits_(limits) {}

  Result<GuestSession> Start(const StartSessionRequest& req);
  // Sessions of one VM ("" = all), each refreshed from the guest when it may
  // have changed (running sessions of running VMs).
  Result<std::vector<GuestSession>> List(const std::string& vm_ref);
  Result<GuestSession> Get(const std::string& ref, const std::string& vm_ref);
  Result<GuestSession> Stop(const std::string& ref, const std::string& vm_ref);
  // Sends `signo` to the session's process group and returns without
  // waiting for its end (a session that has ended is a conflict).
  Result<GuestSession> Signal(const std::string& ref, const std::string& vm_ref, int signo);
  Result<SessionStream> Logs(const std::string& ref, const std::string& vm_ref, bool follow);
  Result<SessionStream> Attach(const std::string& ref, const std::string& vm_ref);
  // Records the end of sessions that ended (the upkeep's session poller
  // calls this). Returns early once `stop` says so.
  void PollRunning(const std::function<bool()>& stop = {});

 private:
  // One session-* subcommand of the guest agent, to completion.
  Result<GuestRunResult> RunInGuest(const std::string& vm_id, std::vector<std::string> argv,
                                    std::chrono::milliseconds agent_timeout,
                                    std::chrono::milliseconds run_timeout,
                                    std::chrono::milliseconds open_timeout = std::chrono::seconds(30),
                                    std::chrono::milliseconds kill_grace = std::chrono::seconds(5));
  // Claims the VM's status check; false while another runs or (if
  // honor_backoff) during backoff.
  bool BeginCheck(const std::string& vm_id, bool honor_backoff);
  // Releases it; a failed check starts the VM's backoff.
  void EndCheck(const std::string& vm_id, bool guest_answered);
  Result<GuestSession> Find(const std::string& ref, const std::string& vm_ref);
  // Asks the guest for the session's status and records a change. Without
  // `honor_backoff` (one session asked for by name) a VM in backoff is asked
  // all the same, within the same deadlines.
  GuestSession Refresh(GuestSession s, bool honor_backoff = true);
  void Save(GuestSession& s, const std::string& event_type);

  VmService& vms_;
  GuestExec exec_;
  Store& store_;
  EventLog& events_;
  SessionGuestPaths paths_;
  GuestCheckLimits limits_;
  struct CheckState {
    bool in_flight = false;
    std::chrono::steady_clock::time_point skip_until{};
  };
  std::mutex check_mu_;
  std::map<std::string, CheckState> checks_;  // by VM id; Guarded by check_mu_.
  // Sessions this daemon is starting right now: their row says starting, and
  // only Start may settle it (a refresh would find no state in the guest yet).
  // A row left starting by a daemon that died is settled by Refresh.
  std::mutex starting_mu_;
  std::set<std::string> starting_;
};

}  // namespace banger

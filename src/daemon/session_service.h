// SessionService: detached guest commands (the seed's GuestSession), see
// docs/sessions.md. Rows live in the store; the processes and their logs
// live in the guest under /var/lib/banger/sessions/<id>, driven by the
// static agent's session-* subcommands run to completion through GuestExec
// (each with a deadline and bounded output), so a restarted daemon re-finds
// every session by asking the guest. Logs and attach streams are relayed by
// api/exec_stream.cc.
//
// Thread-safety: safe to call concurrently (state is in the store and guest).
#pragma once

#include <chrono>
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

class SessionService {
 public:
  SessionService(VmService& vms, Store& store, EventLog& events, SessionGuestPaths paths = {})
      : vms_(vms), exec_(vms), store_(store), events_(events), paths_(std::move(paths)) {}

  Result<GuestSession> Start(const StartSessionRequest& req);
  // Sessions of one VM ("" = all), each refreshed from the guest when it may
  // have changed (running sessions of running VMs).
  Result<std::vector<GuestSession>> List(const std::string& vm_ref);
  Result<GuestSession> Get(const std::string& ref, const std::string& vm_ref);
  Result<GuestSession> Stop(const std::string& ref, const std::string& vm_ref);
  Result<SessionStream> Logs(const std::string& ref, const std::string& vm_ref, bool follow);
  Result<SessionStream> Attach(const std::string& ref, const std::string& vm_ref);
  // Records the end of sessions that ended (the sweeper calls this).
  void PollRunning();

 private:
  // One session-* subcommand of the guest agent, to completion.
  Result<GuestRunResult> RunInGuest(const std::string& vm_id, std::vector<std::string> argv,
                                    std::chrono::milliseconds agent_timeout,
                                    std::chrono::milliseconds run_timeout);
  Result<GuestSession> Find(const std::string& ref, const std::string& vm_ref);
  // Asks the guest for the session's status and records a change.
  GuestSession Refresh(GuestSession s);
  void Save(GuestSession& s, const std::string& event_type);

  VmService& vms_;
  GuestExec exec_;
  Store& store_;
  EventLog& events_;
  SessionGuestPaths paths_;
  // Sessions this daemon is starting right now: their row says starting, and
  // only Start may settle it (a refresh would find no state in the guest yet).
  // A row left starting by a daemon that died is settled by Refresh.
  std::mutex starting_mu_;
  std::set<std::string> starting_;
};

}  // namespace banger

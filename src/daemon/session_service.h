// SessionService: detached guest commands (the seed's GuestSession), see
// docs/sessions.md. Rows live in the store; the processes and their logs
// live in the guest under /var/lib/banger/sessions/<id>, driven by the
// static agent's session-* subcommands over ordinary execs, so a restarted
// daemon re-finds every session by asking the guest.
//
// Thread-safety: safe to call concurrently (state is in the store and guest).
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "agent/client.h"
#include "daemon/vm_service.h"
#include "model/requests.h"

namespace banger {

// What an upgraded logs/attach stream relays: an exec in the session's VM.
struct SessionStream {
  std::string vm_id;
  ExecRequest exec;
};

class SessionService {
 public:
  SessionService(VmService& vms, Store& store, EventLog& events) : vms_(vms), store_(store), events_(events) {}

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
  struct GuestRun {
    int code = -1;
    std::string out, err;
  };
  Result<GuestRun> RunInGuest(const std::string& vm_id, std::vector<std::string> argv,
                              std::chrono::milliseconds agent_timeout);
  Result<GuestSession> Find(const std::string& ref, const std::string& vm_ref);
  // Asks the guest for the session's status and records a change.
  GuestSession Refresh(GuestSession s);
  void Save(GuestSession& s, const std::string& event_type);

  VmService& vms_;
  Store& store_;
  EventLog& events_;
};

inline constexpr const char* kGuestAgentPath = "/usr/local/sbin/banger-agent";
inline constexpr const char* kGuestSessionsDir = "/var/lib/banger/sessions";

}  // namespace banger

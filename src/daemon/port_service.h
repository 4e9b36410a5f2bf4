// PortService: published ports (docs/adr/0020-published-ports.md). The
// store holds each VM's ports (model/port.h); while a VM has a VMM
// (running or paused) the daemon listens on its host addresses and relays
// every accepted connection to 127.0.0.1:GUEST_PORT inside the guest
// through the agent's connect channel (port_relay.h), with or without host
// networking. A paused VM keeps listening: opening the relay's command
// resumes it (GuestExec).
//
// - Create (API): Reserve binds every host address first, so a taken one
//   fails the create before anything is made; Attach records the rows and
//   serves the sockets once the VM exists.
// - Add/Remove: live, recorded; Add binds (if the VM has a VMM) or
//   test-binds (if not) before it answers.
// - VmmUp/VmmDown: the VM's state hook (VmService::SetStateHook) and the
//   startup reconcile (ReconcileAll) listen; stop, delete and a dead VMM
//   close the listeners before the hook returns (the port is free).
//
// Threads: one acceptor per listening port (poll on the socket and a wake
// pipe; it never blocks on anything else, so closing it is prompt; for a
// udp port it serves the flows, port_udp.h) and one
// detached thread per relayed connection (plus the relay's own up thread),
// bounded by max_conns_per_port and max_conns_per_vm (a connection over a
// cap is accepted and closed at once). Shutdown stops them all and waits,
// bounded, for the connection threads.
// Thread-safety: all methods are safe to call concurrently; mu_ is a leaf
// lock (nothing that takes a VM's lock is called under it).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "daemon/port_relay.h"
#include "daemon/port_udp.h"
#include "model/port.h"
#include "store/store.h"

namespace banger {

class GuestExec;

struct PortServiceOptions {
  int max_conns_per_port = 64;
  int max_conns_per_vm = 256;
  RelayOptions relay;
  UdpOptions udp;
  // Bounds the wait for the connection threads at Shutdown.
  std::chrono::milliseconds shutdown_wait{std::chrono::seconds(40)};
};

// A published port as the API shows it: listening or why not.
struct PortStatus {
  PortMapping port;
  bool listening = false;
  std::string error;  // why a VM with a VMM does not listen on it ("" = none)
};

// Host sockets bound ahead of a create (not yet accepting).
struct PortReservation {
  std::vector<std::pair<PortMapping, UniqueFd>> sockets;
};

class PortService {
 public:
  // Opens the guest end of a connection (tcp) or flow (udp) of `p`: a
  // command in p.vm_id connected to 127.0.0.1:p.guest_port in the guest.
  using OpenFn = std::function<Result<std::unique_ptr<RelayGuest>>(const PortMapping& p)>;
  // Whether the VM has a VMM (running or paused); for Attach and Add.
  using HasVmmFn = std::function<bool(const std::string& vm_id)>;

  PortService(Store& store, OpenFn open, HasVmmFn has_vmm, PortServiceOptions opts = {});
  ~PortService();
  PortService(const PortService&) = delete;
  PortService& operator=(const PortService&) = delete;

  // Binds every address in `ports`: kConflict naming the first one taken
  // (by the store or on the host); nothing stays bound on failure.
  Result<PortReservation> Reserve(const std::vector<PortMapping>& ports);
  // Records the reserved ports for `vm_id` and serves them if it has a VMM.
  Status Attach(const std::string& vm_id, PortReservation r);
  // Publishes one more port of the VM (recorded; listening if it has a VMM).
  Result<PortStatus> Add(const std::string& vm_id, const PortMapping& p);
  // Unpublishes (matched by host address; guest_port is ignored).
  Status Remove(const std::string& vm_id, const PortMapping& p);
  Result<std::vector<PortStatus>> List(const std::string& vm_id);

  // The VM got a VMM: listen on its recorded ports (a failure is logged and
  // shown by List). The VM lost its VMM: close its listeners now and end
  // its connections.
  void VmmUp(const std::string& vm_id);
  void VmmDown(const std::string& vm_id);
  // Startup: listen on the ports of every VM with a VMM.
  void ReconcileAll();
  void Shutdown();

  // Connections being relayed now (tests, bench).
  int ActiveConnections(const std::string& vm_id);
  // Connections being relayed now, every VM's (GET /metrics).
  int ActiveConnections();

  // The OpenFn of the daemon: `banger-agent --connect` (tcp) or
  // `--connect-udp` (udp) through GuestExec.
  static OpenFn GuestExecOpener(GuestExec& exec, std::chrono::milliseconds agent_timeout);

 private:
  struct Listener;
  struct Conns;
  // Require mu_.
  void ListenLocked(const PortMapping& p, UniqueFd fd);
  // Closes the listeners of `vm_id` that `which` picks and ends their connections.
  void CloseLocked(const std::string& vm_id, const std::function<bool(const PortMapping&)>& which);

  Store& store_;
  OpenFn open_;
  HasVmmFn has_vmm_;
  PortServiceOptions opts_;
  std::mutex mu_;
  bool shut_down_ = false;                                   // Guarded by mu_.
  std::map<std::string, std::unique_ptr<Listener>> listen_;  // by Spec(). Guarded by mu_.
  // Why a port of a VM with a VMM is not listening: by Spec(), {vm id, message}. Guarded by mu_.
  std::map<std::string, std::pair<std::string, std::string>> errors_;
  std::shared_ptr<Conns> conns_;  // set once
};

// Binds and listens on a host TCP address: kConflict "host port ... is in
// use" when it is taken.
Result<UniqueFd> BindPort(const PortMapping& p);

}  // namespace banger

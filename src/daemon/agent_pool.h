// AgentPool: one shared guest-agent connection per running VM. QEMU's
// virtio-serial socket takes a single client, so every exec, session and
// forward of a VM multiplexes over this one connection.
//
// Thread-safety: all methods are safe to call concurrently; connecting to
// one VM is serialized (never two connection attempts at once).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "agent/client.h"
#include "model/types.h"

namespace banger {

class AgentPool {
 public:
  // Opens and handshakes a new connection to the VM's agent, within timeout.
  using Connector = std::function<Result<std::unique_ptr<AgentConn>>(const VmRecord& vm,
                                                                     std::chrono::milliseconds timeout)>;
  explicit AgentPool(Connector connect) : connect_(std::move(connect)) {}

  // The cached connection if it still answers a ping, else a new one.
  Result<std::shared_ptr<AgentConn>> Get(const VmRecord& vm, std::chrono::milliseconds timeout);
  // Forgets the VM's connection (the VM stopped or the connection broke).
  void Drop(const std::string& vm_id);
  // Daemon stop: closes every connection (each wait on a guest fails at
  // once) and refuses new ones (kUnavailable).
  void Shutdown();
  bool shut_down();
  // Connections held now, one per VM at most (GET /metrics).
  int connected();

 private:
  struct Slot {
    std::mutex connect_mu;            // serializes connection attempts for one VM
    std::shared_ptr<AgentConn> conn;  // Guarded by AgentPool::mu_.
  };
  std::shared_ptr<Slot> SlotFor(const std::string& vm_id);

  Connector connect_;
  std::mutex mu_;
  bool shut_down_ = false;                              // Guarded by mu_.
  std::map<std::string, std::shared_ptr<Slot>> slots_;  // Guarded by mu_.
};

// The real connector: QEMU -> <vm_dir>/agent.sock, Firecracker -> vsock.
// Every connection of one VM shares one GuestLogLimiter.
AgentPool::Connector RealAgentConnector(AgentConnOptions base = {});

}  // namespace banger

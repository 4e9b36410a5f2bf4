#include "daemon/agent_pool.h"

namespace banger {

std::shared_ptr<AgentPool::Slot> AgentPool::SlotFor(const std::string& vm_id) {
  std::lock_guard<std::mutex> lk(mu_);
  auto& s = slots_[vm_id];
  if (!s) s = std::make_shared<Slot>();
  return s;
}

namespace {
Error ShutDownError() { return Error::Unavailable("the daemon is stopping: guest agent access is closed"); }
}  // namespace

Result<std::shared_ptr<AgentConn>> AgentPool::Get(const VmRecord& vm, std::chrono::milliseconds timeout) {
  auto slot = SlotFor(vm.id);
  std::lock_guard<std::mutex> connecting(slot->connect_mu);
  std::shared_ptr<AgentConn> cached;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (shut_down_) return ShutDownError();
    cached = slot->conn;
  }
  if (cached) {
    // Bounded: a guest that does not answer (or does not read) fails this.
    Status alive = cached->Ping(std::chrono::seconds(2));
    if (alive.ok()) return cached;
    // Whoever else still holds it fails now rather than at its own deadline,
    // and QEMU's one-client socket is free for the new connection.
    cached->Close("the agent did not answer a ping: " + alive.error().message());
    std::lock_guard<std::mutex> lk(mu_);
    if (slot->conn == cached) slot->conn.reset();
  }
  BANGER_ASSIGN_OR_RETURN(std::unique_ptr<AgentConn> fresh, connect_(vm, timeout));
  std::shared_ptr<AgentConn> conn(std::move(fresh));
  std::lock_guard<std::mutex> lk(mu_);
  if (shut_down_) {
    conn->Close("the daemon is stopping");
    return ShutDownError();
  }
  slot->conn = conn;
  return conn;
}

void AgentPool::Drop(const std::string& vm_id) {
  std::lock_guard<std::mutex> lk(mu_);
  slots_.erase(vm_id);
}

int AgentPool::connected() {
  std::lock_guard<std::mutex> lk(mu_);
  int n = 0;
  for (const auto& [id, slot] : slots_) n += slot->conn ? 1 : 0;
  return n;
}

bool AgentPool::shut_down() {
  std::lock_guard<std::mutex> lk(mu_);
  return shut_down_;
}

void AgentPool::Shutdown() {
  std::map<std::string, std::shared_ptr<Slot>> slots;
  {
    std::lock_guard<std::mutex> lk(mu_);
    shut_down_ = true;
    slots = slots_;
    for (auto& [id, slot] : slots) {
      if (slot->conn) slot->conn->Close("the daemon is stopping");
    }
  }
}

AgentPool::Connector RealAgentConnector(AgentConnOptions base) {
  // One log limiter per VM, kept across reconnects (a VM's id is never reused).
  struct Limiters {
    std::mutex mu;
    std::map<std::string, std::shared_ptr<GuestLogLimiter>> by_vm;  // Guarded by mu.
  };
  auto limiters = std::make_shared<Limiters>();
  return [base = std::move(base), limiters](
             const VmRecord& vm, std::chrono::milliseconds timeout) -> Result<std::unique_ptr<AgentConn>> {
    Result<UniqueFd> fd = vm.spec.backend == BackendKind::kFirecracker
                              ? ConnectAgentVsock(vm.runtime.vsock_path, kAgentVsockPort, timeout)
                              : ConnectAgentUnix(vm.runtime.vm_dir + "/agent.sock", timeout);
    if (!fd.ok()) return std::move(fd).error();
    AgentConnOptions opts = base;
    opts.label = "vm " + vm.name;
    {
      std::lock_guard<std::mutex> lk(limiters->mu);
      auto& limiter = limiters->by_vm[vm.id];
      if (!limiter) limiter = std::make_shared<GuestLogLimiter>();
      opts.log_limiter = limiter;
    }
    return AgentConn::Handshake(std::move(*fd), timeout, std::move(opts));
  };
}

}  // namespace banger

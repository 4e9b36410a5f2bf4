#include "daemon/agent_pool.h"

namespace banger {

std::shared_ptr<AgentPool::Slot> AgentPool::SlotFor(const std::string& vm_id) {
  std::lock_guard<std::mutex> lk(mu_);
  auto& s = slots_[vm_id];
  if (!s) s = std::make_shared<Slot>();
  return s;
}

Result<std::shared_ptr<AgentConn>> AgentPool::Get(const VmRecord& vm, std::chrono::milliseconds timeout) {
  auto slot = SlotFor(vm.id);
  std::lock_guard<std::mutex> connecting(slot->connect_mu);
  std::shared_ptr<AgentConn> cached;
  {
    std::lock_guard<std::mutex> lk(mu_);
    cached = slot->conn;
  }
  if (cached) {
    if (cached->Ping(std::chrono::seconds(2)).ok()) return cached;
    std::lock_guard<std::mutex> lk(mu_);
    slot->conn.reset();
  }
  BANGER_ASSIGN_OR_RETURN(std::unique_ptr<AgentConn> fresh, connect_(vm, timeout));
  std::shared_ptr<AgentConn> conn(std::move(fresh));
  std::lock_guard<std::mutex> lk(mu_);
  slot->conn = conn;
  return conn;
}

void AgentPool::Drop(const std::string& vm_id) {
  std::lock_guard<std::mutex> lk(mu_);
  slots_.erase(vm_id);
}

AgentPool::Connector RealAgentConnector() {
  return [](const VmRecord& vm, std::chrono::milliseconds timeout) -> Result<std::unique_ptr<AgentConn>> {
    Result<UniqueFd> fd = vm.spec.backend == BackendKind::kFirecracker
                              ? ConnectAgentVsock(vm.runtime.vsock_path, kAgentVsockPort, timeout)
                              : ConnectAgentUnix(vm.runtime.vm_dir + "/agent.sock", timeout);
    if (!fd.ok()) return std::move(fd).error();
    return AgentConn::Handshake(std::move(*fd), timeout);
  };
}

}  // namespace banger

#include "daemon/network.h"

#include <map>

#include "base/log.h"

namespace banger {

Result<std::unique_ptr<VmNetwork>> VmNetwork::Create(NetOps& ops, const DaemonConfig& cfg,
                                                     std::optional<TapPool::Owner> tap_owner) {
  BANGER_ASSIGN_OR_RETURN(IpAllocator alloc, IpAllocator::Create(cfg.bridge_ip, cfg.cidr));
  BANGER_RETURN_IF_ERROR(ValidateIfName(cfg.bridge_name));
  return std::unique_ptr<VmNetwork>(new VmNetwork(ops, cfg, alloc, std::move(tap_owner)));
}

namespace {
DnsResponder::Options DnsOptions(const DaemonConfig& cfg) {
  DnsResponder::Options o;
  o.listen_addr = cfg.bridge_ip;
  o.upstream = cfg.default_dns;
  return o;
}
}  // namespace

VmNetwork::VmNetwork(NetOps& ops, const DaemonConfig& cfg, IpAllocator alloc,
                     std::optional<TapPool::Owner> tap_owner)
    : ops_(ops),
      cfg_(cfg),
      alloc_(alloc),
      pool_(ops, cfg.bridge_name, cfg.tap_pool_size, TapPool::kDefaultPrefix, std::move(tap_owner)),
      nat_(ops),
      dns_(DnsOptions(cfg)) {}

Status VmNetwork::StartDns() { return dns_.Start(); }

void VmNetwork::Stop() { dns_.Stop(); }

Result<std::string> VmNetwork::AllocateIp(const std::set<std::string>& in_use) { return alloc_.Next(in_use); }

Status VmNetwork::EnsureBridge() {
  std::lock_guard<std::mutex> lk(mu_);
  if (bridge_ready_) return OkStatus();
  BANGER_RETURN_IF_ERROR(Bridge::Ensure(ops_, cfg_.bridge_name, cfg_.bridge_ip, cfg_.cidr));
  bridge_ready_ = true;
  return OkStatus();
}

Result<NicLease> VmNetwork::Attach(const VmRecord& vm) {
  if (vm.runtime.guest_ip.empty()) return Error::Internal("vm " + vm.name + " has no guest IP");
  BANGER_RETURN_IF_ERROR(Annotate(EnsureBridge(), "bridge " + cfg_.bridge_name));
  BANGER_ASSIGN_OR_RETURN(std::string tap, pool_.Acquire());
  if (vm.spec.nat_enabled) {
    if (auto st = nat_.Enable(vm.id, vm.runtime.guest_ip, cfg_.bridge_name, cfg_.cidr); !st.ok()) {
      pool_.Release(tap).ok();
      return std::move(st).error().Wrap("NAT for vm " + vm.name);
    }
  }
  dns_.SetRecord(vm.name, vm.runtime.guest_ip).ok();
  return NicLease{tap, MacForIp(vm.runtime.guest_ip)};
}

void VmNetwork::Detach(const VmRecord& vm, const std::string& tap) {
  if (!tap.empty()) {
    if (auto st = pool_.Release(tap); !st.ok())
      spdlog::warn("vm {}: releasing {}: {}", vm.name, tap, st.error().message());
  }
  if (auto st = nat_.Disable(vm.id); !st.ok()) spdlog::warn("vm {}: NAT: {}", vm.name, st.error().message());
  dns_.RemoveRecord(vm.name);
}

Status VmNetwork::SetNat(const VmRecord& vm, bool enabled) {
  if (!enabled) return nat_.Disable(vm.id);
  return nat_.Enable(vm.id, vm.runtime.guest_ip, cfg_.bridge_name, cfg_.cidr);
}

Status VmNetwork::Reconcile(const std::vector<VmRecord>& live, const std::set<std::string>& live_taps) {
  // The bridge must exist before taps can be refilled onto it.
  if (auto st = EnsureBridge(); !st.ok()) return st;
  BANGER_RETURN_IF_ERROR(Annotate(pool_.Reconcile(live_taps), "tap pool"));
  std::set<std::string> want_nat;
  std::map<std::string, std::string> records;
  for (const auto& vm : live) {
    records[vm.name] = vm.runtime.guest_ip;
    if (vm.spec.nat_enabled) want_nat.insert(vm.id);
  }
  if (auto have = nat_.ListVmIds(); have.ok()) {
    for (const auto& id : *have) {
      if (!want_nat.count(id)) nat_.Disable(id).ok();
    }
  }
  for (const auto& vm : live) {
    if (vm.spec.nat_enabled) nat_.Enable(vm.id, vm.runtime.guest_ip, cfg_.bridge_name, cfg_.cidr).ok();
  }
  return dns_.ReplaceRecords(records);
}

GuestNic VmNetwork::NicFor(const VmRecord& vm) const {
  return GuestNic{.mac = MacForIp(vm.runtime.guest_ip),
                  .ip = vm.runtime.guest_ip,
                  .prefix = alloc_.subnet().prefix,
                  .gateway = cfg_.bridge_ip,
                  .dns = cfg_.bridge_ip};
}

std::string VmNetwork::KernelArgs(const VmRecord& vm) const {
  GuestNic nic = NicFor(vm);
  return " banger.ip=" + nic.ip + "/" + std::to_string(nic.prefix) + " banger.gw=" + nic.gateway +
         " banger.dns=" + nic.dns;
}

}  // namespace banger

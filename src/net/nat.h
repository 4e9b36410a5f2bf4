// Nat: per-VM outbound NAT with nftables, in one table `ip banger` that
// banger owns:
//
//   chain postrouting  (nat hook)     per VM: masquerade the guest's traffic
//                                     leaving the bridge subnet
//   chain forward      (filter hook)  jump vm_forward, then drop what comes
//                                     from the bridge and leaves by another
//                                     device: only NAT VMs get out
//   chain vm_forward                  per VM: accept the guest's outbound
//                                     traffic and its replies
//
// Every per-VM rule carries the comment "banger-vm:<vm id>", so a VM's rules
// are found and removed by id (Disable, ListVmIds for reconcile). The table
// is created with the first VM's rules and deleted with the last VM's.
// ip_forward is switched on when a VM's rules are added and it is off; it is
// never switched off (other software on the host may rely on it).
//
// Our accepts cannot override a drop in another table's forward hook (e.g.
// Docker's FORWARD policy); such a host needs its own allowance.
//
// Thread-safe: one mutex serializes every change to the table.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/result.h"
#include "net/net_ops.h"

namespace banger {

class Nat {
 public:
  static constexpr const char* kFamily = "ip";
  static constexpr const char* kTable = "banger";
  static constexpr const char* kCommentPrefix = "banger-vm:";

  explicit Nat(NetOps& ops) : ops_(ops) {}

  // Adds (or replaces) the rules of `vm_id` for `guest_ip` behind `bridge`
  // with subnet prefix `cidr` ("24"). Idempotent.
  Status Enable(const std::string& vm_id, const std::string& guest_ip, const std::string& bridge,
                const std::string& cidr);
  // Removes the rules of `vm_id` (none is fine); the table goes with the last VM.
  Status Disable(const std::string& vm_id);
  // Ids of the VMs that have rules now.
  Result<std::set<std::string>> ListVmIds();

  // One per-VM rule as found in the table.
  struct RuleRef {
    std::string chain;
    int64_t handle = 0;
    std::string vm_id;  // "" for the table's own rules
  };
  // Parses `nft -j list table` output. Exposed for tests.
  static Result<std::vector<RuleRef>> ParseRules(const std::string& json);
  // The script adding one VM's rules (and, when `create_table`, the table).
  // Exposed for tests.
  static std::string EnableScript(const std::string& vm_id, const std::string& guest_ip,
                                  const std::string& bridge, const std::string& subnet, bool create_table);

 private:
  // The table's rules, or nullopt if there is no table. Holds mu_.
  Result<std::optional<std::vector<RuleRef>>> ReadLocked();

  NetOps& ops_;
  std::mutex mu_;
};

}  // namespace banger

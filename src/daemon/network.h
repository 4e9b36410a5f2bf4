// VmNetwork: the daemon's use of src/net for VMs (issue 5): a guest IP per
// VM (durable, chosen at create), the bridge made when the first VM needs
// it, a tap from the pool per running VM (its name only in handles.json),
// per-VM NAT, and the DNS responder answering <name>.vm on the bridge.
//
// Thread-safety: all methods are safe to call concurrently.
#pragma once

#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "config/config.h"
#include "model/types.h"
#include "net/address.h"
#include "net/bridge.h"
#include "net/dns_responder.h"
#include "net/nat.h"
#include "net/net_ops.h"
#include "net/tap_pool.h"

namespace banger {

struct NicLease {
  std::string tap;
  std::string mac;
};

// How a VM's guest configures its NIC: what a cold boot puts on the kernel
// command line (KernelArgs) and what a guest fixup after a restore or fork
// applies (daemon/guest_fixup.h), from one source.
struct GuestNic {
  std::string mac;      // MacForIp(ip), as the VMM gives the NIC
  std::string ip;       // the VM's guest address
  int prefix = 0;       // the bridge subnet's
  std::string gateway;  // the bridge address
  std::string dns;      // the bridge address (the DNS responder)
};

class VmNetwork {
 public:
  // Validates the bridge settings; touches nothing yet.
  // `tap_owner`: the user VMMs run as, when they attach to taps unprivileged
  // (TapPool::Owner); none = root-only taps.
  static Result<std::unique_ptr<VmNetwork>> Create(NetOps& ops, const DaemonConfig& cfg,
                                                   std::optional<TapPool::Owner> tap_owner = std::nullopt);

  // Starts the DNS responder on the bridge address, port 53 (it may bind
  // before the bridge exists).
  Status StartDns();
  void Stop();

  // The lowest free guest address given those in use.
  Result<std::string> AllocateIp(const std::set<std::string>& in_use);
  // Bridge (idempotent), a tap from the pool, NAT when asked, the DNS record.
  Result<NicLease> Attach(const VmRecord& vm);
  // Gives the tap back and drops the VM's NAT rules and DNS record. Best effort.
  void Detach(const VmRecord& vm, const std::string& tap);
  Status SetNat(const VmRecord& vm, bool enabled);
  // At daemon start: taps of live VMs are kept, others deleted and the pool
  // refilled; NAT rules match the live VMs that want them; DNS records too.
  Status Reconcile(const std::vector<VmRecord>& live, const std::set<std::string>& live_taps);

  // The guest's NIC settings for `vm` (which has a guest IP).
  GuestNic NicFor(const VmRecord& vm) const;
  // The guest init's network arguments for the kernel command line.
  std::string KernelArgs(const VmRecord& vm) const;

 private:
  VmNetwork(NetOps& ops, const DaemonConfig& cfg, IpAllocator alloc, std::optional<TapPool::Owner> tap_owner);
  Status EnsureBridge();

  NetOps& ops_;
  DaemonConfig cfg_;
  IpAllocator alloc_;
  TapPool pool_;
  Nat nat_;
  DnsResponder dns_;
  std::mutex mu_;
  bool bridge_ready_ = false;  // Guarded by mu_.
};

}  // namespace banger

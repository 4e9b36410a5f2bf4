// TapPool keeps `size` persistent tap devices named <prefix><N> ("bgtap0",
// "bgtap1", ...) created ahead, attached to the bridge and up, so that
// starting a VM does not pay for tap creation. A starting VM Acquires one;
// a stopped VM's tap is Released back (or deleted when the pool is full).
//
// The pool owns every tap named <prefix><digits> on the host: Reconcile
// deletes those neither in use nor needed for the pool (links of another
// kind with such a name are left alone and their names skipped). So one
// prefix per host per daemon. Which tap a VM holds is the caller's to remember (the
// daemon keeps it in handles.json and its HandleCache).
//
// Thread-safe. Tap creation and deletion run outside the lock, so a slow
// Fill never blocks an Acquire of an already free tap.
#pragma once

#include <sys/types.h>

#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/result.h"
#include "net/net_ops.h"

namespace banger {

class TapPool {
 public:
  static constexpr const char* kDefaultPrefix = "bgtap";

  // The user VMMs run as (config vmm_user): taps are created owned by it, so
  // an unprivileged VMM (Firecracker as that user, or jailed) can attach.
  struct Owner {
    std::string name;
    uid_t uid = 0;
  };

  // `ops` must outlive the pool. `size` < 0 is taken as 0. `owner`: none =
  // root-only taps (the VMMs run as root, or open the tap before dropping
  // privileges).
  TapPool(NetOps& ops, std::string bridge, int size, std::string prefix = kDefaultPrefix,
          std::optional<Owner> owner = std::nullopt);

  // Creates taps until `size` are free. Meant for startup and for a
  // background refill after Acquires; idempotent.
  Status Fill();

  // A free tap (attached to the bridge, up), or a new one if none is free.
  Result<std::string> Acquire();

  // Gives a tap back: kept for reuse (re-attached or recreated if it was
  // damaged) while fewer than `size` are free, else deleted.
  Status Release(const std::string& name);

  // After a daemon restart: `in_use` are the taps of live VMs. Every other
  // <prefix><N> link is adopted as a free tap while the pool needs one, or
  // deleted; then the pool is refilled.
  Status Reconcile(const std::set<std::string>& in_use);

  // True for "<prefix><digits>".
  bool IsPoolName(const std::string& name) const;

  std::vector<std::string> FreeTaps() const;
  std::set<std::string> InUse() const;
  int size() const { return size_; }
  const std::string& bridge() const { return bridge_; }

 private:
  // Deletes `name` (reserved in reserved_ by the caller) and frees the name.
  Status DeleteReserved(const std::string& name, const std::string& ctx);
  // A name not free, in use, being created or reserved (the caller records it
  // in creating_ or reserved_ before releasing mu_). Holds mu_.
  std::string ReserveNameLocked();
  // Creates, attaches and ups `name`; on failure nothing is left. No lock.
  Status CreateTap(const std::string& name);
  // Re-attaches/ups an existing tap, or recreates it if gone or owned by
  // another user than owner_. No lock.
  Status Repair(const std::string& name);
  // After a failed create/repair: the name exists anyway, so it is held by
  // something that is not ours (CreateTap cleans up after itself). No lock.
  bool TakenByOther(const std::string& name);

  NetOps& ops_;
  const std::string bridge_;
  const int size_;
  const std::string prefix_;
  const std::optional<Owner> owner_;

  mutable std::mutex mu_;
  std::deque<std::string> free_;    // Guarded by mu_.
  std::set<std::string> in_use_;    // Guarded by mu_.
  std::set<std::string> creating_;  // Names being created outside the lock. Guarded by mu_.
  std::set<std::string> avoid_;     // Names found taken by something else. Guarded by mu_.
  // Names an Acquire or a deletion is working on outside the lock: no other
  // operation may pick them until it is done (a new tap would collide with,
  // or be removed by, the one in flight). Guarded by mu_.
  std::set<std::string> reserved_;
};

}  // namespace banger

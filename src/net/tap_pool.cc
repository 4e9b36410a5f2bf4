#include "net/tap_pool.h"

#include <algorithm>

#include "base/scope_guard.h"

namespace banger {

TapPool::TapPool(NetOps& ops, std::string bridge, int size, std::string prefix, std::optional<Owner> owner)
    : ops_(ops),
      bridge_(std::move(bridge)),
      size_(size < 0 ? 0 : size),
      prefix_(std::move(prefix)),
      owner_(std::move(owner)) {}

bool TapPool::IsPoolName(const std::string& name) const {
  if (name.size() <= prefix_.size() || name.compare(0, prefix_.size(), prefix_) != 0) return false;
  return name.find_first_not_of("0123456789", prefix_.size()) == std::string::npos;
}

std::string TapPool::ReserveNameLocked() {
  for (int n = 0;; ++n) {
    std::string name = prefix_ + std::to_string(n);
    if (in_use_.count(name) || creating_.count(name) || avoid_.count(name) || reserved_.count(name) ||
        std::find(free_.begin(), free_.end(), name) != free_.end()) {
      continue;
    }
    return name;
  }
}

Status TapPool::CreateTap(const std::string& name) {
  std::string ctx = "creating tap " + name;
  BANGER_RETURN_IF_ERROR(Annotate(ops_.CreateTap(name, owner_ ? std::to_string(owner_->uid) : ""), ctx));
  ScopeGuard undo([&] { (void)ops_.DeleteLink(name); });
  BANGER_RETURN_IF_ERROR(Annotate(ops_.SetMaster(name, bridge_), ctx + ": attaching it to " + bridge_));
  BANGER_RETURN_IF_ERROR(Annotate(ops_.SetUp(name), ctx));
  undo.Dismiss();
  return OkStatus();
}

Status TapPool::Repair(const std::string& name) {
  BANGER_ASSIGN_OR_RETURN(auto link, ops_.GetLink(name));
  if (link && link->kind != "tap") {
    return Error::Conflict("link " + name + " is a " + (link->kind.empty() ? "device" : link->kind) +
                           ", not a tap: remove it (ip link del " + name + ")");
  }
  if (!link) return CreateTap(name);
  std::string ctx = "repairing tap " + name;
  // A tap made for another owner (e.g. before vmm_user changed): the VMM
  // could not attach to it, so it is made again.
  bool owner_ok = owner_ ? !link->tap_user.empty() && (link->tap_user == owner_->name ||
                                                       link->tap_user == std::to_string(owner_->uid))
                         : link->tap_user.empty();
  if (!owner_ok) {
    BANGER_RETURN_IF_ERROR(Annotate(ops_.DeleteLink(name), ctx));
    return CreateTap(name);
  }
  if (link->master != bridge_) BANGER_RETURN_IF_ERROR(Annotate(ops_.SetMaster(name, bridge_), ctx));
  if (!link->up) BANGER_RETURN_IF_ERROR(Annotate(ops_.SetUp(name), ctx));
  return OkStatus();
}

bool TapPool::TakenByOther(const std::string& name) {
  auto link = ops_.GetLink(name);
  return link.ok() && link->has_value();
}

Status TapPool::Fill() {
  std::vector<std::string> names;
  {
    std::lock_guard<std::mutex> lk(mu_);
    int have = static_cast<int>(free_.size() + creating_.size());
    for (int i = have; i < size_; ++i) {
      names.push_back(ReserveNameLocked());
      creating_.insert(names.back());
    }
  }
  Status first = OkStatus();
  for (const auto& name : names) {
    Status st = CreateTap(name);
    // A name held by something we did not make: never use it again.
    bool taken = !st.ok() && TakenByOther(name);
    std::lock_guard<std::mutex> lk(mu_);
    creating_.erase(name);
    if (st.ok()) {
      free_.push_back(name);
    } else {
      if (taken) avoid_.insert(name);
      if (first.ok()) first = std::move(st);
    }
  }
  return Annotate(std::move(first), "filling the tap pool");
}

Result<std::string> TapPool::Acquire() {
  for (int attempt = 0; attempt < 4; ++attempt) {
    std::string name;
    bool fresh = false;
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (!free_.empty()) {
        name = free_.front();
        free_.pop_front();
      } else {
        name = ReserveNameLocked();
        fresh = true;
      }
      reserved_.insert(name);
    }
    // A pooled tap may have been removed or detached behind our back.
    Status st = fresh ? CreateTap(name) : Repair(name);
    // A failed CreateTap undoes itself, so a link left by that name is not
    // ours; a pooled tap that could not be repaired is ours and goes (unless
    // Repair found something else under its name).
    bool taken = false;
    if (!st.ok()) {
      if (fresh || st.error().kind() == ErrorKind::kConflict) {
        taken = TakenByOther(name);
      } else {
        (void)ops_.DeleteLink(name);
      }
    }
    std::lock_guard<std::mutex> lk(mu_);
    reserved_.erase(name);
    if (st.ok()) {
      in_use_.insert(name);
      return name;
    }
    if (st.error().kind() == ErrorKind::kUnavailable) return std::move(st).error();  // no permission
    if (taken) avoid_.insert(name);
    if (attempt == 3) return Annotate(std::move(st), "acquiring a tap").error();
  }
  return Error::Internal("acquiring a tap: unreachable");
}

Status TapPool::DeleteReserved(const std::string& name, const std::string& ctx) {
  Status st = Annotate(ops_.DeleteLink(name), ctx);
  std::lock_guard<std::mutex> lk(mu_);
  reserved_.erase(name);
  return st;
}

Status TapPool::Release(const std::string& name) {
  if (!IsPoolName(name)) {
    return Error::Invalid("tap " + name + " is not a pool tap (" + prefix_ + "<N>)");
  }
  bool keep;
  {
    std::lock_guard<std::mutex> lk(mu_);
    in_use_.erase(name);
    if (std::find(free_.begin(), free_.end(), name) != free_.end()) return OkStatus();  // twice
    keep = static_cast<int>(free_.size() + creating_.size()) < size_;
    if (keep) {
      creating_.insert(name);  // held while repaired outside the lock
    } else {
      reserved_.insert(name);
    }
  }
  if (!keep) return DeleteReserved(name, "deleting tap " + name);
  Status st = Repair(name);
  std::lock_guard<std::mutex> lk(mu_);
  creating_.erase(name);
  if (!st.ok()) {
    (void)ops_.DeleteLink(name);
    return Annotate(std::move(st), "returning tap " + name + " to the pool");
  }
  free_.push_back(name);
  return OkStatus();
}

Status TapPool::Reconcile(const std::set<std::string>& in_use) {
  BANGER_ASSIGN_OR_RETURN(auto links, ops_.ListLinks(prefix_));
  std::vector<std::string> adopt, remove;
  {
    std::lock_guard<std::mutex> lk(mu_);
    in_use_ = in_use;
    free_.clear();
    avoid_.clear();
    int want = size_ - static_cast<int>(creating_.size());
    for (const auto& l : links) {
      if (!IsPoolName(l.name) || in_use.count(l.name) || creating_.count(l.name)) continue;
      if (l.kind != "tap") {
        avoid_.insert(l.name);  // not ours to delete: skip the name
      } else if (static_cast<int>(adopt.size()) < want) {
        adopt.push_back(l.name);
        creating_.insert(l.name);
      } else {
        remove.push_back(l.name);
        reserved_.insert(l.name);
      }
    }
  }
  Status first = OkStatus();
  for (const auto& name : remove) {
    Status st = DeleteReserved(name, "deleting orphan tap " + name);
    if (!st.ok() && first.ok()) first = std::move(st);
  }
  for (const auto& name : adopt) {
    Status st = Repair(name);
    std::lock_guard<std::mutex> lk(mu_);
    creating_.erase(name);
    if (st.ok()) {
      free_.push_back(name);
    } else {
      (void)ops_.DeleteLink(name);
      if (first.ok()) first = std::move(st);
    }
  }
  Status fill = Fill();
  if (first.ok()) first = std::move(fill);
  return Annotate(std::move(first), "reconciling taps");
}

std::vector<std::string> TapPool::FreeTaps() const {
  std::lock_guard<std::mutex> lk(mu_);
  return {free_.begin(), free_.end()};
}

std::set<std::string> TapPool::InUse() const {
  std::lock_guard<std::mutex> lk(mu_);
  return in_use_;
}

}  // namespace banger

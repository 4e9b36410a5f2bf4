#include "daemon/handle_cache.h"

#include "base/fs.h"
#include "model/json.h"

namespace banger {

std::optional<VmHandles> HandleCache::Get(const std::string& vm_id) const {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = handles_.find(vm_id);
  if (it == handles_.end()) return std::nullopt;
  return it->second;
}

void HandleCache::Set(const std::string& vm_id, const VmHandles& h) {
  std::lock_guard<std::mutex> lk(mu_);
  handles_[vm_id] = h;
}

void HandleCache::Erase(const std::string& vm_id) {
  std::lock_guard<std::mutex> lk(mu_);
  handles_.erase(vm_id);
}

Status WriteHandlesFile(const std::string& vm_dir, const VmHandles& h) {
  return WriteFileAtomic(vm_dir + "/" + kHandlesFileName, SafeDump(ToJson(h), 2) + "\n", 0600);
}

Result<std::optional<VmHandles>> ReadHandlesFile(const std::string& vm_dir) {
  std::string path = vm_dir + "/" + kHandlesFileName;
  if (!PathExists(path)) return std::optional<VmHandles>{};
  BANGER_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  auto j = ParseJson(text);
  if (!j.ok()) return std::move(j).error().Wrap(path);
  auto h = VmHandlesFromJson(*j);
  if (!h.ok()) return std::move(h).error().Wrap(path);
  return std::optional<VmHandles>(*h);
}

Status RemoveHandlesFile(const std::string& vm_dir) { return RemoveFile(vm_dir + "/" + kHandlesFileName); }

ProcIdentity VmmIdentityOf(const VmHandles& h) {
  ProcIdentity who;
  who.pid = h.pid;
  who.uid = static_cast<uid_t>(h.vmm_uid);
  who.start_time = static_cast<uint64_t>(h.vmm_start_time);
  who.exe_dev = static_cast<uint64_t>(h.vmm_exe_dev);
  who.exe_ino = static_cast<uint64_t>(h.vmm_exe_ino);
  return who;
}

void SetVmmIdentity(VmHandles& h, const ProcIdentity& who) {
  h.pid = who.pid;
  h.vmm_uid = who.uid;
  h.vmm_start_time = static_cast<int64_t>(who.start_time);
  h.vmm_exe_dev = static_cast<int64_t>(who.exe_dev);
  h.vmm_exe_ino = static_cast<int64_t>(who.exe_ino);
}

}  // namespace banger

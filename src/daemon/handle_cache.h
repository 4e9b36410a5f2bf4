// HandleCache: the daemon's in-memory view of each VM's transient handles
// (pid, tap, loops, dm names), mirrored to <vm_dir>/handles.json so that a
// new daemon can rebuild it after a crash. Never in SQLite.
//
// Thread-safety: all methods are safe to call concurrently.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "base/process.h"
#include "base/result.h"
#include "model/types.h"

namespace banger {

inline constexpr const char* kHandlesFileName = "handles.json";

class HandleCache {
 public:
  std::optional<VmHandles> Get(const std::string& vm_id) const;
  void Set(const std::string& vm_id, const VmHandles& h);
  void Erase(const std::string& vm_id);

 private:
  mutable std::mutex mu_;
  std::map<std::string, VmHandles> handles_;  // Guarded by mu_.
};

// The scratch file: atomically written, 0600.
Status WriteHandlesFile(const std::string& vm_dir, const VmHandles& h);
// nullopt when the file does not exist; an error when it is corrupt.
Result<std::optional<VmHandles>> ReadHandlesFile(const std::string& vm_dir);
Status RemoveHandlesFile(const std::string& vm_dir);

// The VMM's identity as handles record it (pid and the vmm_* fields), and
// back. A handles file without them (written before they existed) names no
// process: its VMM is never adopted or signalled.
ProcIdentity VmmIdentityOf(const VmHandles& h);
void SetVmmIdentity(VmHandles& h, const ProcIdentity& who);

}  // namespace banger

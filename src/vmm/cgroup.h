// Per-VM cgroups: every VMM runs in its own group `banger/<name>` (name =
// the VM's short id) with a memory limit and a pids limit, so a guest that
// drives its VMM to grow (memory, threads) hits a wall of its own rather
// than the host's.
//
//  - cgroup v2 (a standard Debian 12 host): one unified hierarchy, found as
//    the cgroup2 mount whose cgroup.controllers offers memory and pids; the
//    groups live at <mount>/banger/<name> (the root cgroup is exempt from
//    v2's no-internal-processes rule, a daemon's own service group is not).
//  - cgroup v1: the hierarchies whose mount options name memory and pids;
//    the groups live under the daemon's own cgroup of each hierarchy (from
//    /proc/self/cgroup), so limits set on the daemon still cover its VMMs.
//
// Everything takes a root directory standing in for "/" (tests point it at a
// temp dir; the daemon passes ""). The VMM joins its group before exec
// (base/process.h SpawnOptions::cgroup_procs_files).
//
// Thread-safety: VmCgroups holds no mutable state; calls for different
// names may run concurrently.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"

namespace banger {

enum class CgroupVersion { kNone, kV1, kV2 };

// "none", "v1", "v2".
const char* CgroupVersionName(CgroupVersion v);

// Where this host's groups go.
struct CgroupHost {
  CgroupVersion version = CgroupVersion::kNone;
  std::string v2_parent;      // v2: the directory holding banger/
  std::string memory_parent;  // v1: the memory hierarchy directory holding banger/
  std::string pids_parent;    // v1: the pids hierarchy directory holding banger/
  std::string why_none;       // kNone: what is missing
};

// Reads <root>/proc/self/mountinfo, <root>/proc/self/cgroup and the v2
// mount's cgroup.controllers. v2 wins when it offers both controllers.
CgroupHost DetectCgroupHost(const std::string& root = "");

// One mountinfo line's parts banger needs (exposed for tests).
struct MountInfoEntry {
  std::string root;         // the mount's root within its filesystem
  std::string mount_point;  // unescaped
  std::string fs_type;
  std::string super_options;
};
std::vector<MountInfoEntry> ParseMountInfo(const std::string& text);

struct CgroupLimits {
  int64_t memory_bytes = 0;  // 0 = no limit
  int64_t pids_max = 0;      // 0 = no limit
};

class VmCgroups {
 public:
  explicit VmCgroups(CgroupHost host) : host_(std::move(host)) {}

  const CgroupHost& host() const { return host_; }
  bool enabled() const { return host_.version != CgroupVersion::kNone; }

  // The group's directories, one per hierarchy ([] when disabled).
  std::vector<std::string> GroupDirs(const std::string& name) const;

  // Makes banger/<name> (again, if it exists) and writes the limits;
  // returns the cgroup.procs files a process writes to join it. `name` must
  // be [A-Za-z0-9_-]+.
  Result<std::vector<std::string>> Create(const std::string& name, const CgroupLimits& limits) const;

  // Removes banger/<name>; a group that is not there is success. A group
  // still holding processes fails (EBUSY), naming them.
  Status Remove(const std::string& name) const;

  // The names of the groups under banger/ (any hierarchy).
  std::vector<std::string> List() const;

  // Creates and removes a probe group: OK when this host lets us use cgroups.
  Status Probe() const;

 private:
  CgroupHost host_;
};

}  // namespace banger

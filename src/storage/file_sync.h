// Host -> guest file sync (config [[file_sync]]): copies host files and
// directories into a VM's work disk image (mounted at /root in the guest)
// with debugfs, without mounting anything on the host.
//
// Semantics (seed): "~/" on the host is the host user's home; guest paths
// are under /root (relative, "~/..." or "/root/..."); directories copy
// recursively; a missing host path is a warning, not an error; default
// modes 0600 for files and 0755 for directories; everything owned by root.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"

namespace banger {

struct SyncEntry {
  std::string host;
  std::string guest;
  std::string mode;  // octal, "" = default
};

// The path inside the work disk for a guest path ("/.gitconfig" for
// ".gitconfig", "~/.gitconfig" or "/root/.gitconfig"); an error for paths
// outside /root or containing "..", quotes or control characters.
Result<std::string> WorkDiskPath(const std::string& guest);

// Applies the entries to the ext4 image; returns one warning per skipped entry.
Result<std::vector<std::string>> SyncIntoExt4(const std::string& image, const std::vector<SyncEntry>& entries,
                                              const std::string& host_home);

}  // namespace banger

// Point-in-time copies of a VM's disk files for snapshots: a reflink
// (ioctl FICLONE: instant, blocks shared until written) where the
// filesystem supports it (XFS with reflink, btrfs), else a sparse copy that
// reads only the data extents (SEEK_DATA/SEEK_HOLE), so the holes of a
// mostly empty disk cost neither time nor space.
//
// Thread-safety: free functions.
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"

namespace banger {

struct CloneResult {
  bool reflinked = false;  // FICLONE worked; else a sparse copy was made
  int64_t size_bytes = 0;  // apparent size of the copy
};

// Copies `from` to the new file `to` (mode 0600, must not exist) and fsyncs
// it. On failure (ENOSPC included: the message names it) `to` is removed.
Result<CloneResult> CloneOrSparseCopy(const std::string& from, const std::string& to);

// CloneOrSparseCopy, then `to` gets the owner and mode of `like` when `like`
// exists (a VMM running as the vmm user must open a disk copy read-write).
// On failure `to` is removed.
Status CloneLike(const std::string& from, const std::string& to, const std::string& like);

}  // namespace banger

// DiskOps: per-VM disk files (system overlay, work disk). The real
// implementation makes sparse files and formats them with e2fsprogs (argv,
// never a shell); tests use a fake that records calls.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "base/process.h"
#include "base/result.h"

namespace banger {

class DiskOps {
 public:
  virtual ~DiskOps() = default;
  // Creates a sparse file of `size_bytes` holding an empty ext4 filesystem
  // labelled `label`. Fails if the file exists. On failure nothing is left.
  virtual Status CreateExt4(const std::string& path, int64_t size_bytes, const std::string& label) = 0;
  // Copies the ext4 image `seed` to `path` (sparse) and grows it to
  // `size_bytes`. Fails if `path` exists; on failure nothing is left.
  virtual Status CreateFromSeed(const std::string& seed, const std::string& path, int64_t size_bytes) = 0;
  // Grows the file and its ext4 filesystem to `size_bytes` (offline).
  // Shrinking is refused with kInvalidArgument.
  virtual Status GrowExt4(const std::string& path, int64_t size_bytes) = 0;
  // Current apparent size in bytes (0 if missing).
  virtual int64_t SizeOf(const std::string& path) = 0;
};

// The real implementation (class RealDiskOps), running e2fsprogs as the
// daemon's user.
DiskOps& RealDiskOps();

// The real implementation, but e2fsck and resize2fs run as `tools_user`
// (with no_new_privs) on a disk first given to that user: a guest-written
// work disk is hostile input, and a parser bug in e2fsprogs must not be a
// root exploit. nullopt = as the daemon's user.
std::unique_ptr<DiskOps> MakeRealDiskOps(std::optional<Credentials> tools_user);

// A new sparse file of `size_bytes`, mode 0600. Fails if it exists; on
// failure nothing is left.
Status CreateSparseFile(const std::string& path, int64_t size_bytes);

}  // namespace banger

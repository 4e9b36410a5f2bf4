// Small filesystem helpers; all return errors as values.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "base/result.h"
#include "base/unique_fd.h"

namespace banger {

Result<std::string> ReadFile(const std::string& path);
// Writes via a temp file + fsync + rename, so readers see old or new, never half.
Status WriteFileAtomic(const std::string& path, const std::string& data, mode_t mode = 0644);
Status MakeDirs(const std::string& path, mode_t mode = 0755);
// Removes a file or a whole tree; a missing path is not an error.
Status RemoveAll(const std::string& path);
// Removes one file; missing is not an error.
Status RemoveFile(const std::string& path);
bool PathExists(const std::string& path);
bool IsRegularFile(const std::string& path);
bool IsDirectory(const std::string& path);
// Absolute, lexically normalised path (relative paths resolved against cwd).
std::string AbsolutePath(const std::string& path);
// The last `max_bytes` of a file (for error messages quoting a log tail).
std::string TailFile(const std::string& path, size_t max_bytes);
// Bytes actually allocated on disk (st_blocks * 512).
int64_t AllocatedBytes(const std::string& path);

// An exclusive advisory lock on a file held for the object's lifetime.
class FileLock {
 public:
  // Fails with kConflict if another process holds it.
  static Result<FileLock> TryAcquire(const std::string& path);
  int fd() const { return fd_.get(); }

 private:
  explicit FileLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

// A fresh directory (mkdtemp under `parent`), removed with everything in it
// when the object goes. Move-only.
class TempDir {
 public:
  static Result<TempDir> Create(const std::string& parent, const std::string& prefix);
  TempDir(TempDir&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
  TempDir& operator=(TempDir&& o) noexcept;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  explicit TempDir(std::string p) : path_(std::move(p)) {}
  std::string path_;
};

}  // namespace banger

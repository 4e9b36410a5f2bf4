// Small filesystem helpers; all return errors as values.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "base/result.h"
#include "base/unique_fd.h"

namespace banger {

Result<std::string> ReadFile(const std::string& path);
// The one way to replace a file's content: writes a temp file beside it
// (mode exactly `mode`, whatever the umask), fsyncs it, renames it over
// `path` and fsyncs the directory, so readers and a crash see the old
// content or the new one, never half, and the new one survives power loss.
Status WriteFileAtomic(const std::string& path, const std::string& data, mode_t mode = 0600);
// Publishes a finished file under its name: rename(from, to), then fsync of
// `to`'s directory (what WriteFileAtomic does after writing).
Status RenameDurable(const std::string& from, const std::string& to);
// fsync of a directory, so that renames and creations in it are on disk.
Status SyncDir(const std::string& dir);
// Creates `path` and its missing parents; `path` gets `mode` only when it
// is made here (an existing directory keeps its mode).
Status MakeDirs(const std::string& path, mode_t mode = 0755);
// Removes a file or a whole tree; a missing path is not an error.
Status RemoveAll(const std::string& path);
// Removes one file; missing is not an error.
Status RemoveFile(const std::string& path);
bool PathExists(const std::string& path);
// Creates `path` (O_CLOEXEC, no symlink followed) if missing and sets its
// mode to exactly `mode`, whatever the umask; an existing file keeps its
// content. For files another process appends to (a VMM's console).
Status CreateFileWithMode(const std::string& path, mode_t mode);
// Takes group and other permission bits away under `root` (included): every
// directory gets `dir_mode`, every other entry keeps only its owner's bits
// (plus `file_group_bits` & 070). Symlinks are not followed nor changed.
// For fixing a banger home made under a looser umask or an older banger.
Status RestrictTree(const std::string& root, mode_t dir_mode, mode_t file_group_bits = 0);
bool IsRegularFile(const std::string& path);
bool IsDirectory(const std::string& path);
// Absolute, lexically normalised path (relative paths resolved against cwd).
std::string AbsolutePath(const std::string& path);
// The last `max_bytes` of a file (for error messages quoting a log tail).
std::string TailFile(const std::string& path, size_t max_bytes);
// The last `max_bytes` of a capped log (RotateAppendedFile): when `path`
// holds fewer, the end of `path`.1 comes first, so a tail read just after a
// rotation still shows what came before it.
std::string TailRotatedFile(const std::string& path, size_t max_bytes);
// Caps a log file that another process appends to with O_APPEND (a VMM's
// console): once it holds more than `max_bytes`, its content is copied to
// `path`.1 (replacing the previous one, written atomically) and `path` is
// truncated to 0, so the pair never holds much more than 2 * max_bytes plus
// what the writer appends between two calls. Bytes the writer appends
// between the last copy and the truncate (microseconds) are lost, as with
// logrotate's copytruncate. Returns whether it rotated. A missing file is
// not an error (false).
Result<bool> RotateAppendedFile(const std::string& path, int64_t max_bytes);
// Bytes actually allocated on disk (st_blocks * 512).
int64_t AllocatedBytes(const std::string& path);
// The same summed over a directory tree (symlinks not followed; a hard-linked
// file counted once per link). Unreadable entries count 0.
int64_t TreeAllocatedBytes(const std::string& dir);

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

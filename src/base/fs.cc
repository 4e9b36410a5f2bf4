#include "base/fs.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <vector>

#include "base/fs_cloexec.h"

namespace banger {
namespace fs = std::filesystem;

Result<std::string> ReadFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Error::FromErrno("open " + path);
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::FromErrno("read " + path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

namespace {

// Writes all of `data` to `fd`.
Status WriteAll(int fd, const char* data, size_t size, const std::string& what) {
  size_t off = 0;
  while (off < size) {
    ssize_t n = ::write(fd, data + off, size - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::FromErrno("write " + what);
    }
    off += static_cast<size_t>(n);
  }
  return OkStatus();
}

std::string DirOf(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// A fresh temp name beside `path`, created O_EXCL with exactly `mode`.
Result<std::pair<std::string, UniqueFd>> CreateTempBeside(const std::string& path, mode_t mode) {
  std::random_device rd;
  std::string tmp = path + ".tmp." + std::to_string(rd());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode));
  if (!fd.valid()) return Error::FromErrno("create " + tmp);
  if (::fchmod(fd.get(), mode) != 0) {
    Error e = Error::FromErrno("chmod " + tmp);
    ::unlink(tmp.c_str());
    return e;
  }
  return std::make_pair(std::move(tmp), std::move(fd));
}

// fsync + close of a finished temp file, then rename over `path` and fsync
// of the directory; the temp file is removed on any failure.
Status PublishTemp(const std::string& tmp, UniqueFd fd, const std::string& path) {
  if (::fsync(fd.get()) != 0 || ::close(fd.Release()) != 0) {
    Error e = Error::FromErrno("sync " + tmp);
    ::unlink(tmp.c_str());
    return e;
  }
  Status st = RenameDurable(tmp, path);
  if (!st.ok()) ::unlink(tmp.c_str());
  return st;
}

}  // namespace

Status WriteFileAtomic(const std::string& path, const std::string& data, mode_t mode) {
  BANGER_ASSIGN_OR_RETURN(auto tmp, CreateTempBeside(path, mode));
  if (Status st = WriteAll(tmp.second.get(), data.data(), data.size(), tmp.first); !st.ok()) {
    ::unlink(tmp.first.c_str());
    return st;
  }
  return PublishTemp(tmp.first, std::move(tmp.second), path);
}

Status SyncDir(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return Error::FromErrno("open directory " + dir);
  if (::fsync(fd.get()) != 0) return Error::FromErrno("sync directory " + dir);
  return OkStatus();
}

Status RenameDurable(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) return Error::FromErrno("rename " + from + " to " + to);
  return SyncDir(DirOf(to));
}

Status MarkCloseOnExecFrom(int first_fd) {
  if (::close_range(static_cast<unsigned>(first_fd), ~0U, CLOSE_RANGE_CLOEXEC) == 0) return OkStatus();
  std::error_code ec;
  std::vector<int> fds;
  for (const auto& e : fs::directory_iterator("/proc/self/fd", ec)) {
    int fd = std::atoi(e.path().filename().c_str());
    if (fd >= first_fd) fds.push_back(fd);
  }
  if (ec) return Error::Internal("listing /proc/self/fd: " + ec.message());
  for (int fd : fds) {
    int flags = ::fcntl(fd, F_GETFD);
    if (flags >= 0) (void)::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);  // the iterator's own fd is gone: EBADF
  }
  return OkStatus();
}

Status CreateFileWithMode(const std::string& path, mode_t mode) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, mode));
  if (!fd.valid()) return Error::FromErrno("create " + path);
  if (::fchmod(fd.get(), mode) != 0) return Error::FromErrno("chmod " + path);
  return OkStatus();
}

Status RestrictTree(const std::string& root, mode_t dir_mode, mode_t file_group_bits) {
  auto fix = [&](const std::string& p) -> Status {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) return errno == ENOENT ? OkStatus() : Error::FromErrno("stat " + p);
    if (S_ISLNK(st.st_mode)) return OkStatus();
    mode_t want = S_ISDIR(st.st_mode) ? dir_mode : (st.st_mode & (07700 | (file_group_bits & 070)));
    if ((st.st_mode & 07777) == want) return OkStatus();
    if (::chmod(p.c_str(), want) != 0 && errno != ENOENT) return Error::FromErrno("chmod " + p);
    return OkStatus();
  };
  BANGER_RETURN_IF_ERROR(fix(root));
  struct stat rst {};
  if (::lstat(root.c_str(), &rst) != 0 || !S_ISDIR(rst.st_mode)) return OkStatus();
  std::error_code ec;
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
  if (ec) return Error::Internal("listing " + root + ": " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) return Error::Internal("listing " + root + ": " + ec.message());
    BANGER_RETURN_IF_ERROR(fix(it->path().string()));
  }
  if (ec) return Error::Internal("listing " + root + ": " + ec.message());
  return OkStatus();
}

Status MakeDirs(const std::string& path, mode_t mode) {
  std::error_code ec;
  bool created = fs::create_directories(path, ec);
  if (ec) return Error::Internal("mkdir " + path + ": " + ec.message());
  // Only a directory made here gets `mode`: an existing one (/tmp, a user's
  // directory, a home locked down by SecureHome) keeps its own.
  if (created && ::chmod(path.c_str(), mode) != 0) return Error::FromErrno("chmod " + path);
  return OkStatus();
}

Status RemoveAll(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) return Error::Internal("remove " + path + ": " + ec.message());
  return OkStatus();
}

Status RemoveFile(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Error::FromErrno("unlink " + path);
  return OkStatus();
}

bool PathExists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

bool IsRegularFile(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool IsDirectory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string AbsolutePath(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::absolute(path, ec);
  if (ec) return path;
  return p.lexically_normal().string();
}

std::string TailFile(const std::string& path, size_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return "";
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return "";
  off_t start = st.st_size > static_cast<off_t>(max_bytes) ? st.st_size - static_cast<off_t>(max_bytes) : 0;
  std::string out(static_cast<size_t>(st.st_size - start), '\0');
  ssize_t n = ::pread(fd.get(), out.data(), out.size(), start);
  if (n < 0) return "";
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string TailRotatedFile(const std::string& path, size_t max_bytes) {
  std::string tail = TailFile(path, max_bytes);
  if (tail.size() >= max_bytes) return tail;
  return TailFile(path + ".1", max_bytes - tail.size()) + tail;
}

Result<bool> RotateAppendedFile(const std::string& path, int64_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (!fd.valid()) {
    if (errno == ENOENT) return false;
    return Error::FromErrno("open " + path);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Error::FromErrno("stat " + path);
  if (!S_ISREG(st.st_mode)) return Error::Invalid(path + " is not a regular file");
  if (st.st_size <= max_bytes) return false;
  BANGER_ASSIGN_OR_RETURN(auto tmp, CreateTempBeside(path + ".1", st.st_mode & 0777));
  // Copies up to the end of file as it is when the copy gets there (the
  // writer keeps appending meanwhile), at most what was there plus
  // max_bytes, so a fast writer cannot keep us copying.
  const int64_t limit = st.st_size + max_bytes;
  int64_t copied = 0;
  std::vector<char> buf(1 << 16);
  while (copied < limit) {
    size_t want = static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(buf.size()), limit - copied));
    ssize_t n = ::pread(fd.get(), buf.data(), want, copied);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Error e = Error::FromErrno("read " + path);
      ::unlink(tmp.first.c_str());
      return e;
    }
    if (n == 0) break;
    if (Status w = WriteAll(tmp.second.get(), buf.data(), static_cast<size_t>(n), tmp.first); !w.ok()) {
      ::unlink(tmp.first.c_str());
      return std::move(w).error();
    }
    copied += n;
  }
  if (::ftruncate(fd.get(), 0) != 0) {
    Error e = Error::FromErrno("truncate " + path);
    ::unlink(tmp.first.c_str());
    return e;
  }
  BANGER_RETURN_IF_ERROR(PublishTemp(tmp.first, std::move(tmp.second), path + ".1"));
  return true;
}

int64_t AllocatedBytes(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<int64_t>(st.st_blocks) * 512;
}

int64_t TreeAllocatedBytes(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  int64_t total = AllocatedBytes(dir);
  for (fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) == 0) total += static_cast<int64_t>(st.st_blocks) * 512;
  }
  return total;
}

Result<FileLock> FileLock::TryAcquire(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) return Error::FromErrno("open " + path);
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return Error::Conflict(path + " is locked by another process");
    return Error::FromErrno("lock " + path);
  }
  return FileLock(std::move(fd));
}

Result<TempDir> TempDir::Create(const std::string& parent, const std::string& prefix) {
  BANGER_RETURN_IF_ERROR(MakeDirs(parent, 0700));
  std::string tmpl = parent + "/" + prefix + "XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) return Error::FromErrno("mkdtemp " + tmpl);
  return TempDir(std::string(buf.data()));
}

TempDir& TempDir::operator=(TempDir&& o) noexcept {
  if (this != &o) {
    if (!path_.empty()) (void)RemoveAll(path_);
    path_ = std::move(o.path_);
    o.path_.clear();
  }
  return *this;
}

TempDir::~TempDir() {
  if (!path_.empty()) (void)RemoveAll(path_);
}

}  // namespace banger

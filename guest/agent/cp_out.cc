// `banger-agent cp-out [--follow-links] PATH`: PATH as a pax tar stream on
// stdout (docs/adr/0022-vm-cp-wire-format.md). The tree is walked with
// openat/fstatat relative to each directory's fd, never following a symlink
// inside it; libarchive supplies only the tar format writer. Memory: one
// 64 KiB buffer, one open fd per directory level, the names of one directory
// at a time, and the first name of each multiply linked file.
//
// Where this differs from the letter of the cp contract (nearest thing done):
// - the writer is libarchive's full `pax` format, not `pax_restricted`: the
//   restricted writer stores an mtime's nanoseconds only in entries that need
//   a pax header for another reason, and the contract wants ns mtimes. Entries
//   are still plain ustar unless they need a pax header (ns mtime, long or
//   non-ASCII name, big size or id).
// - directory entries are named with a trailing '/' ("NAME/", "./" for PATH
//   "/"): libarchive's writer always adds it (the tar convention); readers
//   strip it.
// - non-ASCII names are written as raw bytes with pax `hdrcharset=BINARY`
//   (the agent runs in the C locale); libarchive reads them back byte for
//   byte, GNU tar too (after a warning about the keyword).
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/unique_fd.h"
#include "cp.h"
#include "cp_common.h"

namespace banger::agent::cp {
namespace {

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryDeleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};
using EntryPtr = std::unique_ptr<archive_entry, EntryDeleter>;

class Out {
 public:
  explicit Out(int out_fd) : out_fd_(out_fd), buf_(kBufSize) {}

  Error Run(const std::string& path, bool follow);

 private:
  static la_ssize_t WriteCb(archive* /*a*/, void* client, const void* buf, size_t n) {
    auto* self = static_cast<Out*>(client);
    if (!WriteAll(self->out_fd_, buf, n)) {
      self->write_errno_ = errno;
      return -1;
    }
    self->sha_.Update(buf, n);
    self->bytes_ += n;
    return static_cast<la_ssize_t>(n);
  }

  Error ArchiveError(const std::string& guest) {
    if (write_errno_ != 0) return ErrnoError("write to stdout", write_errno_);
    const char* msg = archive_error_string(a_.get());
    return MakeError("io", guest + ": " + (msg != nullptr ? msg : "tar writer failed"));
  }

  EntryPtr Header(const std::string& tarname, const struct stat& st, mode_t type) {
    EntryPtr e(archive_entry_new());
    archive_entry_copy_pathname(e.get(), tarname.c_str());
    archive_entry_set_filetype(e.get(), type);
    archive_entry_set_perm(e.get(), st.st_mode & 07777);
    archive_entry_set_uid(e.get(), st.st_uid);
    archive_entry_set_gid(e.get(), st.st_gid);
    archive_entry_set_mtime(e.get(), st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    archive_entry_set_size(e.get(), 0);
    return e;
  }

  Error WriteHeader(archive_entry* e, const std::string& guest) {
    if (archive_write_header(a_.get(), e) < ARCHIVE_WARN) return ArchiveError(guest);
    return {};
  }

  Error Emit(int dirfd, const char* name, const std::string& guest, const std::string& tarname, bool follow,
             bool top);
  Error EmitDir(int fd, const struct stat& st, const std::string& guest, const std::string& tarname);
  Error EmitFile(int fd, const struct stat& st, const std::string& guest, const std::string& tarname);
  Error EmitLink(int dirfd, const char* name, const struct stat& st, const std::string& guest,
                 const std::string& tarname);

  int out_fd_;
  std::unique_ptr<archive, ArchiveDeleter> a_;
  Sha256 sha_;
  uint64_t bytes_ = 0;
  int write_errno_ = 0;
  uint64_t skipped_ = 0;
  std::string changed_;  // the first file that changed while being read
  std::map<std::pair<dev_t, ino_t>, std::string> links_;
  std::vector<char> buf_;
};

Error Out::Emit(int dirfd, const char* name, const std::string& guest, const std::string& tarname,
                bool follow, bool top) {
  struct stat st = {};
  if (fstatat(dirfd, name, &st, follow ? 0 : AT_SYMLINK_NOFOLLOW) != 0) {
    // A child removed while the walk runs is simply not there any more.
    if (errno == ENOENT && !top) return {};
    return ErrnoError(guest, errno);
  }
  int nofollow = follow ? 0 : O_NOFOLLOW;
  if (S_ISDIR(st.st_mode)) {
    UniqueFd fd(openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | nofollow));
    if (!fd.valid()) {
      if (errno == ENOENT && !top) return {};
      return ErrnoError(guest, errno);
    }
    if (fstat(fd.get(), &st) != 0) return ErrnoError(guest, errno);
    return EmitDir(fd.get(), st, guest, tarname);
  }
  if (S_ISREG(st.st_mode)) {
    // O_NONBLOCK: a fifo swapped in since fstatat must not block the open.
    UniqueFd fd(openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | nofollow));
    if (!fd.valid()) {
      if (errno == ENOENT && !top) return {};
      return ErrnoError(guest, errno);
    }
    if (fstat(fd.get(), &st) != 0) return ErrnoError(guest, errno);
    if (!S_ISREG(st.st_mode)) {
      ++skipped_;
      return {};
    }
    return EmitFile(fd.get(), st, guest, tarname);
  }
  if (S_ISLNK(st.st_mode)) return EmitLink(dirfd, name, st, guest, tarname);
  ++skipped_;  // sockets, fifos, devices
  return {};
}

Error Out::EmitDir(int fd, const struct stat& st, const std::string& guest, const std::string& tarname) {
  EntryPtr e = Header(tarname, st, AE_IFDIR);
  if (Error err = WriteHeader(e.get(), guest); err.failed()) return err;
  // The names of this one directory, sorted: a stable order for the stream.
  std::vector<std::string> names;
  if (Error err = ForEachName(fd, guest, [&names](const char* n) { names.emplace_back(n); }); err.failed()) {
    return err;
  }
  std::sort(names.begin(), names.end());
  std::string guest_prefix = guest == "/" ? "/" : guest + "/";
  for (const std::string& n : names) {
    if (Error err = Emit(fd, n.c_str(), guest_prefix + n, tarname + "/" + n, false, false); err.failed()) {
      return err;
    }
    if (!changed_.empty()) return {};
  }
  return {};
}

Error Out::EmitFile(int fd, const struct stat& st, const std::string& guest, const std::string& tarname) {
  EntryPtr e = Header(tarname, st, AE_IFREG);
  if (st.st_nlink > 1) {
    auto key = std::make_pair(st.st_dev, st.st_ino);
    auto it = links_.find(key);
    if (it != links_.end()) {
      archive_entry_set_hardlink(e.get(), it->second.c_str());
      return WriteHeader(e.get(), guest);
    }
    links_.emplace(key, tarname);
  }
  archive_entry_set_size(e.get(), st.st_size);
  if (Error err = WriteHeader(e.get(), guest); err.failed()) return err;
  auto remaining = static_cast<uint64_t>(st.st_size);
  while (remaining > 0) {
    size_t want = std::min<uint64_t>(remaining, buf_.size());
    ssize_t n = read(fd, buf_.data(), want);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(guest, errno);
    }
    if (n == 0) break;  // shrank: finish_entry pads the entry with zeros
    if (archive_write_data(a_.get(), buf_.data(), static_cast<size_t>(n)) < 0) return ArchiveError(guest);
    remaining -= static_cast<uint64_t>(n);
  }
  bool grew = false;
  if (remaining == 0) {
    char extra = 0;
    ssize_t n = read(fd, &extra, 1);
    grew = n > 0;
  }
  if ((remaining > 0 || grew) && changed_.empty()) changed_ = guest;
  if (archive_write_finish_entry(a_.get()) < ARCHIVE_WARN) return ArchiveError(guest);
  return {};
}

Error Out::EmitLink(int dirfd, const char* name, const struct stat& st, const std::string& guest,
                    const std::string& tarname) {
  std::vector<char> target(static_cast<size_t>(std::max<off_t>(st.st_size, 255)) + 2);
  ssize_t n = readlinkat(dirfd, name, target.data(), target.size() - 1);
  if (n < 0) return ErrnoError(guest, errno);
  if (static_cast<size_t>(n) >= target.size() - 1)
    return MakeError("io", guest + " changed while being read");
  target[static_cast<size_t>(n)] = '\0';
  EntryPtr e = Header(tarname, st, AE_IFLNK);
  archive_entry_copy_symlink(e.get(), target.data());
  return WriteHeader(e.get(), guest);
}

Error Out::Run(const std::string& path, bool follow) {
  a_.reset(archive_write_new());
  if (!a_ || archive_write_set_format_pax(a_.get()) != ARCHIVE_OK ||
      archive_write_add_filter_none(a_.get()) != ARCHIVE_OK ||
      archive_write_open(a_.get(), this, nullptr, &Out::WriteCb, nullptr) != ARCHIVE_OK) {
    return ArchiveError(path);
  }
  std::string tarname = path == "/" ? "." : BaseName(path);
  Error err = Emit(AT_FDCWD, path.c_str(), path, tarname, follow, true);
  if (err.failed()) return err;
  if (archive_write_close(a_.get()) != ARCHIVE_OK) return ArchiveError(path);
  if (!changed_.empty()) return MakeError("io", changed_ + " changed while being read");
  if (skipped_ > 0) {
    fprintf(stderr, "banger-cp skipped %llu special files (sockets, fifos, devices)\n",
            static_cast<unsigned long long>(skipped_));
  }
  auto digest = sha_.Digest();
  fprintf(stderr, "banger-cp ok sha256=%s bytes=%llu\n", Hex(digest.data(), digest.size()).c_str(),
          static_cast<unsigned long long>(bytes_));
  return {};
}

}  // namespace

int RunCpOut(int argc, char** argv) {
  bool follow = false;
  std::string path;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--follow-links" || arg == "-L") {
      follow = true;
    } else if (path.empty() && !arg.empty() && arg[0] == '/') {
      path = arg;
    } else {
      fprintf(stderr, "usage: banger-agent cp-out [--follow-links] /ABSOLUTE/PATH\n");
      return 2;
    }
  }
  if (path.empty()) {
    fprintf(stderr, "usage: banger-agent cp-out [--follow-links] /ABSOLUTE/PATH\n");
    return 2;
  }
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  signal(SIGPIPE, SIG_IGN);  // a closed stdout is an EPIPE error, not a silent death
  Out out(STDOUT_FILENO);
  Error err = out.Run(path, follow);
  return err.failed() ? Report(err) : 0;
}

}  // namespace banger::agent::cp

#include "storage/file_clone.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "base/unique_fd.h"

namespace banger {
namespace {

constexpr size_t kCopyChunk = 1 << 20;

// Copies [off, end) of `in` to the same offsets of `out`.
Status CopyRange(int in, int out, off_t off, off_t end, std::vector<char>& buf, const std::string& to) {
  while (off < end) {
    size_t want = static_cast<size_t>(std::min<off_t>(end - off, static_cast<off_t>(buf.size())));
    ssize_t n = ::pread(in, buf.data(), want, off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::FromErrno("reading for " + to);
    if (n == 0) break;  // the source shrank meanwhile; the copy keeps its size
    size_t done = 0;
    while (done < static_cast<size_t>(n)) {
      ssize_t w =
          ::pwrite(out, buf.data() + done, static_cast<size_t>(n) - done, off + static_cast<off_t>(done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return Error::FromErrno("writing " + to);
      done += static_cast<size_t>(w);
    }
    off += n;
  }
  return OkStatus();
}

Status SparseCopy(int in, int out, off_t size, const std::string& to) {
  if (::ftruncate(out, size) != 0) return Error::FromErrno("sizing " + to);
  std::vector<char> buf(kCopyChunk);
  off_t pos = 0;
  while (pos < size) {
    off_t data = ::lseek(in, pos, SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) break;  // only a hole is left
      if (errno == EINVAL || errno == EOPNOTSUPP) return CopyRange(in, out, pos, size, buf, to);
      return Error::FromErrno("seeking data for " + to);
    }
    off_t hole = ::lseek(in, data, SEEK_HOLE);
    if (hole < 0) hole = size;
    BANGER_RETURN_IF_ERROR(CopyRange(in, out, data, std::min(hole, size), buf, to));
    pos = hole;
  }
  return OkStatus();
}

}  // namespace

Result<CloneResult> CloneOrSparseCopy(const std::string& from, const std::string& to) {
  UniqueFd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in.valid()) return Error::FromErrno("opening " + from);
  struct stat st {};
  if (::fstat(in.get(), &st) != 0) return Error::FromErrno("stat " + from);
  UniqueFd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!out.valid()) return Error::FromErrno("creating " + to);
  CloneResult r;
  r.size_bytes = st.st_size;
  Status copied = OkStatus();
  if (::ioctl(out.get(), FICLONE, in.get()) == 0) {
    r.reflinked = true;
  } else {
    copied = SparseCopy(in.get(), out.get(), st.st_size, to);
  }
  if (copied.ok() && ::fsync(out.get()) != 0) copied = Error::FromErrno("syncing " + to);
  if (!copied.ok()) {
    (void)::unlink(to.c_str());
    return std::move(copied).error().Wrap("copying " + from);
  }
  return r;
}

Status CloneLike(const std::string& from, const std::string& to, const std::string& like) {
  BANGER_RETURN_IF_ERROR(CloneOrSparseCopy(from, to));
  struct stat st {};
  if (::stat(like.c_str(), &st) != 0) return OkStatus();
  if (::chown(to.c_str(), st.st_uid, st.st_gid) != 0 || ::chmod(to.c_str(), st.st_mode & 07777) != 0) {
    Status err = Error::FromErrno("giving " + to + " the owner of " + like);
    ::unlink(to.c_str());
    return err;
  }
  return OkStatus();
}

}  // namespace banger

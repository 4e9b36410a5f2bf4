#include "storage/disk.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/process.h"
#include "base/unique_fd.h"
#include "model/types.h"

namespace banger {
namespace {

namespace impl {

class RealDiskOps final : public DiskOps {
 public:
  explicit RealDiskOps(std::optional<Credentials> tools_user = std::nullopt)
      : tools_user_(std::move(tools_user)) {}

  Status CreateExt4(const std::string& path, int64_t size_bytes, const std::string& label) override {
    BANGER_RETURN_IF_ERROR(CreateSparseFile(path, size_bytes));
    // Lazy init keeps a fresh disk at a few hundred KiB of real space.
    auto r = RunChecked(
        {"mkfs.ext4", "-q", "-F", "-L", label, "-E", "lazy_itable_init=1,lazy_journal_init=1", path});
    if (!r.ok()) {
      RemoveFile(path).ok();
      return std::move(r).error().Wrap("formatting " + path);
    }
    return OkStatus();
  }

  Status CreateFromSeed(const std::string& seed, const std::string& path, int64_t size_bytes) override {
    if (PathExists(path)) return Error::Conflict(path + " already exists");
    if (SizeOf(seed) > size_bytes) {
      return Error::Invalid("work disk size " + FormatSizeBytes(size_bytes) +
                            " is smaller than the image's work seed (" + FormatSizeBytes(SizeOf(seed)) + ")");
    }
    std::string tmp = path + ".tmp";
    RemoveFile(tmp).ok();
    auto cp = RunChecked({"cp", "--sparse=always", "--", seed, tmp});
    if (!cp.ok()) return std::move(cp).error().Wrap("copying work seed " + seed);
    if (auto st = GrowExt4(tmp, size_bytes); !st.ok()) {
      RemoveFile(tmp).ok();
      return st;
    }
    if (Status st = RenameDurable(tmp, path); !st.ok()) {
      RemoveFile(tmp).ok();
      return st;
    }
    return OkStatus();
  }

  Status GrowExt4(const std::string& path, int64_t size_bytes) override {
    int64_t cur = SizeOf(path);
    if (size_bytes < cur) {
      return Error::Invalid("shrinking a disk is not supported (" + FormatSizeBytes(cur) + " -> " +
                            FormatSizeBytes(size_bytes) + ")");
    }
    if (size_bytes == cur) return OkStatus();
    if (::truncate(path.c_str(), size_bytes) != 0) return Error::FromErrno("grow " + path);
    // The tools reach the disk through a descriptor we hold (/dev/fd/N), so
    // the unprivileged user needs no access to the directories above it.
    RunOptions ro;
    UniqueFd disk;
    std::string target = path;
    if (tools_user_) {
      disk = UniqueFd(::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
      if (!disk.valid()) return Error::FromErrno("open " + path);
      if (::fchown(disk.get(), tools_user_->uid, tools_user_->gid) != 0) {
        return Error::FromErrno("giving " + path + " to the vmm user");
      }
      ro.run_as = tools_user_;
      ro.keep_fds = {disk.get()};
      target = "/dev/fd/" + std::to_string(disk.get());
    }
    // resize2fs insists on a freshly checked filesystem when offline.
    auto fsck = RunCommand({"e2fsck", "-f", "-p", target}, ro);
    if (!fsck.ok()) return std::move(fsck).error().Wrap("checking " + path);
    if (fsck->exit_code > 1) {
      return Error::Internal("e2fsck " + path + " failed (exit " + std::to_string(fsck->exit_code) + ")");
    }
    auto rs = RunChecked({"resize2fs", target}, ro);
    if (!rs.ok()) return std::move(rs).error().Wrap("resizing " + path);
    return OkStatus();
  }

  int64_t SizeOf(const std::string& path) override {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return 0;
    return static_cast<int64_t>(st.st_size);
  }

 private:
  const std::optional<Credentials> tools_user_;
};

}  // namespace impl
}  // namespace

Status CreateSparseFile(const std::string& path, int64_t size_bytes) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.valid()) return Error::FromErrno("create " + path);
  if (::ftruncate(fd.get(), size_bytes) != 0) {
    Error e = Error::FromErrno("size " + path);
    RemoveFile(path).ok();
    return e;
  }
  return OkStatus();
}

std::unique_ptr<DiskOps> MakeRealDiskOps(std::optional<Credentials> tools_user) {
  return std::make_unique<impl::RealDiskOps>(std::move(tools_user));
}

DiskOps& RealDiskOps() {
  static impl::RealDiskOps d;
  return d;
}

}  // namespace banger

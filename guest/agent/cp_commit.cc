// cp-in's commit step and the tree helpers (cp_in_internal.h).
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "cp_in_internal.h"

namespace banger::agent::cp {
namespace {

constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

// The names in a directory (without . and ..).
Error ListNames(int fd, const std::string& guest, std::vector<std::string>* names) {
  return ForEachName(fd, guest, [names](const char* n) { names->emplace_back(n); });
}

std::string Join(const std::string& a, const std::string& b) { return a.empty() ? b : a + "/" + b; }

// A planned rename: the relative path, the same under the stage and dest.
struct Planner {
  dev_t stage_dev = 0;
  std::string dest_guest;
  std::vector<std::string> plan;

  Error Dir(int stage_fd, int target_fd, const std::string& rel) {
    std::vector<std::string> names;
    if (Error err = ListNames(stage_fd, dest_guest, &names); err.failed()) return err;
    for (const std::string& name : names) {
      std::string child = Join(rel, name);
      std::string guest = dest_guest + "/" + child;
      struct stat sst = {};
      struct stat tst = {};
      if (fstatat(stage_fd, name.c_str(), &sst, AT_SYMLINK_NOFOLLOW) != 0) return ErrnoError(guest, errno);
      if (fstatat(target_fd, name.c_str(), &tst, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno != ENOENT) return ErrnoError(guest, errno);
        plan.push_back(child);
        continue;
      }
      if (!S_ISDIR(sst.st_mode)) {
        if (S_ISDIR(tst.st_mode)) {
          return MakeError("exists", guest + ": cannot replace a directory with a non-directory");
        }
        plan.push_back(child);
        continue;
      }
      if (S_ISLNK(tst.st_mode)) return MakeError("invalid", guest + ": the path goes through a symlink");
      if (!S_ISDIR(tst.st_mode)) {
        return MakeError("exists", guest + ": cannot replace a non-directory with a directory");
      }
      if (tst.st_dev != stage_dev) {
        return MakeError("io", guest + ": is a mount point (copy into it directly)");
      }
      UniqueFd sub_stage(openat(stage_fd, name.c_str(), kDirFlags));
      if (!sub_stage.valid()) return ErrnoError(guest, errno);
      UniqueFd sub_target(openat(target_fd, name.c_str(), kDirFlags));
      if (!sub_target.valid()) return ErrnoError(guest, errno);
      if (Error err = Dir(sub_stage.get(), sub_target.get(), child); err.failed()) return err;
    }
    return {};
  }
};

}  // namespace

Error SplitName(std::string_view name, std::vector<std::string>* comps) {
  comps->clear();
  if (!name.empty() && name[0] == '/') {
    return MakeError("invalid", "tar entry " + std::string(name) + ": absolute names are refused");
  }
  size_t start = 0;
  while (start <= name.size()) {
    size_t slash = name.find('/', start);
    if (slash == std::string_view::npos) slash = name.size();
    std::string_view c = name.substr(start, slash - start);
    if (c == "..") return MakeError("invalid", "tar entry " + std::string(name) + ": '..' is refused");
    if (!c.empty() && c != ".") comps->emplace_back(c);
    start = slash + 1;
  }
  return {};
}

Error OpenDirBeneath(int root, const std::vector<std::string>& comps, size_t n, const WalkOptions& opts,
                     const std::string& guest, UniqueFd* out) {
  UniqueFd cur(fcntl(root, F_DUPFD_CLOEXEC, 0));
  if (!cur.valid()) return ErrnoError(guest, errno);
  for (size_t i = 0; i < n; ++i) {
    const char* c = comps[i].c_str();
    UniqueFd next(openat(cur.get(), c, kDirFlags));
    if (!next.valid() && errno == ENOENT && opts.create) {
      if (mkdirat(cur.get(), c, 0755) != 0) return ErrnoError(guest, errno);
      next.Reset(openat(cur.get(), c, kDirFlags));
      if (next.valid() && opts.chown && fchown(next.get(), opts.uid, opts.gid) != 0) {
        return ErrnoError(guest, errno);
      }
    }
    if (!next.valid()) {
      int err = errno;
      struct stat st = {};
      if ((err == ENOTDIR || err == ELOOP) && fstatat(cur.get(), c, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        return MakeError("invalid", guest + ": " +
                                        (S_ISLNK(st.st_mode) ? "the path goes through a symlink"
                                                             : "a parent is not a directory"));
      }
      if (err == ENOENT && !opts.create) return MakeError("invalid", guest + ": no such entry in the tar");
      return ErrnoError(guest, err);
    }
    cur = std::move(next);
  }
  *out = std::move(cur);
  return {};
}

Error CommitStaged(int dest, int stage, const std::string& dest_guest) {
  struct stat st = {};
  if (fstat(stage, &st) != 0) return ErrnoError(dest_guest, errno);
  Planner p{.stage_dev = st.st_dev, .dest_guest = dest_guest};
  if (Error err = p.Dir(stage, dest, ""); err.failed()) return err;
  // The renames, grouped by directory (the walk is depth-first): the parent
  // fds are reopened only when the directory changes.
  std::string parent_rel = "\x01";  // matches no real parent
  UniqueFd stage_parent;
  UniqueFd dest_parent;
  std::vector<std::string> comps;
  for (const std::string& rel : p.plan) {
    std::string guest = dest_guest + "/" + rel;
    size_t slash = rel.rfind('/');
    std::string parent = slash == std::string::npos ? "" : rel.substr(0, slash);
    std::string leaf = slash == std::string::npos ? rel : rel.substr(slash + 1);
    if (parent != parent_rel) {
      if (Error err = SplitName(parent, &comps); err.failed()) return err;
      if (Error err = OpenDirBeneath(stage, comps, comps.size(), {}, guest, &stage_parent); err.failed()) {
        return err;
      }
      if (Error err = OpenDirBeneath(dest, comps, comps.size(), {}, guest, &dest_parent); err.failed()) {
        return err;
      }
      parent_rel = parent;
    }
    if (renameat(stage_parent.get(), leaf.c_str(), dest_parent.get(), leaf.c_str()) != 0) {
      return ErrnoError(guest + " (commit interrupted: earlier entries are in place)", errno);
    }
  }
  return {};
}

Error RemoveTree(int dirfd, const std::string& name) {
  struct stat st = {};
  if (fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return errno == ENOENT ? Error{} : ErrnoError(name, errno);
  }
  if (S_ISDIR(st.st_mode)) {
    UniqueFd fd(openat(dirfd, name.c_str(), kDirFlags));
    if (!fd.valid()) return ErrnoError(name, errno);
    (void)fchmod(fd.get(), 0700);  // a staged read-only directory must still empty out
    std::vector<std::string> names;
    if (Error err = ListNames(fd.get(), name, &names); err.failed()) return err;
    for (const std::string& n : names) {
      if (Error err = RemoveTree(fd.get(), n); err.failed()) return err;
    }
    if (unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0) return ErrnoError(name, errno);
    return {};
  }
  if (unlinkat(dirfd, name.c_str(), 0) != 0 && errno != ENOENT) return ErrnoError(name, errno);
  return {};
}

}  // namespace banger::agent::cp

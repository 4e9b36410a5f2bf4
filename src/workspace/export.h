// Workspace export, host side: the guest's changes to a prepared workspace
// become commits in the host repository, built with git plumbing only (a
// temporary index, write-tree, commit-tree, update-ref), so the host's
// working tree, index and HEAD are never touched (docs/adr/0021).
//
// What comes from the guest (see GuestExportScripts in the daemon):
//  - a git bundle of the guest's commits since the prepared base (only when
//    the guest has git and committed something),
//  - a tar of the guest's work tree without .git (busybox tar is enough).
// Git runs as the repository's owner (the daemon may be root, the objects it
// writes must stay the user's), with argv only, `core.fsmonitor` off and no
// hooks. Guest data is untrusted: the tar is unpacked without "..",
// absolute paths, writing through symlinks, devices or sparse files, and
// anything under a ".git" directory is dropped.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "base/process.h"
#include "base/result.h"

namespace banger {

// A new directory in an existing `parent` whose mode is left alone (unlike
// TempDir::Create, which makes the parent 0700: wrong for /var/tmp), removed
// with its contents on destruction.
class ScratchDir {
 public:
  static Result<ScratchDir> Create(const std::string& parent, const std::string& prefix);
  ScratchDir(ScratchDir&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
  ScratchDir& operator=(ScratchDir&&) = delete;
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir();
  const std::string& path() const { return path_; }

 private:
  explicit ScratchDir(std::string p) : path_(std::move(p)) {}
  std::string path_;
};

// Who runs git on a repository.
struct GitUser {
  std::optional<Credentials> run_as;  // set when we are root and the owner is not
  std::string home;                   // the owner's home ("" = leave HOME alone)
};

// The owner of `repo_root` (a directory).
Result<GitUser> RepoOwner(const std::string& repo_root);

struct ExtractStats {
  int64_t files = 0;
  int64_t bytes = 0;  // file contents
};

// Unpacks the tar at `tar_path` (from the guest) into `dest` (an existing
// empty directory), as the caller (root in the daemon: the repository's
// owner must not be able to swap a path under it meanwhile), readable by
// all (0644 or 0755 files, 0755 directories; git keeps only the x bit).
// Refuses more than `max_bytes` of contents. An empty file is an empty tree.
Result<ExtractStats> ExtractGuestTree(const std::string& tar_path, const std::string& dest,
                                      int64_t max_bytes);

// Stores the objects of the bundle at `bundle` in the repository (fsck'ed;
// no ref, not FETCH_HEAD, changes) and returns the commit its HEAD names.
Result<std::string> FetchBundle(const std::string& repo_root, const std::string& bundle, const GitUser& who);

// Whether `commit` names a commit the repository has.
bool HasCommit(const std::string& repo_root, const std::string& commit, const GitUser& who);

// A commit whose tree is `tree_dir` (as `git add -A` sees it: the
// repository's ignore rules apply) and whose parent is `parent`, built in a
// temporary index at `index_path`; `parent` itself when the trees are equal.
Result<std::string> CommitWorkTree(const std::string& repo_root, const std::string& parent,
                                   const std::string& tree_dir, const std::string& index_path,
                                   const std::string& message, const GitUser& who);

// Commits in base..tip.
Result<int64_t> CountCommits(const std::string& repo_root, const std::string& base, const std::string& tip,
                             const GitUser& who);

// Whether refs/heads/`branch` exists.
bool BranchExists(const std::string& repo_root, const std::string& branch, const GitUser& who);

// Creates refs/heads/`branch` at `commit`. An existing branch is a
// kConflict unless `force`; the checked-out branch is never moved.
Status CreateBranch(const std::string& repo_root, const std::string& branch, const std::string& commit,
                    bool force, const GitUser& who);

}  // namespace banger

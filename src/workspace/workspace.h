// Workspaces: a git repository on the host, packed for a guest.
//
// What goes into the guest directory, by mode (the seed's WorkspacePrepareMode):
//  - shallow_overlay (default): a depth-1 clone of HEAD's commit as .git, and
//    the working tree as it is now (tracked files with their uncommitted
//    changes, untracked files that are not ignored; deleted files stay away).
//    In the guest `git status` shows the host's uncommitted changes.
//  - full_copy: the same working tree, with the whole history in .git.
//  - metadata_only: only the depth-1 .git (no working tree files).
// In every mode the index matches HEAD (staged-but-uncommitted is not kept),
// `origin` is the host repository's origin URL (or absent), ignored files
// (.gitignore) are left out, and `branch` (if given) is created at HEAD and
// checked out. Git runs on the host with argv only, `-c safe.directory=*`
// (the daemon is root, the repository is the user's) and `core.fsmonitor`
// off (a repository's config must not run commands as root).
//
// The guest needs only `sh` and `tar` (busybox has both): Pack writes a tar
// stream that the guest unpacks (GuestUnpackArgv).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "model/types.h"

namespace banger {

struct RepoInfo {
  std::string root;            // absolute path of the work tree's top level
  std::string name;            // basename of root
  std::string head_commit;     // 40 hex
  std::string current_branch;  // "" when HEAD is detached
  std::string origin_url;      // "" when there is no origin remote
};

// `path` (absolute, existing) inside a git work tree with at least one commit.
Result<RepoInfo> InspectRepo(const std::string& path);

// A branch name git accepts (git check-ref-format --branch).
Status ValidateBranchName(const std::string& branch);

// A guest directory for a workspace: absolute, normalised (no ".", "..",
// "//", trailing '/'), at least two levels deep, not under /proc, /sys or
// /dev, printable characters only.
Status ValidateGuestPath(const std::string& path);

// Builds the .git to ship into `staging` (an empty directory): see the modes.
Status StageGitDir(const RepoInfo& repo, WorkspacePrepareMode mode, const std::string& branch,
                   const std::string& staging);

// The working tree files to ship (relative paths): tracked and untracked,
// not ignored, that exist now. Empty for metadata_only.
Result<std::vector<std::string>> WorkTreeFiles(const RepoInfo& repo, WorkspacePrepareMode mode);

struct PackStats {
  int64_t files = 0;
  int64_t bytes = 0;  // file contents written
};

// Writes a tar stream (pax) of `staging`'s .git as ".git/..." and of `files`
// read from repo.root, calling `sink` with each chunk. `progress` is called
// now and then with the running totals. Stops at the first failing sink call.
Result<PackStats> Pack(const RepoInfo& repo, const std::string& staging,
                       const std::vector<std::string>& files,
                       const std::function<Status(std::string_view)>& sink,
                       const std::function<void(const PackStats&)>& progress);

// The guest command that unpacks the stream from stdin into `guest_path`:
// into a side directory first, then swapped in (an interrupted copy leaves the
// previous contents); with `readonly`, files lose their write bits and the
// directory is bind-mounted read-only (until the guest restarts).
std::vector<std::string> GuestUnpackArgv(const std::string& guest_path, bool readonly);

}  // namespace banger

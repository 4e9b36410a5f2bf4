// cp-in's pieces shared by cp_in.cc (frames, extraction into the staging
// directory) and cp_commit.cc (the commit into DEST, tree removal).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/unique_fd.h"
#include "cp_common.h"

namespace banger::agent::cp {

// Splits a relative tar name into its components, dropping "." and empty
// ones. An absolute name or a ".." component is an error (invalid).
Error SplitName(std::string_view name, std::vector<std::string>* comps);

// Opens the directory root/comps[0]/.../comps[n-1] without following any
// symlink; with `create`, missing components are made (mode 0755, and
// owned by chown_uid:chown_gid when chown is set). `guest` names the path
// in errors. A component that is a symlink or not a directory -> invalid.
struct WalkOptions {
  bool create = false;
  bool chown = false;
  // --chown keep: each entry keeps the archive's owner and its whole mode
  // (setuid/setgid included), as a container's root filesystem needs.
  bool keep = false;
  uid_t uid = 0;
  gid_t gid = 0;
};
Error OpenDirBeneath(int root, const std::vector<std::string>& comps, size_t n, const WalkOptions& opts,
                     const std::string& guest, UniqueFd* out);

// cp-in reading the framed stream from in_fd into the directory dest_path;
// on success *ok_line is the `banger-cp ok ...` line (without newline).
Error CpInFromFd(int in_fd, const std::string& dest_path, const WalkOptions& own, std::string* ok_line);

// Moves every staged entry of `stage` (a directory in `dest`) to the same
// name under `dest`: a name missing there is renamed as a whole; a directory
// that exists at the target is merged into (its own metadata is kept); a
// file or symlink replaces a file or symlink. Every conflict (a directory
// against a non-directory, a symlink in the way, another file system) is
// found before the first rename, so a refused commit changes nothing.
Error CommitStaged(int dest, int stage, const std::string& dest_guest);

// rm -rf of dirfd/name, never following a symlink.
Error RemoveTree(int dirfd, const std::string& name);

}  // namespace banger::agent::cp

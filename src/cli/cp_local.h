// The host half of `banger vm cp` (docs/cli.md), apart from the daemon:
// parsing SRC/DST, docker cp's path rules, the host tree as a tar stream
// (archive_read_disk, read as the calling user) and a guest tar extracted
// securely into a staging directory next to the target, moved into place
// only once the whole stream checked out.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace banger {

struct CpEndpoint {
  bool vm = false;     // VM:PATH
  bool stdio = false;  // "-"
  std::string vm_ref;
  std::string path;
};

// "-", "NAME:PATH" (NAME a VM name or id, PATH absolute in the guest), or a
// host path (write "./a:b" for a host file with a colon).
Result<CpEndpoint> ParseCpEndpoint(const std::string& arg);
// Exactly one side in a VM; "-" only on the host side.
Status CheckCpPair(const CpEndpoint& src, const CpEndpoint& dst);
// docker's "SRC/." : the directory's contents rather than the directory.
bool IsContentsPath(const std::string& path);
// The path without a trailing "/." or "/" (but "/" stays "/").
std::string TrimCpPath(const std::string& path);
std::string CpBaseName(const std::string& path);
std::string CpDirName(const std::string& path);

// What a VM-bound copy sends: the guest directory to extract into and the
// name the source's top entry gets there ("" = the source's contents go
// straight into the directory).
struct CpInPlan {
  std::string guest_dir;
  std::string top_name;
};
// docker's rules for host SRC -> guest DST. `dst_type` is the guest's stat
// type of DST ("dir", "file", ...) or nullopt when DST does not exist;
// `src_is_dir` after -L.
Result<CpInPlan> PlanCopyIn(const std::string& src, bool src_is_dir, const std::string& dst,
                            const std::optional<std::string>& dst_type);

// Writes a pax tar of the host path `src` (-L: `follow` the path itself if
// a symlink) to `out` in chunks, its top entry named `top_name` ("" = only
// the contents, each under its own name). Sockets, fifos and devices are
// skipped (counted in *skipped).
Status WriteHostTar(const std::string& src, bool follow, const std::string& top_name,
                    const std::function<Status(std::string_view)>& out, int* skipped = nullptr);

// Pulls a guest tar from `read` (the next bytes; empty = end) and extracts
// it securely under a staging directory next to the host target; Commit
// moves it into place. Destroying it without Commit removes the staging
// directory: the target is as it was.
class StagedExtract {
 public:
  // `dst`: the host DST as given; `src_name`: basename of the guest SRC;
  // `contents`: SRC ended in "/.".
  static Result<std::unique_ptr<StagedExtract>> Begin(const std::string& dst, const std::string& src_name,
                                                      bool contents);
  ~StagedExtract();
  StagedExtract(const StagedExtract&) = delete;
  StagedExtract& operator=(const StagedExtract&) = delete;

  // Extracts the whole stream into staging. `read` returns the next bytes,
  // "" at the end, or an error.
  Status Extract(const std::function<Result<std::string>()>& read);
  // Moves the staged tree into place (merging into an existing directory).
  Status Commit();
  // The final host path of the copied top entry.
  const std::string& final_path() const { return final_; }
  const std::string& staging_dir() const { return staging_; }

 private:
  StagedExtract() = default;
  std::string staging_;  // <parent>/.banger-cp-XXXXXX
  std::string final_;
  bool contents_ = false;
  bool committed_ = false;
};

}  // namespace banger

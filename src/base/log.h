// Logging glue over spdlog. The daemon logs to <home>/bangerd.log (and
// stderr in --foreground); the CLI logs only warnings to stderr.
#pragma once

#include <spdlog/spdlog.h>

#include <cstdint>
#include <string>

#include "base/result.h"

namespace banger {

// How big the log file may grow: when a line would take it past max_bytes,
// <file> becomes <file>.1 (.1 becomes .2, ..., up to max_files old files;
// 0 = none kept, the file is emptied instead).
struct LogFileLimits {
  int64_t max_bytes = 16LL << 20;
  int max_files = 3;
};

// level: trace|debug|info|warn|error. file may be empty (stderr only). The
// file and its rotated copies are mode 0600 whatever the umask, opened
// O_CLOEXEC|O_APPEND (no child process inherits them).
Status InitLogging(const std::string& level, const std::string& file, bool also_stderr,
                   LogFileLimits limits = {});

}  // namespace banger

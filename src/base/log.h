// Logging glue over spdlog. The daemon logs to <home>/bangerd.log (and
// stderr in --foreground); the CLI logs only warnings to stderr.
#pragma once

#include <spdlog/spdlog.h>

#include <string>

#include "base/result.h"

namespace banger {

// level: trace|debug|info|warn|error. file may be empty (stderr only).
Status InitLogging(const std::string& level, const std::string& file, bool also_stderr);

}  // namespace banger

// Wall-clock timestamps as the seed uses them: UTC, whole seconds, RFC 3339
// in JSON and in the store.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "base/result.h"

namespace banger {

using Timestamp = std::chrono::sys_seconds;

// The current UTC time truncated to the second (the seed's model.Now()).
Timestamp Now();
// "2026-11-28T04:03:34Z"; the zero timestamp (epoch) formats as "".
std::string FormatRfc3339(Timestamp t);
// Accepts "" (-> epoch) and "YYYY-MM-DDTHH:MM:SSZ".
Result<Timestamp> ParseRfc3339(const std::string& s);

// Go-style durations as used in config: "90s", "30m", "1h30m", "500ms".
Result<std::chrono::milliseconds> ParseDuration(const std::string& s);
std::string FormatDuration(std::chrono::milliseconds d);

}  // namespace banger

// The console log's time index (vm logs --since): the VM's console log is the
// guest's raw serial output, written by the VMM with no time per line, and
// the guest controls its content, so times are never parsed from it. Instead
// the daemon's upkeep stats the log every second and, when it grew, appends a
// sample (unix time in ms, size in bytes) to console.times beside it: every
// byte at or past a sample's size was written after that sample's time.
//
// The file: fixed 16-byte records (two int64 in host byte order: ms, size),
// appended; a torn last record (a crash mid-write) is ignored on read and cut
// off before the next append. Bounded: at kConsoleTimesMax samples the oldest
// half is dropped (rewritten beside and renamed over). Reset (emptied) when
// the log is rotated to console.log.1 or was replaced by a shorter one.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"

namespace banger {

inline constexpr size_t kConsoleTimesMax = 4096;
inline constexpr const char* kConsoleTimesName = "console.times";

struct ConsoleSample {
  int64_t unix_ms = 0;
  int64_t size = 0;
};

// console.times in the directory of `log_path`.
std::string ConsoleTimesPath(const std::string& log_path);

// The samples in `path`, oldest first; none when it does not exist.
Result<std::vector<ConsoleSample>> ReadConsoleTimes(const std::string& path);

// Records that the log was `size` bytes at `unix_ms`: appends a sample when
// it grew since the last one; empties the index first when it shrank (a new
// log); nothing when unchanged. Keeps at most `max_samples`.
Status RecordConsoleSize(const std::string& path, int64_t unix_ms, int64_t size,
                         size_t max_samples = kConsoleTimesMax);

// Empties the index (the log was rotated: its offsets start again at 0).
Status ResetConsoleTimes(const std::string& path);

// Where to start reading the log so that no byte written after `since_ms` is
// left out: the size of the last sample at or before since_ms (the bytes
// before it were all written by then), or 0 when no sample is that old. At
// most one sample interval (~1 s) of older output is included.
int64_t ConsoleOffsetSince(const std::vector<ConsoleSample>& samples, int64_t since_ms);

}  // namespace banger

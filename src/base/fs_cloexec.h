// The daemon-wide close-on-exec rule for fds it did not open itself.
#pragma once

#include "base/result.h"

namespace banger {

// Marks every fd from `first_fd` up close-on-exec (close_range with
// CLOSE_RANGE_CLOEXEC, else one fcntl per fd listed in /proc/self/fd): for a
// daemon's start, so that fds it inherited (from the CLI that spawned it, a
// shell, a test harness) do not pass on to the VMMs and tools it runs.
Status MarkCloseOnExecFrom(int first_fd);

}  // namespace banger

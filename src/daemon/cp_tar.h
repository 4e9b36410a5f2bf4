// The files API's single files as tar (the agent's cp-in / cp-out speak tar
// only): one regular file wrapped as a one-entry archive, and back. In
// memory: the files API bounds these to a few MiB (docs/api.md).
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"

namespace banger {

// A pax tar holding one regular file `name` (no slash) with `mode`, mtime now.
Result<std::string> SingleFileTar(const std::string& name, const std::string& data, unsigned mode);
// The contents of the first entry of `tar`, which must be a regular file of
// at most `max_bytes`.
Result<std::string> SingleFileFromTar(const std::string& tar, int64_t max_bytes);

}  // namespace banger

// Host accounts: group lookup for the daemon's socket_group.
#pragma once

#include <sys/types.h>

#include <string>

#include "base/result.h"

namespace banger {

// A group by name ("banger") or by number ("1001"). An unknown group is
// kNotFound; a malformed one kInvalid.
Result<gid_t> LookupGroup(const std::string& name_or_gid);

}  // namespace banger

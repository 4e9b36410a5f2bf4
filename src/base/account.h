// Host accounts: group lookup for the daemon's socket_group, user lookup for
// the VMM user (config vmm_user).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "base/result.h"

namespace banger {

// A group by name ("banger") or by number ("1001"). An unknown group is
// kNotFound; a malformed one kInvalid.
Result<gid_t> LookupGroup(const std::string& name_or_gid);

// A user account: its uid, primary gid and supplementary groups.
struct UserAccount {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups (getgrouplist), primary included
};

// A user by name. An unknown user is kNotFound.
Result<UserAccount> LookupUser(const std::string& name);

}  // namespace banger

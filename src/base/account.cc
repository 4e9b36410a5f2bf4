#include "base/account.h"

#include <grp.h>
#include <pwd.h>

#include <cerrno>
#include <charconv>
#include <vector>

namespace banger {

Result<gid_t> LookupGroup(const std::string& s) {
  if (s.empty()) return Error::Invalid("group name is empty");
  bool numeric = s.find_first_not_of("0123456789") == std::string::npos;
  std::vector<char> buf(16384);
  group g{};
  group* out = nullptr;
  int rc;
  if (numeric) {
    unsigned long v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || v > 0xfffffffeUL) {
      return Error::Invalid("group number " + s + " is out of range");
    }
    rc = ::getgrgid_r(static_cast<gid_t>(v), &g, buf.data(), buf.size(), &out);
  } else {
    rc = ::getgrnam_r(s.c_str(), &g, buf.data(), buf.size(), &out);
  }
  if (rc != 0) return Error::FromErrno("looking up group " + s, rc);
  if (out == nullptr) return Error::NotFound("no group named " + s + " on this host (see getent group)");
  return out->gr_gid;
}

Result<UserAccount> LookupUser(const std::string& name) {
  if (name.empty()) return Error::Invalid("user name is empty");
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* out = nullptr;
  int rc = ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &out);
  if (rc != 0) return Error::FromErrno("looking up user " + name, rc);
  if (out == nullptr) return Error::NotFound("no user named " + name + " on this host (see getent passwd)");
  UserAccount a;
  a.name = name;
  a.uid = out->pw_uid;
  a.gid = out->pw_gid;
  int n = 64;
  std::vector<gid_t> groups(static_cast<size_t>(n));
  while (::getgrouplist(name.c_str(), a.gid, groups.data(), &n) < 0) groups.resize(static_cast<size_t>(n));
  groups.resize(static_cast<size_t>(n));
  a.groups = std::move(groups);
  return a;
}

}  // namespace banger

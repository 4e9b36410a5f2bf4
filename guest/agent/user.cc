#include "user.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <unistd.h>

#include <cstdint>
#include <optional>

#include "base/unique_fd.h"

namespace banger::agent {
namespace {

constexpr uint32_t kMaxId = 2147483647;
// An account database larger than this is not read (the guest is not
// trusted to keep it small).
constexpr size_t kMaxFileBytes = 8 << 20;

// A decimal id in 0..kMaxId; nullopt for anything else (signs, blanks).
std::optional<uint32_t> ParseId(std::string_view s) {
  if (s.empty() || s.size() > 10) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > kMaxId) return std::nullopt;
  return static_cast<uint32_t>(v);
}

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

std::vector<std::string_view> SplitFields(std::string_view line, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t end = line.find(sep, start);
    if (end == std::string_view::npos) {
      out.push_back(line.substr(start));
      return out;
    }
    out.push_back(line.substr(start, end - start));
    start = end + 1;
  }
}

// Calls fn(fields) for each line that is neither blank nor a comment.
template <typename Fn>
void ForEachRecord(std::string_view text, Fn&& fn) {
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    fn(SplitFields(line, ':'));
  }
}

std::string ReadSmallFile(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  std::string out;
  if (!fd.valid()) return out;
  char buf[16384];
  for (;;) {
    ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > kMaxFileBytes) return {};
  }
  return out;
}

}  // namespace

std::vector<PasswdEntry> ParsePasswd(std::string_view text) {
  std::vector<PasswdEntry> out;
  ForEachRecord(text, [&](const std::vector<std::string_view>& f) {
    // name:password:uid:gid:gecos:home:shell
    if (f.size() < 4) return;
    auto uid = ParseId(f[2]);
    auto gid = ParseId(f[3]);
    if (!uid || !gid) return;
    PasswdEntry e;
    e.name = std::string(f[0]);
    e.uid = *uid;
    e.gid = *gid;
    if (f.size() > 5) e.home = std::string(f[5]);
    out.push_back(std::move(e));
  });
  return out;
}

std::vector<GroupEntry> ParseGroup(std::string_view text) {
  std::vector<GroupEntry> out;
  ForEachRecord(text, [&](const std::vector<std::string_view>& f) {
    // name:password:gid:member,member
    if (f.size() < 3) return;
    auto gid = ParseId(f[2]);
    if (!gid) return;
    GroupEntry e;
    e.name = std::string(f[0]);
    e.gid = *gid;
    if (f.size() > 3 && !f[3].empty()) {
      for (std::string_view m : SplitFields(f[3], ',')) {
        if (!m.empty()) e.members.emplace_back(m);
      }
    }
    out.push_back(std::move(e));
  });
  return out;
}

bool ResolveUser(std::string_view spec, const std::vector<PasswdEntry>& passwd,
                 const std::vector<GroupEntry>& groups, ResolvedUser* out, std::string* error) {
  const std::string range_error = "uids and gids must be in range 0-" + std::to_string(kMaxId);
  size_t colon = spec.find(':');
  std::string_view user_arg = spec.substr(0, colon);
  std::string_view group_arg = colon == std::string_view::npos ? std::string_view() : spec.substr(colon + 1);
  if (user_arg.empty() || group_arg.find(':') != std::string_view::npos) {
    *error = "invalid user \"" + std::string(spec) + "\": want name, uid, name:group or uid:gid";
    return false;
  }
  ResolvedUser r;
  // Digits only: a uid (then it must be in range), else a name.
  std::optional<uint32_t> uid_arg;
  if (AllDigits(user_arg)) {
    uid_arg = ParseId(user_arg);
    if (!uid_arg) {
      *error = range_error;
      return false;
    }
  }

  // The first matching entry wins, as in runc.
  const PasswdEntry* match = nullptr;
  for (const auto& p : passwd) {
    if (uid_arg ? p.uid == *uid_arg : p.name == user_arg) {
      match = &p;
      break;
    }
  }
  if (match != nullptr) {
    r.uid = match->uid;
    r.gid = match->gid;
    if (!match->home.empty()) r.home = match->home;
  } else if (uid_arg) {
    r.uid = *uid_arg;
  } else {
    *error = "unable to find user " + std::string(user_arg) + ": no matching entries in passwd file";
    return false;
  }

  if (!group_arg.empty()) {
    std::optional<uint32_t> gid_arg;
    if (AllDigits(group_arg)) {
      gid_arg = ParseId(group_arg);
      if (!gid_arg) {
        *error = range_error;
        return false;
      }
    }
    const GroupEntry* g = nullptr;
    for (const auto& e : groups) {
      if (gid_arg ? e.gid == *gid_arg : e.name == group_arg) {
        g = &e;
        break;
      }
    }
    if (g != nullptr) {
      r.gid = g->gid;
    } else if (gid_arg) {
      r.gid = *gid_arg;
    } else {
      *error = "unable to find group " + std::string(group_arg) + ": no matching entries in group file";
      return false;
    }
  } else if (match != nullptr) {
    // Supplementary groups only in the implicit form, by the matched name.
    for (const auto& e : groups) {
      for (const auto& m : e.members) {
        if (m == match->name) {
          r.groups.push_back(e.gid);
          break;
        }
      }
    }
  }
  *out = std::move(r);
  return true;
}

bool ResolveGuestUser(std::string_view spec, ResolvedUser* out, std::string* error, const std::string& root) {
  return ResolveUser(spec, ParsePasswd(ReadSmallFile(root + "/etc/passwd")),
                     ParseGroup(ReadSmallFile(root + "/etc/group")), out, error);
}

bool ApplyUser(const ResolvedUser& user, const char** what) {
  if (setgroups(user.groups.size(), user.groups.empty() ? nullptr : user.groups.data()) != 0) {
    *what = "setgroups";
    return false;
  }
  if (setgid(user.gid) != 0) {
    *what = "setgid";
    return false;
  }
  if (setuid(user.uid) != 0) {
    *what = "setuid";
    return false;
  }
  return true;
}

}  // namespace banger::agent

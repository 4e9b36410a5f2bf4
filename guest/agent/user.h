// Running a command as a user of the guest (OPEN's user field,
// `session-start --user`): the spec is resolved in the guest's own
// /etc/passwd and /etc/group, read and parsed here (the agent is static: no
// NSS), with the rules and the wording of runc/docker (`docker run -u`):
//
//   "name" | "uid"               the user; gid and home from passwd, the
//                                supplementary groups are the groups of
//                                /etc/group that list the name
//   "name:group" | "uid:gid" ... the group named or numbered explicitly
//                                (then no supplementary groups)
//
// A numeric uid (or gid) without an entry is allowed (gid 0, home "/"); a
// name without one is an error: "unable to find user app: no matching
// entries in passwd file". Ids must be in 0..2147483647.
//
// ParseUserSpec, ParsePasswd, ParseGroup and ResolveUser are pure, for unit
// tests; ResolveGuestUser reads the files, ApplyUser runs in a forked child.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

namespace banger::agent {

struct PasswdEntry {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;
};

struct GroupEntry {
  std::string name;
  gid_t gid = 0;
  std::vector<std::string> members;
};

// The well-formed entries of a passwd(5) / group(5) file, in order. Blank
// lines, comments and lines whose ids are not numbers in range are skipped.
std::vector<PasswdEntry> ParsePasswd(std::string_view text);
std::vector<GroupEntry> ParseGroup(std::string_view text);

struct ResolvedUser {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups (setgroups)
  std::string home = "/";     // HOME unless the request sets it
};

// Resolves `spec` (not empty) against the two files' entries. False with
// *error set (one line, docker's wording) when it names nothing.
bool ResolveUser(std::string_view spec, const std::vector<PasswdEntry>& passwd,
                 const std::vector<GroupEntry>& groups, ResolvedUser* out, std::string* error);

// ResolveUser against `root`/etc/passwd and `root`/etc/group (absent files
// have no entries). `root` is "" in the agent, which runs in the guest's root.
bool ResolveGuestUser(std::string_view spec, ResolvedUser* out, std::string* error,
                      const std::string& root = "");

// In a forked child, before exec: setgroups, setgid, setuid. False with
// errno set and *what naming the failed call.
bool ApplyUser(const ResolvedUser& user, const char** what);

}  // namespace banger::agent

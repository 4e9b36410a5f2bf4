// Test-only readers of /proc/<pid> for privilege and jail checks.
#pragma once

#include <sys/types.h>

#include <sstream>
#include <string>

#include "base/fs.h"

namespace banger::testing {

// The value of `key:` in /proc/<pid>/status, "" if absent.
inline std::string StatusField(pid_t pid, const std::string& key) {
  auto text = ReadFile("/proc/" + std::to_string(pid) + "/status");
  if (!text.ok()) return "";
  std::istringstream in(*text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key + ":", 0) == 0) {
      std::string v = line.substr(key.size() + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  }
  return "";
}

// The host directory that is the process's "/": the root field of the
// mount on "/" in /proc/<pid>/mountinfo (the jailer pivots in its own mount
// namespace, so readlink /proc/<pid>/root says only "/").
inline std::string RootDirOf(pid_t pid) {
  auto text = ReadFile("/proc/" + std::to_string(pid) + "/mountinfo");
  if (!text.ok()) return "";
  std::istringstream in(*text);
  for (std::string line; std::getline(in, line);) {
    std::istringstream f(line);
    std::string id, parent, devno, root, mount_point;
    f >> id >> parent >> devno >> root >> mount_point;
    if (mount_point == "/") return root;
  }
  return "";
}

}  // namespace banger::testing

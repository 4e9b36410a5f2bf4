#include "vmm/cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cctype>
#include <set>
#include <sstream>

#include "base/fs.h"
#include "base/unique_fd.h"

namespace banger {
namespace {

constexpr const char* kGroupDir = "banger";
// statfs(2) f_type of cgroup v1 and v2 mounts (linux/magic.h).
constexpr int64_t kCgroupMagic = 0x27e0eb;
constexpr int64_t kCgroup2Magic = 0x63677270;

// mountinfo escapes ' ', '\t', '\n' and '\\' as \ooo.
std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isdigit(static_cast<unsigned char>(s[i + 2])) &&
        std::isdigit(static_cast<unsigned char>(s[i + 3]))) {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep)) out.push_back(cur);
  return out;
}

bool HasToken(const std::string& list, const std::string& token, char sep) {
  for (const auto& t : Split(list, sep)) {
    if (t == token) return true;
  }
  return false;
}

// The daemon's own path in the v1 hierarchy carrying `controller`, from
// /proc/self/cgroup ("3:memory:/a/b"); "" when not found.
std::string OwnV1Path(const std::string& proc_self_cgroup, const std::string& controller) {
  std::istringstream in(proc_self_cgroup);
  std::string line;
  while (std::getline(in, line)) {
    auto a = line.find(':');
    auto b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    if (HasToken(line.substr(a + 1, b - a - 1), controller, ',')) return line.substr(b + 1);
  }
  return "";
}

// The directory under which a v1 hierarchy's banger/ goes: the mount point
// plus the daemon's own group relative to the mount's root.
std::string V1Parent(const std::string& root, const MountInfoEntry& m, const std::string& own) {
  std::string dir = root + m.mount_point;
  std::string rel = own;
  if (m.root != "/") {
    if (rel.compare(0, m.root.size(), m.root) != 0) return dir;
    rel = rel.substr(m.root.size());
  }
  while (!rel.empty() && rel.back() == '/') rel.pop_back();
  if (!rel.empty() && rel.front() != '/') rel = "/" + rel;
  return dir + rel;
}

Status WriteValue(const std::string& path, const std::string& value) {
  // O_CREAT only matters off cgroupfs (tests); cgroupfs files exist or the
  // controller is missing, and then creating one fails.
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) return Error::FromErrno("open " + path);
  if (::write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size())) {
    return Error::FromErrno("write \"" + value + "\" to " + path);
  }
  return OkStatus();
}

bool IsCgroupFs(const std::string& path) {
  struct statfs sf {};
  if (::statfs(path.c_str(), &sf) != 0) return false;
  auto t = static_cast<int64_t>(sf.f_type);
  return t == kCgroupMagic || t == kCgroup2Magic;
}

std::vector<std::string> Entries(const std::string& dir, bool dirs) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    if (IsDirectory(dir + "/" + n) == dirs) out.push_back(n);
  }
  ::closedir(d);
  return out;
}

// v2: the controllers must be on in the parent's subtree_control for the
// child to have their files. Writes only the missing ones.
Status EnableV2Controllers(const std::string& dir) {
  std::string have;
  if (auto cur = ReadFile(dir + "/cgroup.subtree_control"); cur.ok()) have = *cur;
  for (const char* c : {"memory", "pids"}) {
    std::string trimmed = have;
    while (!trimmed.empty() && (trimmed.back() == '\n' || trimmed.back() == ' ')) trimmed.pop_back();
    if (HasToken(trimmed, c, ' ')) continue;
    BANGER_RETURN_IF_ERROR(WriteValue(dir + "/cgroup.subtree_control", std::string("+") + c));
    have += std::string(" ") + c;
  }
  return OkStatus();
}

Status CheckName(const std::string& name) {
  if (name.empty()) return Error::Invalid("cgroup name is empty");
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
      return Error::Invalid("cgroup name \"" + name + "\" may hold only letters, digits, '-' and '_'");
    }
  }
  return OkStatus();
}

}  // namespace

const char* CgroupVersionName(CgroupVersion v) {
  switch (v) {
    case CgroupVersion::kV1:
      return "v1";
    case CgroupVersion::kV2:
      return "v2";
    case CgroupVersion::kNone:
      break;
  }
  return "none";
}

std::vector<MountInfoEntry> ParseMountInfo(const std::string& text) {
  std::vector<MountInfoEntry> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::vector<std::string> f;
    std::string w;
    while (ls >> w) f.push_back(w);
    // id parent maj:min root mount_point options [optional...] - type source super_options
    size_t dash = 0;
    for (size_t i = 6; i < f.size(); ++i) {
      if (f[i] == "-") {
        dash = i;
        break;
      }
    }
    if (dash == 0 || dash + 2 >= f.size()) continue;
    MountInfoEntry e;
    e.root = Unescape(f[3]);
    e.mount_point = Unescape(f[4]);
    e.fs_type = f[dash + 1];
    e.super_options = dash + 3 < f.size() ? f[dash + 3] : "";
    out.push_back(std::move(e));
  }
  return out;
}

CgroupHost DetectCgroupHost(const std::string& root) {
  CgroupHost host;
  auto mountinfo = ReadFile(root + "/proc/self/mountinfo");
  if (!mountinfo.ok()) {
    host.why_none = "cannot read /proc/self/mountinfo: " + mountinfo.error().message();
    return host;
  }
  auto mounts = ParseMountInfo(*mountinfo);
  for (const auto& m : mounts) {
    if (m.fs_type != "cgroup2") continue;
    auto controllers = ReadFile(root + m.mount_point + "/cgroup.controllers");
    if (!controllers.ok()) continue;
    std::string c = *controllers;
    while (!c.empty() && (c.back() == '\n' || c.back() == ' ')) c.pop_back();
    if (HasToken(c, "memory", ' ') && HasToken(c, "pids", ' ')) {
      host.version = CgroupVersion::kV2;
      host.v2_parent = root + m.mount_point;
      return host;
    }
  }
  auto self_read = ReadFile(root + "/proc/self/cgroup");
  std::string self = self_read.ok() ? *self_read : "";
  for (const auto& m : mounts) {
    if (m.fs_type != "cgroup") continue;
    if (host.memory_parent.empty() && HasToken(m.super_options, "memory", ',')) {
      host.memory_parent = V1Parent(root, m, OwnV1Path(self, "memory"));
    }
    if (host.pids_parent.empty() && HasToken(m.super_options, "pids", ',')) {
      host.pids_parent = V1Parent(root, m, OwnV1Path(self, "pids"));
    }
  }
  if (!host.memory_parent.empty() && !host.pids_parent.empty()) {
    host.version = CgroupVersion::kV1;
    return host;
  }
  host.memory_parent.clear();
  host.pids_parent.clear();
  host.why_none = "no cgroup v2 mount offering memory and pids, and no cgroup v1 memory and pids hierarchies";
  return host;
}

std::vector<std::string> VmCgroups::GroupDirs(const std::string& name) const {
  switch (host_.version) {
    case CgroupVersion::kV2:
      return {host_.v2_parent + "/" + kGroupDir + "/" + name};
    case CgroupVersion::kV1:
      return {host_.memory_parent + "/" + kGroupDir + "/" + name,
              host_.pids_parent + "/" + kGroupDir + "/" + name};
    case CgroupVersion::kNone:
      break;
  }
  return {};
}

Result<std::vector<std::string>> VmCgroups::Create(const std::string& name,
                                                   const CgroupLimits& limits) const {
  if (!enabled()) return Error::Unavailable("per-VM cgroups are off: " + host_.why_none);
  BANGER_RETURN_IF_ERROR(CheckName(name));
  const std::string mem = limits.memory_bytes > 0 ? std::to_string(limits.memory_bytes) : "";
  const std::string pids = limits.pids_max > 0 ? std::to_string(limits.pids_max) : "max";
  std::vector<std::string> procs;
  auto context = [&](Status st) { return Annotate(std::move(st), "cgroup banger/" + name); };
  if (host_.version == CgroupVersion::kV2) {
    const std::string base = host_.v2_parent + "/" + kGroupDir;
    BANGER_RETURN_IF_ERROR(context(EnableV2Controllers(host_.v2_parent)));
    BANGER_RETURN_IF_ERROR(context(MakeDirs(base, 0755)));
    BANGER_RETURN_IF_ERROR(context(EnableV2Controllers(base)));
    const std::string dir = base + "/" + name;
    BANGER_RETURN_IF_ERROR(context(MakeDirs(dir, 0755)));
    BANGER_RETURN_IF_ERROR(context(WriteValue(dir + "/memory.max", mem.empty() ? "max" : mem)));
    BANGER_RETURN_IF_ERROR(context(WriteValue(dir + "/pids.max", pids)));
    procs.push_back(dir + "/cgroup.procs");
    return procs;
  }
  auto dirs = GroupDirs(name);
  BANGER_RETURN_IF_ERROR(context(MakeDirs(dirs[0], 0755)));
  // -1 lifts a v1 memory limit.
  BANGER_RETURN_IF_ERROR(context(WriteValue(dirs[0] + "/memory.limit_in_bytes", mem.empty() ? "-1" : mem)));
  BANGER_RETURN_IF_ERROR(context(MakeDirs(dirs[1], 0755)));
  BANGER_RETURN_IF_ERROR(context(WriteValue(dirs[1] + "/pids.max", pids)));
  for (const auto& d : dirs) procs.push_back(d + "/cgroup.procs");
  return procs;
}

Status VmCgroups::Remove(const std::string& name) const {
  BANGER_RETURN_IF_ERROR(CheckName(name));
  for (const auto& dir : GroupDirs(name)) {
    if (!IsDirectory(dir)) continue;
    // A cgroup directory goes with rmdir alone; anywhere else (tests) the
    // files we wrote go first.
    if (!IsCgroupFs(dir)) {
      for (const auto& f : Entries(dir, false)) RemoveFile(dir + "/" + f).ok();
    }
    if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) {
      int err = errno;
      auto procs_read = ReadFile(dir + "/cgroup.procs");
      std::string procs = procs_read.ok() ? *procs_read : "";
      for (char& c : procs) {
        if (c == '\n') c = ' ';
      }
      Error e = Error::FromErrno("remove cgroup " + dir, err);
      if (err == EBUSY && !procs.empty()) return std::move(e).Wrap("processes still in it: " + procs);
      return e;
    }
  }
  return OkStatus();
}

std::vector<std::string> VmCgroups::List() const {
  std::set<std::string> names;
  for (const auto& dir : GroupDirs("x")) {
    for (const auto& n : Entries(dir.substr(0, dir.rfind('/')), true)) names.insert(n);
  }
  return {names.begin(), names.end()};
}

Status VmCgroups::Probe() const {
  const std::string name = "probe-" + std::to_string(::getpid());
  auto made = Create(name, CgroupLimits{});
  Status removed = Remove(name);
  if (!made.ok()) return std::move(made).error();
  return removed;
}

}  // namespace banger

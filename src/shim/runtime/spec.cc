#include "runtime/spec.h"

#include <errno.h>
#include <string.h>
#include <sys/mount.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include "base/fs.h"

namespace banger::shim {
namespace {

constexpr size_t kMaxConfigBytes = 4u << 20;
constexpr size_t kMaxArgs = 4096;
constexpr size_t kMaxEnv = 4096;

Result<uint32_t> Id32(const Json& j, const char* what) {
  if (!j.is_number_unsigned() && !(j.is_number_integer() && j.get<int64_t>() >= 0))
    return Error::Invalid(std::string("process.user.") + what + " must be a non-negative integer");
  uint64_t v = j.get<uint64_t>();
  if (v > std::numeric_limits<uint32_t>::max())
    return Error::Invalid(std::string("process.user.") + what + " is too big");
  return static_cast<uint32_t>(v);
}

std::string Unescape(const std::string& s) {  // mountinfo's \040 style
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && isdigit(s[i + 1]) && isdigit(s[i + 2]) && isdigit(s[i + 3])) {
      out.push_back(static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

std::string ContainerSpec::SandboxId() const {
  auto it = annotations.find(kSandboxIdKey);
  return it == annotations.end() ? "" : it->second;
}

bool ContainerSpec::OwnsVm() const {
  auto it = annotations.find(kContainerTypeKey);
  return SandboxId().empty() || it == annotations.end() || it->second != "container";
}

Result<ProcessSpec> ParseProcessSpec(const Json& p) {
  if (!p.is_object()) return Error::Invalid("the OCI spec has no process object");
  ProcessSpec out;
  const Json& args = p.value("args", Json::array());
  if (!args.is_array() || args.empty()) return Error::Invalid("process.args must be a non-empty list");
  if (args.size() > kMaxArgs) return Error::Invalid("process.args has too many entries");
  for (const Json& a : args) {
    if (!a.is_string()) return Error::Invalid("process.args must hold strings");
    out.args.push_back(a.get<std::string>());
  }
  const Json& env = p.value("env", Json::array());
  if (!env.is_array() || env.size() > kMaxEnv)
    return Error::Invalid("process.env must be a list (at most 4096)");
  for (const Json& e : env) {
    if (!e.is_string()) return Error::Invalid("process.env must hold strings");
    const std::string kv = e.get<std::string>();
    auto eq = kv.find('=');
    if (eq == 0 || eq == std::string::npos)
      return Error::Invalid("process.env entry \"" + kv + "\" is not KEY=VALUE");
    out.env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  if (p.contains("cwd")) {
    if (!p["cwd"].is_string()) return Error::Invalid("process.cwd must be a string");
    out.cwd = p["cwd"].get<std::string>();
    if (out.cwd.empty() || out.cwd[0] != '/') return Error::Invalid("process.cwd must be an absolute path");
  }
  if (p.contains("user")) {
    const Json& u = p["user"];
    if (!u.is_object()) return Error::Invalid("process.user must be an object");
    if (u.contains("uid")) {
      BANGER_ASSIGN_OR_RETURN(out.uid, Id32(u["uid"], "uid"));
    }
    if (u.contains("gid")) {
      BANGER_ASSIGN_OR_RETURN(out.gid, Id32(u["gid"], "gid"));
    }
  }
  if (p.contains("terminal")) {
    if (!p["terminal"].is_boolean()) return Error::Invalid("process.terminal must be true or false");
    out.terminal = p["terminal"].get<bool>();
  }
  if (p.contains("consoleSize") && p["consoleSize"].is_object()) {
    const Json& c = p["consoleSize"];
    auto dim = [&c](const char* k, uint16_t& v) {
      if (c.contains(k) && c[k].is_number_integer() && c[k].get<int64_t>() > 0 && c[k].get<int64_t>() < 65536)
        v = static_cast<uint16_t>(c[k].get<int64_t>());
    };
    dim("height", out.rows);
    dim("width", out.cols);
  }
  return out;
}

Result<ContainerSpec> ParseContainerSpec(const Json& config, const std::string& bundle) {
  if (!config.is_object()) return Error::Invalid("config.json is not a JSON object");
  ContainerSpec out;
  BANGER_ASSIGN_OR_RETURN(out.process, ParseProcessSpec(config.value("process", Json())));
  if (config.contains("root") && config["root"].is_object()) {
    const Json& r = config["root"];
    if (r.contains("path") && r["path"].is_string()) {
      std::string p = r["path"].get<std::string>();
      if (!p.empty()) out.root_path = p[0] == '/' ? p : bundle + "/" + p;
    }
    if (r.contains("readonly") && r["readonly"].is_boolean()) out.root_readonly = r["readonly"].get<bool>();
  }
  if (config.contains("annotations") && config["annotations"].is_object()) {
    for (const auto& [k, v] : config["annotations"].items()) {
      if (v.is_string()) out.annotations[k] = v.get<std::string>();
    }
  }
  const Json* res = nullptr;
  if (config.contains("linux") && config["linux"].is_object() && config["linux"].contains("resources"))
    res = &config["linux"]["resources"];
  if (res != nullptr && res->is_object()) {
    if (res->contains("memory") && (*res)["memory"].is_object()) {
      const Json& m = (*res)["memory"];
      if (m.contains("limit") && m["limit"].is_number_integer() && m["limit"].get<int64_t>() > 0)
        out.memory_limit_bytes = m["limit"].get<int64_t>();
    }
    if (res->contains("cpu") && (*res)["cpu"].is_object()) {
      const Json& c = (*res)["cpu"];
      if (c.contains("quota") && c.contains("period") && c["quota"].is_number_integer() &&
          c["period"].is_number_integer()) {
        int64_t q = c["quota"].get<int64_t>();
        int64_t per = c["period"].get<int64_t>();
        if (q > 0 && per > 0)
          out.cpus = static_cast<int>(std::ceil(static_cast<double>(q) / static_cast<double>(per)));
      }
    }
  }
  return out;
}

Result<ContainerSpec> ReadBundleSpec(const std::string& bundle) {
  const std::string path = bundle + "/config.json";
  BANGER_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  if (text.size() > kMaxConfigBytes) return Error::Invalid(path + " is larger than 4 MiB");
  auto j = ParseJson(text);
  if (!j.ok()) return j.error().Wrap(path);
  auto spec = ParseContainerSpec(*j, bundle);
  if (!spec.ok()) return spec.error().Wrap(path);
  return spec;
}

MountArgs SplitMountOptions(const std::vector<std::string>& options) {
  static const std::map<std::string, std::pair<bool, unsigned long>> kFlags = {
      {"ro", {false, MS_RDONLY}},
      {"rw", {true, MS_RDONLY}},
      {"bind", {false, MS_BIND}},
      {"rbind", {false, MS_BIND | MS_REC}},
      {"nosuid", {false, MS_NOSUID}},
      {"suid", {true, MS_NOSUID}},
      {"nodev", {false, MS_NODEV}},
      {"dev", {true, MS_NODEV}},
      {"noexec", {false, MS_NOEXEC}},
      {"exec", {true, MS_NOEXEC}},
      {"noatime", {false, MS_NOATIME}},
      {"relatime", {false, MS_RELATIME}},
      {"strictatime", {false, MS_STRICTATIME}},
      {"sync", {false, MS_SYNCHRONOUS}},
      {"async", {true, MS_SYNCHRONOUS}},
      {"remount", {false, MS_REMOUNT}},
      {"defaults", {false, 0}},
  };
  MountArgs out;
  for (const std::string& o : options) {
    auto it = kFlags.find(o);
    if (it == kFlags.end()) {
      if (!out.data.empty()) out.data += ",";
      out.data += o;
    } else if (it->second.first) {
      out.flags &= ~it->second.second;
    } else {
      out.flags |= it->second.second;
    }
  }
  return out;
}

std::string MountOption(const RootfsMount& m, const std::string& key) {
  for (const std::string& o : m.options) {
    if (o.rfind(key + "=", 0) == 0) return o.substr(key.size() + 1);
  }
  return "";
}

Status MountAll(const std::vector<RootfsMount>& mounts, const std::string& target) {
  size_t done = 0;
  for (const RootfsMount& m : mounts) {
    MountArgs a = SplitMountOptions(m.options);
    const bool bind = (a.flags & MS_BIND) != 0 || m.type == "bind";
    const unsigned long flags = bind ? (a.flags | MS_BIND) & ~MS_RDONLY : a.flags;
    const char* type = bind ? nullptr : m.type.c_str();
    if (::mount(m.source.c_str(), target.c_str(), type, flags,
                a.data.empty() || bind ? nullptr : a.data.c_str()) != 0) {
      int e = errno;
      if (done > 0) UnmountAll(target).ok();
      return Error::Internal("mounting " + m.type + " " + m.source + " at " + target + ": " + strerror(e));
    }
    ++done;
    // A read-only bind takes a remount (the kernel ignores MS_RDONLY on the bind itself).
    if (bind && (a.flags & MS_RDONLY) != 0 &&
        ::mount(nullptr, target.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0) {
      int e = errno;
      UnmountAll(target).ok();
      return Error::Internal("remounting " + target + " read-only: " + strerror(e));
    }
  }
  return OkStatus();
}

bool IsMountPoint(const std::string& path) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string id, parent, devno, root, mnt;
    if (ls >> id >> parent >> devno >> root >> mnt && Unescape(mnt) == path) return true;
  }
  return false;
}

Status UnmountAll(const std::string& target) {
  for (int i = 0; i < 64 && IsMountPoint(target); ++i) {
    if (::umount2(target.c_str(), MNT_DETACH) != 0 && errno != EINVAL) {
      return Error::Internal("unmounting " + target + ": " + strerror(errno));
    }
  }
  if (IsMountPoint(target)) return Error::Internal(target + " is still mounted");
  return OkStatus();
}

}  // namespace banger::shim

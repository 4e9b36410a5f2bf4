#include "model/mounts.h"

#include <cstdio>

namespace banger {
namespace {

bool IsPlainPathByte(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/' || c == '.' ||
         c == '_' || c == '-';
}

std::vector<std::string> SplitColons(const std::string& s) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t colon = s.find(':', start);
    parts.push_back(s.substr(start, colon == std::string::npos ? std::string::npos : colon - start));
    if (colon == std::string::npos) return parts;
    start = colon + 1;
  }
}

// Whether `path` is `dir` or lies under it (both normalized and absolute).
bool IsAtOrUnder(const std::string& path, const std::string& dir) {
  return path == dir ||
         (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/');
}

}  // namespace

Result<VmMount> ParseMountFlag(const std::string& flag) {
  const std::string usage = "--mount must be HOST_DIR:GUEST_DIR[:ro|rw], got \"" + flag + "\"";
  std::vector<std::string> parts = SplitColons(flag);
  if (parts.size() < 2 || parts.size() > 3) return Error::Invalid(usage);
  VmMount m;
  m.host_path = parts[0];
  m.guest_path = parts[1];
  if (parts.size() == 3) {
    if (parts[2] != "ro" && parts[2] != "rw") {
      return Error::Invalid("--mount mode must be ro or rw, got \"" + parts[2] + "\" in \"" + flag + "\"");
    }
    m.read_only = parts[2] == "ro";
  }
  if (m.host_path.empty() || m.guest_path.empty()) return Error::Invalid(usage);
  BANGER_RETURN_IF_ERROR(ValidateGuestMountPath(m.guest_path));
  return m;
}

Status ValidateGuestMountPath(const std::string& path) {
  auto bad = [&path](const std::string& why) {
    return Error::Invalid("guest mount path \"" + path + "\" " + why);
  };
  if (path.empty() || path[0] != '/') return bad("must be absolute");
  if (path == "/") return bad("must not be / (the guest's root)");
  if (path.size() > kMaxGuestMountPath)
    return bad("is longer than " + std::to_string(kMaxGuestMountPath) + " bytes");
  for (unsigned char c : path) {
    if (c < 0x20 || c == 0x7f) return bad("contains a control character");
  }
  if (path.back() == '/') return bad("must not end with '/'");
  size_t start = 1;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    std::string part = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (part.empty() || part == "." || part == "..") return bad("must be normalized (no //, . or ..)");
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  for (const char* reserved : {"/proc", "/sys", "/dev", "/run/banger"}) {
    if (IsAtOrUnder(path, reserved)) return bad(std::string("must not be at or under ") + reserved);
  }
  return OkStatus();
}

Status ValidateMounts(const std::vector<VmMount>& mounts) {
  if (mounts.size() > kMaxMounts) {
    return Error::Invalid("at most " + std::to_string(kMaxMounts) + " mounts per vm, got " +
                          std::to_string(mounts.size()));
  }
  for (size_t i = 0; i < mounts.size(); ++i) {
    const VmMount& m = mounts[i];
    if (m.host_path.empty() || m.host_path[0] != '/') {
      return Error::Invalid("host mount path \"" + m.host_path + "\" must be absolute");
    }
    if (m.host_path.find('\0') != std::string::npos)
      return Error::Invalid("host mount path contains a NUL byte");
    BANGER_RETURN_IF_ERROR(ValidateGuestMountPath(m.guest_path));
    for (size_t j = 0; j < i; ++j) {
      const std::string& other = mounts[j].guest_path;
      if (IsAtOrUnder(m.guest_path, other) || IsAtOrUnder(other, m.guest_path)) {
        return Error::Invalid("guest mount paths " + other + " and " + m.guest_path + " overlap");
      }
    }
  }
  if (MountKernelArgs(mounts).size() > kMaxMountCmdline) {
    return Error::Invalid("the guest mount paths are too long together for the kernel command line (" +
                          std::to_string(kMaxMountCmdline) + " bytes encoded)");
  }
  return OkStatus();
}

std::string MountTag(size_t index) { return "banger" + std::to_string(index); }

std::string PercentEncodePath(const std::string& path) {
  std::string out;
  for (unsigned char c : path) {
    if (IsPlainPathByte(c)) {
      out += static_cast<char>(c);
    } else {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", c);
      out += hex;
    }
  }
  return out;
}

std::string MountKernelArgs(const std::vector<VmMount>& mounts) {
  std::string out;
  for (size_t i = 0; i < mounts.size(); ++i) {
    out += " banger.mount=" + MountTag(i) + (mounts[i].read_only ? ",ro," : ",rw,") +
           PercentEncodePath(mounts[i].guest_path);
  }
  return out;
}

Status CheckMountBackend(BackendKind backend, const std::vector<VmMount>& mounts) {
  if (backend == BackendKind::kFirecracker && !mounts.empty())
    return Error::Invalid(kFirecrackerMountRefusal);
  return OkStatus();
}

std::string FormatMount(const VmMount& m) {
  return m.host_path + ":" + m.guest_path + (m.read_only ? ":ro" : ":rw");
}

}  // namespace banger

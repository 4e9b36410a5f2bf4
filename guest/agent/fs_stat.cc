// `banger-agent stat PATH` and `banger-agent ls PATH`: JSON on stdout
// (docs/adr/0022-vm-cp-wire-format.md). Strings are JSON-escaped: \" \\ \n
// \t, \u00XX for other control bytes, valid UTF-8 as is, and each byte of an
// invalid UTF-8 sequence as \u00XX (its Latin-1 reading), so any file name
// gives valid JSON; such a name does not map back to its bytes.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "base/unique_fd.h"
#include "cp.h"
#include "cp_common.h"

namespace banger::agent::cp {
namespace {

constexpr size_t kMaxListed = 10000;

// The length of the valid UTF-8 sequence at s[i], or 0.
size_t Utf8Len(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  auto cont = [&](size_t k) { return k < s.size() && (b(k) & 0xc0) == 0x80; };
  unsigned char c = b(i);
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) return cont(i + 1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    if (!cont(i + 1) || !cont(i + 2)) return 0;
    if (c == 0xe0 && b(i + 1) < 0xa0) return 0;   // overlong
    if (c == 0xed && b(i + 1) >= 0xa0) return 0;  // surrogates
    return 3;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    if (!cont(i + 1) || !cont(i + 2) || !cont(i + 3)) return 0;
    if (c == 0xf0 && b(i + 1) < 0x90) return 0;   // overlong
    if (c == 0xf4 && b(i + 1) >= 0x90) return 0;  // > U+10FFFF
    return 4;
  }
  return 0;
}

void AppendJsonString(std::string* out, std::string_view s) {
  out->push_back('"');
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = Utf8Len(s, i);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
    } else if (c == '\n') {
      out->append("\\n");
    } else if (c == '\t') {
      out->append("\\t");
    } else if (c < 0x20 || c == 0x7f || n == 0) {
      char esc[8];
      snprintf(esc, sizeof(esc), "\\u%04x", c);
      out->append(esc);
      i += 1;
      continue;
    } else {
      out->append(s.substr(i, n));
      i += n;
      continue;
    }
    i += 1;
  }
  out->push_back('"');
}

const char* TypeName(mode_t mode) {
  if (S_ISREG(mode)) return "file";
  if (S_ISDIR(mode)) return "dir";
  if (S_ISLNK(mode)) return "symlink";
  return "other";
}

// The members of one stat object, without the braces.
Error StatMembers(int dirfd, const char* at, std::string_view name, const std::string& guest,
                  std::string* out) {
  struct stat st = {};
  if (fstatat(dirfd, at, &st, AT_SYMLINK_NOFOLLOW) != 0) return ErrnoError(guest, errno);
  out->append("\"name\":");
  AppendJsonString(out, name);
  out->append(",\"type\":\"").append(TypeName(st.st_mode)).append("\"");
  long long mtime_ns = static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
  char nums[200];
  snprintf(nums, sizeof(nums), ",\"size\":%lld,\"mode\":%u,\"mtime_ns\":%lld,\"uid\":%u,\"gid\":%u",
           static_cast<long long>(st.st_size), static_cast<unsigned>(st.st_mode & 07777), mtime_ns,
           static_cast<unsigned>(st.st_uid), static_cast<unsigned>(st.st_gid));
  out->append(nums);
  if (S_ISLNK(st.st_mode)) {
    std::vector<char> target(static_cast<size_t>(std::max<off_t>(st.st_size, 255)) + 2);
    ssize_t n = readlinkat(dirfd, at, target.data(), target.size());
    if (n < 0) return ErrnoError(guest, errno);
    out->append(",\"link_target\":");
    AppendJsonString(
        out, std::string_view(target.data(), std::min<size_t>(static_cast<size_t>(n), target.size())));
  }
  return {};
}

std::string CleanPath(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

bool AbsolutePathArg(int argc, char** argv, const char* cmd, std::string* path) {
  if (argc != 2 || argv[1][0] != '/') {
    fprintf(stderr, "usage: banger-agent %s /ABSOLUTE/PATH\n", cmd);
    return false;
  }
  *path = CleanPath(argv[1]);
  return true;
}

}  // namespace

int RunStat(int argc, char** argv) {
  std::string path;
  if (!AbsolutePathArg(argc, argv, "stat", &path)) return 2;
  std::string out = "{\"path\":";
  AppendJsonString(&out, path);
  out.push_back(',');
  if (Error err = StatMembers(AT_FDCWD, path.c_str(), BaseName(path), path, &out); err.failed()) {
    return Report(err);
  }
  out.append("}\n");
  return WriteAll(STDOUT_FILENO, out.data(), out.size()) ? 0 : Report(ErrnoError("write stdout", errno));
}

int RunLs(int argc, char** argv) {
  std::string path;
  if (!AbsolutePathArg(argc, argv, "ls", &path)) return 2;
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return Report(ErrnoError(path, errno));
  // The smallest kMaxListed names, with bounded memory: trimmed whenever
  // twice that many have gathered.
  std::vector<std::string> names;
  bool truncated = false;
  Error listed = ForEachName(fd.get(), path, [&](const char* n) {
    names.emplace_back(n);
    if (names.size() >= 2 * kMaxListed) {
      std::nth_element(names.begin(), names.begin() + kMaxListed, names.end());
      names.resize(kMaxListed);
      truncated = true;
    }
  });
  if (listed.failed()) return Report(listed);
  std::sort(names.begin(), names.end());
  if (names.size() > kMaxListed) {
    names.resize(kMaxListed);
    truncated = true;
  }
  std::string out = "{\"path\":";
  AppendJsonString(&out, path);
  out.append(",\"entries\":[");
  std::string prefix = path == "/" ? "/" : path + "/";
  bool first = true;
  for (const std::string& n : names) {
    std::string obj = first ? "{" : ",{";
    Error err = StatMembers(fd.get(), n.c_str(), n, prefix + n, &obj);
    if (err.failed()) {
      if (err.code == "not_found") continue;  // removed since readdir
      return Report(err);
    }
    obj.push_back('}');
    out.append(obj);
    first = false;
  }
  out.append("],\"truncated\":").append(truncated ? "true" : "false").append("}\n");
  return WriteAll(STDOUT_FILENO, out.data(), out.size()) ? 0 : Report(ErrnoError("write stdout", errno));
}

}  // namespace banger::agent::cp

#include "ctr_root.h"

#include <errno.h>
#include <ftw.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

namespace banger::agent {
namespace {

constexpr const char* kBase = "/var/lib/banger/containers/";

int Fail(const std::string& msg, int code = 1) {
  fprintf(stderr, "banger-agent: ctr-root: %s\n", msg.c_str());
  return code;
}

int Usage() {
  return Fail(
      "usage: ctr-root create|mount|remove ROOT, or ctr-root exec ROOT --user UID:GID --cwd DIR -- ARGV...",
      2);
}

// ROOT: absolute, under kBase, one plain name below it (no "..", no "/").
bool ValidRoot(const std::string& root) {
  const std::string base = kBase;
  if (root.rfind(base, 0) != 0 || root.size() == base.size()) return false;
  const std::string name = root.substr(base.size());
  if (name == "." || name == ".." || name.find('/') != std::string::npos) return false;
  return true;
}

bool MkdirP(const std::string& path, mode_t mode) {
  std::string cur;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i + 1);
    if (j == std::string::npos) j = path.size();
    cur = path.substr(0, j);
    if (!cur.empty() && mkdir(cur.c_str(), mode) != 0 && errno != EEXIST) return false;
    i = j;
  }
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// The mount points inside ROOT, made by `mount` (in mount order).
const std::vector<std::pair<std::string, std::string>>& Mounts() {
  static const std::vector<std::pair<std::string, std::string>> m = {
      {"proc", "proc"}, {"sys", "sysfs"}, {"dev", ""}};
  return m;
}

bool IsMounted(const std::string& path) {
  struct stat a {
  }, b{};
  if (lstat(path.c_str(), &a) != 0 || lstat((path + "/..").c_str(), &b) != 0) return false;
  return a.st_dev != b.st_dev || a.st_ino == b.st_ino;
}

int Mount(const std::string& root) {
  for (const auto& [dir, type] : Mounts()) {
    const std::string target = root + "/" + dir;
    struct stat st {};
    if (lstat(target.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) return Fail(target + " is not a directory");
    if (!MkdirP(target, 0755)) return Fail("mkdir " + target + ": " + strerror(errno));
    if (IsMounted(target)) continue;
    int rc = type.empty() ? mount("/dev", target.c_str(), nullptr, MS_BIND | MS_REC, nullptr)
                          : mount(type.c_str(), target.c_str(), type.c_str(),
                                  MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
    if (rc != 0) return Fail("mounting " + target + ": " + strerror(errno));
  }
  return 0;
}

int RemoveEntry(const char* path, const struct stat*, int, struct FTW*) {
  if (remove(path) != 0 && errno != ENOENT)
    fprintf(stderr, "banger-agent: ctr-root: remove %s: %s\n", path, strerror(errno));
  return 0;
}

// Mount points at or under `root` (from /proc/self/mounts, octal escapes undone).
std::vector<std::string> MountsUnder(const std::string& root) {
  std::vector<std::string> out;
  FILE* f = fopen("/proc/self/mounts", "re");
  if (f == nullptr) return out;
  char line[4096];
  while (fgets(line, sizeof line, f) != nullptr) {
    char* sp = strchr(line, ' ');
    if (sp == nullptr) continue;
    std::string mnt;
    for (char* p = sp + 1; *p != '\0' && *p != ' '; ++p) {
      if (p[0] == '\\' && p[1] >= '0' && p[1] <= '7' && p[2] >= '0' && p[2] <= '7' && p[3] >= '0' &&
          p[3] <= '7') {
        mnt.push_back(static_cast<char>((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0')));
        p += 3;
      } else {
        mnt.push_back(*p);
      }
    }
    if (mnt == root || mnt.rfind(root + "/", 0) == 0) out.push_back(mnt);
  }
  fclose(f);
  return out;
}

int Remove(const std::string& root) {
  // Everything mounted inside (ours, or the container's own), deepest first,
  // so that deleting never reaches into another file system.
  for (int pass = 0; pass < 8; ++pass) {
    std::vector<std::string> mounts = MountsUnder(root);
    if (mounts.empty()) break;
    std::sort(mounts.begin(), mounts.end(),
              [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
    for (const std::string& m : mounts) umount2(m.c_str(), MNT_DETACH);
  }
  if (!MountsUnder(root).empty()) return Fail("something is still mounted under " + root);
  // FTW_PHYS: never through a symlink. (Not FTW_MOUNT: on the guest's overlay
  // root, files report their lower layer's device.)
  if (nftw(root.c_str(), RemoveEntry, 32, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
    return Fail("removing " + root + ": " + strerror(errno));
  return 0;
}

bool ParseIds(const std::string& v, uid_t* uid, gid_t* gid) {
  size_t colon = v.find(':');
  if (colon == std::string::npos) return false;
  char* end = nullptr;
  unsigned long u = strtoul(v.c_str(), &end, 10);
  if (end != v.c_str() + colon || colon == 0) return false;
  unsigned long g = strtoul(v.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || colon + 1 == v.size() || u > 0xfffffffeUL || g > 0xfffffffeUL) return false;
  *uid = static_cast<uid_t>(u);
  *gid = static_cast<gid_t>(g);
  return true;
}

int Exec(const std::string& root, int argc, char** argv) {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string cwd = "/";
  int i = 0;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (i + 1 >= argc) return Usage();
    if (a == "--user") {
      if (!ParseIds(argv[++i], &uid, &gid)) return Fail(std::string("bad --user ") + argv[i], 2);
    } else if (a == "--cwd") {
      cwd = argv[++i];
      if (cwd.empty() || cwd[0] != '/') return Fail("--cwd must be absolute", 2);
    } else {
      return Usage();
    }
  }
  if (i >= argc) return Usage();
  if (chroot(root.c_str()) != 0) return Fail("chroot " + root + ": " + strerror(errno));
  if (chdir(cwd.c_str()) != 0 && chdir("/") != 0) return Fail("chdir " + cwd + ": " + strerror(errno));
  if (setgroups(0, nullptr) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
    return Fail(std::string("dropping to the container's user: ") + strerror(errno));
  execvp(argv[i], argv + i);
  int e = errno;
  return Fail(std::string(argv[i]) + ": " + strerror(e), e == ENOENT ? 127 : 126);
}

}  // namespace

int RunCtrRootCommand(int argc, char** argv) {
  // argv[0] is "ctr-root".
  if (argc < 3) return Usage();
  const std::string verb = argv[1], root = argv[2];
  if (!ValidRoot(root)) return Fail(root + " is not a directory name under " + kBase, 2);
  if (verb == "create") return MkdirP(root, 0755) ? 0 : Fail("mkdir " + root + ": " + strerror(errno));
  if (verb == "mount" && argc == 3) return Mount(root);
  if (verb == "remove" && argc == 3) return Remove(root);
  if (verb == "exec") return Exec(root, argc - 3, argv + 3);
  return Usage();
}

}  // namespace banger::agent

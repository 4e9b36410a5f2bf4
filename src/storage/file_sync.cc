#include "storage/file_sync.h"

#include <sys/stat.h>

#include <filesystem>
#include <set>
#include <sstream>

#include "base/fs.h"
#include "base/process.h"

namespace banger {
namespace {

namespace fs = std::filesystem;

// Whether a string can go into the debugfs script as one quoted argument.
// debugfs reads the script a line at a time and splits it with libss: a
// newline (or any control character) would start a command of the string's
// choosing (`write /etc/shadow ...` reads any host file into the guest as
// root) and a quote would end the argument early. Every string reaching the
// script passes this: guest paths, host paths, names found in synced
// directories and the targets of symlinks there.
bool SafeForDebugfs(const std::string& p) {
  if (p.empty()) return false;
  for (unsigned char c : p) {
    if (c < 0x20 || c == '"' || c == 0x7f) return false;
  }
  return true;
}

constexpr const char* kUnsafeWhy =
    "has a quote or a control character (newline, tab, ...) that debugfs cannot take";

Result<unsigned> ParseMode(const std::string& mode, unsigned def) {
  if (mode.empty()) return def;
  unsigned v = 0;
  for (char c : mode) {
    if (c < '0' || c > '7') return Error::Invalid("file_sync mode \"" + mode + "\" is not octal");
    v = v * 8 + static_cast<unsigned>(c - '0');
  }
  if (v > 07777) return Error::Invalid("file_sync mode \"" + mode + "\" is out of range");
  return v;
}

std::string Quote(const std::string& p) { return "\"" + p + "\""; }

// Builds the debugfs script; tracks directories already made.
class Script {
 public:
  void MkdirAll(const std::string& dir, unsigned mode) {
    std::string cur;
    std::stringstream ss(dir);
    std::string part;
    while (std::getline(ss, part, '/')) {
      if (part.empty()) continue;
      cur += "/" + part;
      if (made_.insert(cur).second) {
        out_ << "mkdir " << Quote(cur) << "\n";
        Owner(cur);
      }
    }
    if (!dir.empty() && dir != "/")
      out_ << "sif " << Quote(dir) << " mode 0" << std::oct << (040000 | mode) << std::dec << "\n";
  }
  void File(const std::string& host, const std::string& path, unsigned mode) {
    out_ << "rm " << Quote(path) << "\n";
    out_ << "write " << Quote(host) << " " << Quote(path) << "\n";
    out_ << "sif " << Quote(path) << " mode 0" << std::oct << (0100000 | mode) << std::dec << "\n";
    Owner(path);
  }
  void Symlink(const std::string& path, const std::string& target) {
    out_ << "rm " << Quote(path) << "\n";
    out_ << "symlink " << Quote(path) << " " << Quote(target) << "\n";
  }
  std::string str() const { return out_.str(); }

 private:
  void Owner(const std::string& p) {
    out_ << "sif " << Quote(p) << " uid 0\n";
    out_ << "sif " << Quote(p) << " gid 0\n";
  }
  std::ostringstream out_;
  std::set<std::string> made_;
};

std::string Parent(const std::string& p) {
  auto pos = p.rfind('/');
  return pos == 0 || pos == std::string::npos ? "/" : p.substr(0, pos);
}

}  // namespace

Result<std::string> WorkDiskPath(const std::string& guest) {
  std::string g = guest;
  if (g.rfind("~/", 0) == 0)
    g = g.substr(2);
  else if (g == "/root" || g.rfind("/root/", 0) == 0)
    g = g.substr(5);
  else if (!g.empty() && g[0] == '/') {
    return Error::Invalid("file_sync guest path " + guest + " is outside /root (the work disk)");
  }
  if (!SafeForDebugfs(g)) return Error::Invalid("file_sync guest path " + guest + " " + kUnsafeWhy);
  std::string out;
  std::stringstream ss(g);
  std::string part;
  while (std::getline(ss, part, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") return Error::Invalid("file_sync guest path " + guest + " must not contain ..");
    out += "/" + part;
  }
  if (out.empty()) return Error::Invalid("file_sync guest path " + guest + " names /root itself");
  return out;
}

Result<std::vector<std::string>> SyncIntoExt4(const std::string& image, const std::vector<SyncEntry>& entries,
                                              const std::string& host_home) {
  std::vector<std::string> warnings;
  Script script;
  for (const auto& e : entries) {
    std::string host = e.host;
    if (host.rfind("~/", 0) == 0) host = host_home + host.substr(1);
    BANGER_ASSIGN_OR_RETURN(std::string dest, WorkDiskPath(e.guest));
    if (!SafeForDebugfs(host)) return Error::Invalid("file_sync host path " + e.host + " " + kUnsafeWhy);
    std::error_code ec;
    auto st = fs::symlink_status(host, ec);
    if (ec || !fs::exists(st)) {
      warnings.push_back("file_sync: " + e.host + " does not exist on the host; skipped");
      continue;
    }
    if (fs::is_directory(fs::status(host, ec))) {
      BANGER_ASSIGN_OR_RETURN(unsigned dmode, ParseMode(e.mode, 0755));
      script.MkdirAll(dest, dmode);
      for (auto it = fs::recursive_directory_iterator(host, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        // The name under `host` as listed: fs::relative would resolve a
        // symlink to its target's name (or a "../.." path out of the
        // destination).
        std::string rel = it->path().string().substr(host.size());
        while (!rel.empty() && rel.front() == '/') rel.erase(rel.begin());
        std::string p = dest + "/" + rel;
        if (!SafeForDebugfs(it->path().string()) || !SafeForDebugfs(p)) {
          warnings.push_back("file_sync: " + it->path().string() + " " + kUnsafeWhy + "; skipped");
          continue;
        }
        if (it->is_symlink()) {
          std::error_code lec;
          std::string target = fs::read_symlink(it->path(), lec).string();
          if (lec || !SafeForDebugfs(target)) {
            warnings.push_back("file_sync: the target of symlink " + it->path().string() + " " +
                               (lec ? "cannot be read (" + lec.message() + ")" : kUnsafeWhy) + "; skipped");
            continue;
          }
          script.Symlink(p, target);
        } else if (it->is_directory()) {
          script.MkdirAll(p, 0755);
        } else if (it->is_regular_file()) {
          // Files inside a synced directory are 0600, or 0700 when executable on the host.
          unsigned m = static_cast<unsigned>(it->status().permissions());
          script.File(it->path().string(), p, (m & 0100) ? 0700 : 0600);
        }
      }
      if (ec) return Error::Internal("file_sync: reading " + host + ": " + ec.message());
    } else {
      BANGER_ASSIGN_OR_RETURN(unsigned fmode, ParseMode(e.mode, 0600));
      script.MkdirAll(Parent(dest), 0755);
      script.File(host, dest, fmode);
    }
  }
  std::string cmds = script.str();
  if (cmds.empty()) return warnings;
  std::string cmdfile = image + ".sync";
  BANGER_RETURN_IF_ERROR(WriteFileAtomic(cmdfile, cmds, 0600));
  auto r = RunCommand({"debugfs", "-w", "-f", cmdfile, image});
  RemoveFile(cmdfile).ok();
  if (!r.ok()) return std::move(r).error().Wrap("file_sync: debugfs");
  if (r->exit_code != 0) return Error::Internal("file_sync: debugfs failed: " + r->err);
  // debugfs reports per-command failures on stderr and keeps going; the
  // ones that matter are failed writes.
  std::stringstream ss(r->err);
  std::string line;
  while (std::getline(ss, line)) {
    if (line.find("write:") != std::string::npos || line.find("Could not allocate") != std::string::npos ||
        line.find("No free space") != std::string::npos) {
      return Error::Internal("file_sync: " + line);
    }
  }
  return warnings;
}

}  // namespace banger

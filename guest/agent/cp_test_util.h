// Host-side helpers for the cp tests: run the real static agent
// (BANGER_AGENT_BIN) as a subprocess, frame a tar for cp-in, build tars with
// the host's libarchive, snapshot a directory tree.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <nettle/sha2.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace banger::agent::cp::testing {

struct RunResult {
  int status = -1;  // waitpid status
  std::string out;
  std::string err;
  int exit_code() const { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }
  // The code of `banger-cp error=<code> ...`, or "" when there is no such line.
  std::string error_code() const {
    size_t p = err.find("banger-cp error=");
    if (p == std::string::npos) return "";
    p += strlen("banger-cp error=");
    return err.substr(p, err.find(' ', p) - p);
  }
};

// Runs the agent with `args`, feeding `in` to its stdin and collecting
// stdout and stderr (poll, so neither side blocks).
inline RunResult RunAgent(const std::vector<std::string>& args, const std::string& in = "") {
  int pin[2];
  int pout[2];
  int perr[2];
  if (pipe2(pin, O_CLOEXEC) != 0 || pipe2(pout, O_CLOEXEC) != 0 || pipe2(perr, O_CLOEXEC) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    dup2(pin[0], 0);
    dup2(pout[1], 1);
    dup2(perr[1], 2);
    std::vector<char*> argv;
    std::string bin = BANGER_AGENT_BIN;
    argv.push_back(bin.data());
    std::vector<std::string> copy = args;
    for (std::string& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  close(pin[0]);
  close(pout[1]);
  close(perr[1]);
  signal(SIGPIPE, SIG_IGN);
  RunResult r;
  size_t off = 0;
  int in_fd = pin[1];
  if (in.empty()) {
    close(in_fd);
    in_fd = -1;
  }
  int rd[2] = {pout[0], perr[0]};
  char buf[65536];
  while (rd[0] >= 0 || rd[1] >= 0) {
    pollfd fds[3] = {{rd[0], POLLIN, 0}, {rd[1], POLLIN, 0}, {in_fd, POLLOUT, 0}};
    poll(fds, 3, -1);
    if (in_fd >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP)) != 0) {
      ssize_t w = write(in_fd, in.data() + off, std::min<size_t>(in.size() - off, 65536));
      if (w > 0) off += static_cast<size_t>(w);
      if (w < 0 || off == in.size()) {
        close(in_fd);
        in_fd = -1;
      }
    }
    for (int i = 0; i < 2; ++i) {
      if (rd[i] < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      ssize_t n = read(rd[i], buf, sizeof(buf));
      if (n > 0) {
        (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
      } else {
        close(rd[i]);
        rd[i] = -1;
      }
    }
  }
  if (in_fd >= 0) close(in_fd);
  waitpid(pid, &r.status, 0);
  return r;
}

inline bool WriteAllFd(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

inline std::array<uint8_t, SHA256_DIGEST_SIZE> Sha256Of(const std::string& data) {
  sha256_ctx ctx;
  sha256_init(&ctx);
  sha256_update(&ctx, data.size(), reinterpret_cast<const uint8_t*>(data.data()));
  std::array<uint8_t, SHA256_DIGEST_SIZE> d{};
  sha256_digest(&ctx, d.size(), d.data());
  return d;
}

inline std::string HexOf(const std::array<uint8_t, SHA256_DIGEST_SIZE>& d) {
  std::string s;
  char b[3];
  for (uint8_t c : d) {
    snprintf(b, sizeof(b), "%02x", c);
    s += b;
  }
  return s;
}

inline void AppendU32(std::string* s, uint32_t v) {
  char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
               static_cast<char>(v)};
  s->append(b, 4);
}

// cp-in's stdin for `tar`: frames of `chunk` bytes, the terminator and the digest.
inline std::string Frame(const std::string& tar, size_t chunk = 65536) {
  std::string s;
  for (size_t i = 0; i < tar.size(); i += chunk) {
    std::string part = tar.substr(i, chunk);
    AppendU32(&s, static_cast<uint32_t>(part.size()));
    s += part;
  }
  AppendU32(&s, 0);
  auto d = Sha256Of(tar);
  s.append(reinterpret_cast<const char*>(d.data()), d.size());
  return s;
}

// One entry of a tar made by the host's libarchive.
struct TarEntry {
  std::string name;
  mode_t type = AE_IFREG;
  std::string data;      // regular files
  std::string link;      // symlink target
  std::string hardlink;  // hard link target name
  mode_t perm = 0644;
  int64_t mtime = 1600000000;
  long mtime_ns = 0;
};

inline la_ssize_t AppendCb(archive* /*a*/, void* client, const void* buf, size_t n) {
  static_cast<std::string*>(client)->append(static_cast<const char*>(buf), n);
  return static_cast<la_ssize_t>(n);
}

inline std::string MakeTar(const std::vector<TarEntry>& entries,
                           int format = ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE) {
  std::string out;
  archive* a = archive_write_new();
  archive_write_set_format(a, format);
  archive_write_open(a, &out, nullptr, &AppendCb, nullptr);
  for (const TarEntry& t : entries) {
    archive_entry* e = archive_entry_new();
    archive_entry_copy_pathname(e, t.name.c_str());
    archive_entry_set_filetype(e, t.type);
    archive_entry_set_perm(e, t.perm);
    archive_entry_set_mtime(e, t.mtime, t.mtime_ns);
    if (!t.link.empty()) archive_entry_copy_symlink(e, t.link.c_str());
    if (!t.hardlink.empty()) archive_entry_copy_hardlink(e, t.hardlink.c_str());
    if (t.type == AE_IFCHR) archive_entry_set_rdev(e, makedev(1, 3));
    archive_entry_set_size(
        e, t.type == AE_IFREG && t.hardlink.empty() ? static_cast<la_int64_t>(t.data.size()) : 0);
    archive_write_header(a, e);
    if (!t.data.empty()) archive_write_data(a, t.data.data(), t.data.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

// The names in a tar, in order.
inline std::vector<std::string> TarNames(const std::string& tar, std::vector<mode_t>* types = nullptr) {
  std::vector<std::string> names;
  archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  archive_read_open_memory(a, tar.data(), tar.size());
  archive_entry* e = nullptr;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    names.emplace_back(archive_entry_pathname(e));
    if (types != nullptr) types->push_back(archive_entry_filetype(e));
  }
  archive_read_free(a);
  return names;
}

// Everything about a tree that cp keeps: per relative path, type, mode,
// size, mtime (ns), symlink target, file content.
inline std::map<std::string, std::string> Snapshot(const std::string& root, bool with_owner = false) {
  namespace fs = std::filesystem;
  std::map<std::string, std::string> snap;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); it != fs::recursive_directory_iterator(); ++it) {
    std::string p = it->path().string();
    struct stat st = {};
    lstat(p.c_str(), &st);
    std::string v = std::to_string(st.st_mode) + " " + std::to_string(st.st_size) + " " +
                    std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
    if (with_owner) v += " " + std::to_string(st.st_uid) + ":" + std::to_string(st.st_gid);
    if (S_ISLNK(st.st_mode)) {
      v += " -> " + fs::read_symlink(p).string();
    } else if (S_ISREG(st.st_mode)) {
      std::string data(static_cast<size_t>(st.st_size), '\0');
      int fd = open(p.c_str(), O_RDONLY);
      ssize_t n = read(fd, data.data(), data.size());
      close(fd);
      v += " " + data.substr(0, static_cast<size_t>(std::max<ssize_t>(n, 0)));
    }
    snap[p.substr(root.size())] = v;
  }
  return snap;
}

inline bool HasStaging(const std::string& dir) {
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().filename().string().rfind(".banger-cp-", 0) == 0) return true;
  }
  return false;
}

}  // namespace banger::agent::cp::testing

// `banger-agent fixup`: the steps (see fixup.h). Each step prints one line:
// what it changed on stdout, or its error on stderr; a failed step does not
// stop the others.
#include "fixup.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/random.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "base/unique_fd.h"

namespace banger::agent {
namespace {

void StepError(const char* step, const std::string& what) {
  fprintf(stderr, "banger-agent fixup: %s: %s\n", step, what.c_str());
}
void StepDone(const char* step, const std::string& what) { printf("fixup: %s: %s\n", step, what.c_str()); }

std::string Errno(const char* call) { return std::string(call) + ": " + strerror(errno); }

// Replaces a file's contents in place (O_TRUNC), as the init's `>` does: an
// /etc file may be a bind mount, which a rename could not replace.
bool WriteInPlace(const std::string& path, const std::string& data, std::string* err) {
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) {
    *err = "open " + path + ": " + strerror(errno);
    return false;
  }
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = write(fd.get(), data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      *err = "write " + path + ": " + strerror(errno);
      return false;
    }
    off += static_cast<size_t>(n);
  }
  return true;
}

bool ReadAll(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

// Reads exactly n bytes from stdin (the host closes it after writing them).
size_t ReadStdin(char* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(STDIN_FILENO, buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += static_cast<size_t>(r);
  }
  return got;
}

// The host's time from stdin: 8 bytes, big-endian nanoseconds.
std::optional<int64_t> TimeFromStdin() {
  std::array<unsigned char, 8> b{};
  size_t got = ReadStdin(reinterpret_cast<char*>(b.data()), b.size());
  if (got < b.size()) {
    StepError("clock", "stdin gave " + std::to_string(got) + " of 8 time bytes");
    return std::nullopt;
  }
  uint64_t v = 0;
  for (unsigned char c : b) v = v << 8 | c;
  auto ns = static_cast<int64_t>(v);
  if (!ValidFixupTime(ns)) {
    StepError("clock", "the time from stdin (" + std::to_string(ns) + " ns) is before 2001");
    return std::nullopt;
  }
  return ns;
}

// Reads n bytes of entropy from stdin, mixes them into the kernel's pool
// with full credit, then wipes every copy.
bool AddEntropy(size_t n) {
  // rand_pool_info ends in a flexible array: a buffer of ints holds both.
  std::vector<int> req(2 + (n + sizeof(int) - 1) / sizeof(int), 0);
  auto* info = reinterpret_cast<rand_pool_info*>(req.data());
  size_t got = ReadStdin(reinterpret_cast<char*>(info->buf), n);
  bool ok = false;
  if (got < n) {
    StepError("entropy", "stdin gave " + std::to_string(got) + " of " + std::to_string(n) + " bytes");
  } else {
    info->entropy_count = static_cast<int>(n * 8);
    info->buf_size = static_cast<int>(n);
    UniqueFd fd(open("/dev/random", O_WRONLY | O_CLOEXEC));
    if (!fd.valid()) {
      StepError("entropy", Errno("open /dev/random"));
    } else if (ioctl(fd.get(), RNDADDENTROPY, info) != 0) {
      StepError("entropy", Errno("RNDADDENTROPY"));
    } else {
      ok = true;
      StepDone("entropy",
               "added " + std::to_string(n) + " bytes (" + std::to_string(n * 8) + " bits credited)");
    }
  }
  explicit_bzero(req.data(), req.size() * sizeof(int));
  return ok;
}

bool SetClock(int64_t time_ns) {
  timespec before{};
  clock_gettime(CLOCK_REALTIME, &before);
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(time_ns / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(time_ns % 1'000'000'000);
  if (clock_settime(CLOCK_REALTIME, &ts) != 0) {
    StepError("clock", Errno("clock_settime"));
    return false;
  }
  int64_t was = static_cast<int64_t>(before.tv_sec) * 1'000'000'000 + before.tv_nsec;
  char buf[64];
  snprintf(buf, sizeof(buf), "stepped by %+.3f s", static_cast<double>(time_ns - was) / 1e9);
  StepDone("clock", buf);
  return true;
}

bool SetHostname(const std::string& name) {
  char old[256] = {};
  gethostname(old, sizeof(old) - 1);
  bool ok = true;
  if (name != old && sethostname(name.data(), name.size()) != 0) {
    StepError("hostname", Errno("sethostname"));
    return false;
  }
  std::string err, content;
  if (!ReadAll("/etc/hostname", &content) || content != name + "\n") {
    if (!WriteInPlace("/etc/hostname", name + "\n", &err)) {
      StepError("hostname", err);
      ok = false;
    }
  }
  std::string hosts;
  ReadAll("/etc/hosts", &hosts);  // missing: written with just our line
  std::string want = HostsWithName(hosts, name);
  if (want != hosts && !WriteInPlace("/etc/hosts", want, &err)) {
    StepError("hostname", err);
    ok = false;
  }
  if (ok) StepDone("hostname", name == old ? name + " (unchanged)" : std::string(old) + " -> " + name);
  return ok;
}

bool SetVmId(const std::string& id) {
  std::string old = CurrentVmId();
  if (mkdir("/run/banger", 0755) != 0 && errno != EEXIST) {
    StepError("vm-id", Errno("mkdir /run/banger"));
    return false;
  }
  // Written beside and renamed over: a reader never sees half an id.
  std::string tmp = std::string(kVmIdOverridePath) + ".tmp";
  std::string err;
  if (!WriteInPlace(tmp, id + "\n", &err)) {
    StepError("vm-id", err);
    return false;
  }
  if (rename(tmp.c_str(), kVmIdOverridePath) != 0) {
    StepError("vm-id", Errno("rename to /run/banger/vm_id"));
    unlink(tmp.c_str());
    return false;
  }
  StepDone("vm-id", old == id ? id + " (unchanged)" : (old.empty() ? "(none)" : old) + " -> " + id);
  return true;
}

bool SetResolvConf(uint32_t dns) {
  std::string want = "nameserver " + FormatIpv4(dns) + "\n", have;
  if (ReadAll("/etc/resolv.conf", &have) && have == want) {
    StepDone("dns", FormatIpv4(dns) + " (unchanged)");
    return true;
  }
  // Replaced rather than written through, as the init does: the image may
  // ship a symlink.
  unlink("/etc/resolv.conf");
  std::string err;
  if (!WriteInPlace("/etc/resolv.conf", want, &err)) {
    StepError("dns", err);
    return false;
  }
  StepDone("dns", "nameserver " + FormatIpv4(dns));
  return true;
}

}  // namespace

std::string CurrentVmId() {
  std::string s;
  if (ReadAll(kVmIdOverridePath, &s)) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    if (CheckVmId(s).empty()) return s;
  }
  if (!ReadAll("/proc/cmdline", &s)) return "";
  std::istringstream in(s);
  std::string word;
  while (in >> word) {
    if (word.rfind("banger.vm_id=", 0) == 0) return word.substr(13);
  }
  return "";
}

int RunFixupCommand(int argc, char** argv) {
  std::string err;
  auto args = ParseFixupArgs(argc - 1, argv + 1, &err);
  if (!args) {
    fprintf(stderr, "banger-agent fixup: %s\n", err.c_str());
    return 2;
  }
  auto mono_us = [] {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<long>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
  };
  long t0 = mono_us();
  bool ok = true;
  // The clock first, as soon as its bytes arrive; then the entropy, before
  // anything that could draw from a pool the source VM (or a sibling fork)
  // shares.
  std::optional<int64_t> time_ns = args->time_ns;
  if (args->time_from_stdin) time_ns = TimeFromStdin();
  long t1 = mono_us();  // the work starts once the host's time arrived
  ok = time_ns && SetClock(*time_ns) && ok;
  if (args->entropy_bytes > 0) ok = AddEntropy(args->entropy_bytes) && ok;
  ok = SetHostname(args->hostname) && ok;
  ok = SetVmId(args->vm_id) && ok;
  if (args->nic) {
    std::string changed;
    if (FixupNetwork(*args->nic, &changed)) {
      StepDone("network", changed);
    } else {
      ok = false;
    }
    if (args->nic->dns) ok = SetResolvConf(*args->nic->dns) && ok;
  }
  long t2 = mono_us();
  printf("fixup: %s in %ld us (after %ld us waiting for stdin)\n", ok ? "done" : "failed", t2 - t1, t1 - t0);
  fflush(stdout);
  return ok ? 0 : 1;
}

}  // namespace banger::agent

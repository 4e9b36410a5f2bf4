// cp at size and under hostile input: a 200 MiB file through cp-out ->
// (reframed here) -> cp-in with the agents' peak RSS printed, and a few
// hundred mutated tar streams that cp-in must refuse cleanly.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>

#include "base/testing/temp_dir.h"
#include "cp_test_util.h"

namespace banger::agent::cp::testing {
using banger::testing::TempDir;
namespace {

pid_t Spawn(const std::vector<std::string>& args, int in, int out, int err) {
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    std::vector<std::string> copy = args;
    std::vector<char*> argv;
    std::string bin = BANGER_AGENT_BIN;
    argv.push_back(bin.data());
    for (std::string& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// VmHWM of a running process (KiB), 0 once it is gone. ru_maxrss of a
// forked child would include the test process's own pages from before exec.
long PeakRssKiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

bool SameFile(const std::string& a, const std::string& b) {
  std::ifstream x(a, std::ios::binary);
  std::ifstream y(b, std::ios::binary);
  std::vector<char> bx(1 << 20);
  std::vector<char> by(1 << 20);
  for (;;) {
    x.read(bx.data(), static_cast<std::streamsize>(bx.size()));
    y.read(by.data(), static_cast<std::streamsize>(by.size()));
    if (x.gcount() != y.gcount()) return false;
    if (x.gcount() == 0) return true;
    if (!std::equal(bx.begin(), bx.begin() + x.gcount(), by.begin())) return false;
  }
}

TEST(AgentCpStressTest, TwoHundredMiBFileStreamsThroughBothAgents) {
  TempDir dir("cp-big", {"src", "dst"});
  constexpr size_t kMiB = 1 << 20;
  {
    std::ofstream f(dir / "src/big", std::ios::binary);
    std::string block(kMiB, '\0');
    for (size_t i = 0; i < 200; ++i) {
      for (size_t k = 0; k < block.size(); k += 4096) block[k] = static_cast<char>(i * 31 + k / 4096);
      f.write(block.data(), static_cast<std::streamsize>(block.size()));
    }
  }
  int out_pipe[2];
  int in_pipe[2];
  ASSERT_EQ(pipe2(out_pipe, O_CLOEXEC), 0);
  ASSERT_EQ(pipe2(in_pipe, O_CLOEXEC), 0);
  int out_err = open((dir / "out.err").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  int in_err = open((dir / "in.err").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  int in_out = open((dir / "in.out").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t cp_out = Spawn({"cp-out", dir / "src/big"}, null_fd, out_pipe[1], out_err);
  pid_t cp_in = Spawn({"cp-in", dir / "dst"}, in_pipe[0], in_out, in_err);
  for (int fd : {out_pipe[1], in_pipe[0], out_err, in_err, in_out, null_fd}) close(fd);
  // The host's part: frame what cp-out writes into cp-in, hashing it.
  signal(SIGPIPE, SIG_IGN);
  sha256_ctx ctx;
  sha256_init(&ctx);
  std::vector<char> buf(65536 + 4);
  uint64_t total = 0;
  bool write_ok = true;
  long out_rss = 0;
  long in_rss = 0;
  for (uint64_t round = 0;; ++round) {
    if (round % 64 == 0) {
      // VmHWM only grows within one process image: the last sample is the
      // peak so far (the first ones may still be the forked test process).
      if (long v = PeakRssKiB(cp_out); v > 0) out_rss = v;
      if (long v = PeakRssKiB(cp_in); v > 0) in_rss = v;
    }
    ssize_t n = read(out_pipe[0], buf.data() + 4, 65536);
    if (n <= 0) break;
    total += static_cast<uint64_t>(n);
    sha256_update(&ctx, static_cast<size_t>(n), reinterpret_cast<const uint8_t*>(buf.data() + 4));
    std::string len;
    AppendU32(&len, static_cast<uint32_t>(n));
    memcpy(buf.data(), len.data(), 4);
    write_ok = write_ok && WriteAllFd(in_pipe[1], buf.data(), static_cast<size_t>(n) + 4);
  }
  std::string term;
  AppendU32(&term, 0);
  std::array<uint8_t, SHA256_DIGEST_SIZE> digest{};
  sha256_digest(&ctx, digest.size(), digest.data());
  term.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  write_ok = write_ok && WriteAllFd(in_pipe[1], term.data(), term.size());
  close(in_pipe[1]);
  close(out_pipe[0]);
  int out_status = 0;
  int in_status = 0;
  ASSERT_EQ(waitpid(cp_out, &out_status, 0), cp_out);
  ASSERT_EQ(waitpid(cp_in, &in_status, 0), cp_in);
  EXPECT_TRUE(write_ok);
  ASSERT_TRUE(WIFEXITED(out_status) && WEXITSTATUS(out_status) == 0) << ReadAll(dir / "out.err");
  ASSERT_TRUE(WIFEXITED(in_status) && WEXITSTATUS(in_status) == 0) << ReadAll(dir / "in.err");
  EXPECT_THAT(ReadAll(dir / "out.err"), ::testing::HasSubstr("banger-cp ok sha256=" + HexOf(digest) +
                                                             " bytes=" + std::to_string(total)));
  EXPECT_EQ(ReadAll(dir / "in.out"),
            "banger-cp ok sha256=" + HexOf(digest) + " bytes=" + std::to_string(total) + " entries=1\n");
  EXPECT_TRUE(SameFile(dir / "src/big", dir / "dst/big"));
  // For the report: the agents' peak resident set sizes (VmHWM, sampled
  // while they ran).
  printf("cp 200 MiB: tar bytes=%llu cp-out VmHWM=%ld KiB cp-in VmHWM=%ld KiB\n",
         static_cast<unsigned long long>(total), out_rss, in_rss);
}

// Deterministic mutations of a few valid tars (pax, ustar, gnu), framed with
// a correct digest so the tar reader sees them, plus some broken framings.
TEST(AgentCpStressTest, MutatedStreamsNeverCrashAndLeaveNothing) {
  TempDir dir("cp-fuzz", {"dst", "outside"});
  std::vector<TarEntry> entries = {
      {.name = "d/", .type = AE_IFDIR, .perm = 0755},
      {.name = "d/file", .data = std::string(1500, 'f')},
      {.name = "d/link", .type = AE_IFLNK, .link = "file"},
      {.name = "d/hard", .hardlink = "d/file"},
      {.name = "d/" + std::string(150, 'l') + "/long", .data = "long"},
      {.name = "top", .data = "t", .mtime_ns = 5},
  };
  std::vector<std::string> bases = {MakeTar(entries), MakeTar(entries, ARCHIVE_FORMAT_TAR_USTAR),
                                    MakeTar(entries, ARCHIVE_FORMAT_TAR_GNUTAR)};
  const std::set<std::string> codes = {"not_found", "permission", "no_space",  "read_only", "not_dir",
                                       "exists",    "invalid",    "too_large", "io"};
  std::mt19937 rng(20261130);
  int ok = 0;
  int refused = 0;
  for (int i = 0; i < 300; ++i) {
    std::string tar = bases[rng() % bases.size()];
    size_t used = std::min<size_t>(tar.size(), 6 * 1024);  // where the entries are
    switch (rng() % 4) {
      case 0:  // flip a few bytes
        for (int k = 1 + static_cast<int>(rng() % 8); k > 0; --k)
          tar[rng() % used] = static_cast<char>(rng());
        break;
      case 1:  // a header field set to digits or junk
        for (size_t p = rng() % used, k = 0; k < 12 && p + k < tar.size(); ++k) {
          tar[p + k] = static_cast<char>(rng() % 2 ? '0' + rng() % 10 : rng());
        }
        break;
      case 2:  // cut
        tar.resize(rng() % used);
        break;
      default:  // random bytes spliced in
        tar.insert(rng() % used, std::string(1 + rng() % 600, static_cast<char>(rng())));
        break;
    }
    std::string framed = Frame(tar, 1 + rng() % 5000);
    if (rng() % 10 == 0) framed.resize(rng() % framed.size());
    RunResult r = RunAgent({"cp-in", dir / "dst"}, framed);
    ASSERT_TRUE(WIFEXITED(r.status)) << "mutation " << i << " killed cp-in: " << r.err;
    if (r.exit_code() == 0) {
      ++ok;
    } else {
      ++refused;
      ASSERT_EQ(r.exit_code(), 1) << i << ": " << r.err;
      ASSERT_EQ(codes.count(r.error_code()), 1u) << i << ": " << r.err;
      ASSERT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << i << ": " << r.err;
      ASSERT_TRUE(std::filesystem::is_empty(dir / "dst")) << i << ": a refused stream left something";
    }
    ASSERT_FALSE(HasStaging(dir / "dst")) << i;
    ASSERT_TRUE(std::filesystem::is_empty(dir / "outside")) << i;
    for (const auto& e : std::filesystem::directory_iterator(dir / "dst"))
      std::filesystem::remove_all(e.path());
  }
  printf("mutated streams: %d accepted, %d refused\n", ok, refused);
  EXPECT_GT(refused, 100);
}

}  // namespace
}  // namespace banger::agent::cp::testing

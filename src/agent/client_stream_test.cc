// Bulk data through the agent: stdin and stdout integrity at tens of MiB,
// flow control that keeps the agent's memory bounded, and concurrent execs
// sharing one connection. Throughput is printed as a metric, never asserted.
#include <cstring>

#include "agent/client_test_util.h"
#include "base/process.h"

namespace banger::agent_test {
namespace {

// The hex SHA-256 of data by the host's sha256sum (through the file `path`),
// what the guest's sha256sum must answer too.
Result<std::string> HostSha256(const std::string& path, const std::string& data) {
  BANGER_RETURN_IF_ERROR(WriteFileAtomic(path, data));
  BANGER_ASSIGN_OR_RETURN(auto r, RunChecked({"sha256sum", path}));
  return r.out.substr(0, 64);
}

TEST_F(AgentClientTest, Stdin64MiBIntactWithBoundedAgentMemory) {
  // Pseudo-random input; the expected hash comes from the host's sha256sum.
  std::string data(64 * kMiB, '\0');
  std::mt19937_64 rng(42);
  for (size_t i = 0; i < data.size(); i += 8) {
    uint64_t v = rng();
    memcpy(&data[i], &v, 8);
  }
  auto want = HostSha256(dir_ + "/input", data);
  ASSERT_TRUE(want.ok()) << want.error().message();

  auto conn = Connect();
  ASSERT_TRUE(conn);
  auto ch = conn->Exec(Cmd({"sha256sum"}));
  ASSERT_TRUE(ch.ok());
  auto start = Clock::now();
  // Uneven write sizes, so chunking and credit split data arbitrarily.
  size_t off = 0, step = 1;
  while (off < data.size()) {
    size_t n = std::min(data.size() - off, (step * 7919) % (300 * 1024) + 1);
    ASSERT_TRUE((*ch)->WriteStdin(std::string_view(data).substr(off, n)).ok());
    off += n;
    ++step;
  }
  ASSERT_TRUE((*ch)->CloseStdin().ok());
  auto r = Drain(**ch);
  auto elapsed = Clock::now() - start;
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->exit.code, 0);
  EXPECT_EQ(r->out.substr(0, 64), *want);
  size_t rss = RssBytes(agent_pid_);
  EXPECT_LT(rss, 64 * kMiB);
  printf("[ metric ] stdin throughput: %.1f MiB/s (64 MiB into sha256sum); agent VmRSS after: %.1f MiB\n",
         MiBPerSec(data.size(), elapsed), static_cast<double>(rss) / kMiB);
}

TEST_F(AgentClientTest, StdinIntactOnEveryExecOfOneConnection) {
  // What `banger vm exec -i` does: one AgentConn per VM, stdin in 32 KiB calls.
  std::string data = PseudoRandom(1288895, 7);
  auto want = HostSha256(dir_ + "/input", data);
  ASSERT_TRUE(want.ok()) << want.error().message();

  auto conn = Connect();
  ASSERT_TRUE(conn);
  for (int i = 0; i < 6; ++i) {
    auto wc = FeedAndDrain(*conn, Cmd({"wc", "-c"}), data, 32 * 1024);
    ASSERT_TRUE(wc.ok()) << "exec " << i << ": " << wc.error().message();
    EXPECT_EQ(wc->out, std::to_string(data.size()) + "\n") << "wc exec " << i;
    auto sum = FeedAndDrain(*conn, Cmd({"sha256sum"}), data, 32 * 1024);
    ASSERT_TRUE(sum.ok()) << "exec " << i << ": " << sum.error().message();
    EXPECT_EQ(sum->out.substr(0, 64), *want) << "sha256sum exec " << i;
  }
}

// As the daemon does it: a Ping before every exec (the pool's liveness
// check), Next() on its own thread while this one writes stdin.
TEST_F(AgentClientTest, StdinIntactLikeTheDaemon) {
  std::string data = PseudoRandom(1288895, 9);
  auto conn = Connect();
  ASSERT_TRUE(conn);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(conn->Ping(2s).ok());
    auto ch = conn->Exec(Sh(i % 2 ? "wc -c" : "sleep 0.2; wc -c"));
    ASSERT_TRUE(ch.ok());
    Result<Collected> r = Error::Internal("not run");
    std::thread reader([&] { r = Drain(**ch); });
    for (size_t off = 0; off < data.size(); off += 32 * 1024) {
      ASSERT_TRUE((*ch)->WriteStdin(std::string_view(data).substr(off, 32 * 1024)).ok());
    }
    ASSERT_TRUE((*ch)->CloseStdin().ok());
    reader.join();
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r->out, std::to_string(data.size()) + "\n") << "exec " << i;
  }
}

TEST_F(AgentClientTest, StdinIntactWithInterleavedExecs) {
  // Several commands at once on one connection, their stdin written in
  // 32 KiB calls that take turns, and a later round on the same connection
  // (fresh channel ids, credit state of finished channels left behind).
  auto conn = Connect();
  ASSERT_TRUE(conn);
  constexpr int kExecs = 4;
  std::vector<std::string> inputs;
  for (int i = 0; i < kExecs; ++i) inputs.push_back(PseudoRandom(kMiB + 12345 * i, 100 + i));
  for (int round = 0; round < 3; ++round) {
    std::vector<std::unique_ptr<ExecChannel>> chans;
    std::vector<Result<Collected>> results(kExecs, Error::Internal("not run"));
    std::vector<std::thread> readers;
    for (int i = 0; i < kExecs; ++i) {
      auto ch = conn->Exec(Cmd({"sha256sum"}));
      ASSERT_TRUE(ch.ok()) << ch.error().message();
      chans.push_back(std::move(*ch));
    }
    for (int i = 0; i < kExecs; ++i) readers.emplace_back([&, i] { results[i] = Drain(*chans[i]); });
    for (size_t off = 0;; off += 32 * 1024) {
      bool any = false;
      for (int i = 0; i < kExecs; ++i) {
        if (off >= inputs[i].size()) continue;
        any = true;
        ASSERT_TRUE(chans[i]->WriteStdin(std::string_view(inputs[i]).substr(off, 32 * 1024)).ok());
      }
      if (!any) break;
    }
    for (auto& ch : chans) ASSERT_TRUE(ch->CloseStdin().ok());
    for (auto& t : readers) t.join();
    for (int i = 0; i < kExecs; ++i) {
      ASSERT_TRUE(results[i].ok()) << results[i].error().message();
      auto want = HostSha256(dir_ + "/in" + std::to_string(i), inputs[i]);
      ASSERT_TRUE(want.ok()) << want.error().message();
      EXPECT_EQ(results[i]->out.substr(0, 64), *want) << "round " << round << " exec " << i;
    }
  }
}

TEST_F(AgentClientTest, StdinThroughput) {
  auto conn = Connect();
  ASSERT_TRUE(conn);
  auto ch = conn->Exec(Cmd({"wc", "-c"}));
  ASSERT_TRUE(ch.ok());
  std::string chunk(kMiB, 'x');
  auto start = Clock::now();
  for (int i = 0; i < 64; ++i) ASSERT_TRUE((*ch)->WriteStdin(chunk).ok());
  ASSERT_TRUE((*ch)->CloseStdin().ok());
  auto r = Drain(**ch);
  auto elapsed = Clock::now() - start;
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out, "67108864\n");
  printf("[ metric ] stdin throughput: %.1f MiB/s (64 MiB into wc -c)\n", MiBPerSec(64 * kMiB, elapsed));
}

TEST_F(AgentClientTest, Stdout64MiBReadFully) {
  auto conn = Connect();
  ASSERT_TRUE(conn);
  auto start = Clock::now();
  auto ch = conn->Exec(Sh("head -c 64M /dev/zero"));
  ASSERT_TRUE(ch.ok());
  size_t total = 0;
  bool all_zero = true;
  int eofs = 0;
  ExitStatus exit;
  for (;;) {
    auto ev = (*ch)->Next();
    ASSERT_TRUE(ev.ok()) << ev.error().message();
    if (ev->kind == ExecEvent::kExit) {
      exit = ev->exit;
      break;
    }
    if (ev->kind == ExecEvent::kStdoutEof) {
      ++eofs;
      continue;
    }
    ASSERT_EQ(ev->kind, ExecEvent::kStdout);
    ASSERT_EQ(eofs, 0) << "output after stdout's EOF";
    total += ev->data.size();
    all_zero = all_zero && std::all_of(ev->data.begin(), ev->data.end(), [](char c) { return c == 0; });
  }
  auto elapsed = Clock::now() - start;
  EXPECT_EQ(total, 64 * kMiB);
  EXPECT_EQ(eofs, 1);  // stdout's end, once, before EXIT
  EXPECT_TRUE(all_zero);
  EXPECT_EQ(exit.code, 0);
  size_t rss = RssBytes(agent_pid_);
  EXPECT_LT(rss, 64 * kMiB);
  printf("[ metric ] stdout throughput: %.1f MiB/s (64 MiB from head); agent VmRSS after: %.1f MiB\n",
         MiBPerSec(total, elapsed), static_cast<double>(rss) / kMiB);
}

TEST_F(AgentClientTest, SlowConsumerDoesNotGrowAgentMemory) {
  auto conn = Connect();
  ASSERT_TRUE(conn);
  size_t before = RssBytes(agent_pid_);
  auto ch = conn->Exec(Sh("head -c 32M /dev/zero"));
  ASSERT_TRUE(ch.ok());
  size_t total = 0, peak = 0;
  for (int i = 0;; ++i) {
    auto ev = (*ch)->Next();
    ASSERT_TRUE(ev.ok()) << ev.error().message();
    if (ev->kind == ExecEvent::kExit) break;
    total += ev->data.size();
    if (i < 40) std::this_thread::sleep_for(25ms);  // a slow reader for the first second
    peak = std::max(peak, RssBytes(agent_pid_));
  }
  EXPECT_EQ(total, 32 * kMiB);
  // The agent holds at most a bounded backlog: far less than the output.
  EXPECT_LT(peak, before + 4 * kMiB) << "before " << before << " peak " << peak;
}

TEST_F(AgentClientTest, EightConcurrentExecsOnOneConnection) {
  auto conn = Connect();
  ASSERT_TRUE(conn);
  std::vector<std::thread> threads;
  std::vector<std::string> problems(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      size_t size = (i + 1) * 512 * 1024;
      std::string tag = "done-" + std::to_string(i);
      auto ch = conn->Exec(Sh("head -c " + std::to_string(size) + " /dev/zero; echo " + tag + " >&2; exit " +
                              std::to_string(i)));
      if (!ch.ok()) {
        problems[i] = ch.error().message();
        return;
      }
      auto r = Drain(**ch);
      if (!r.ok()) {
        problems[i] = r.error().message();
      } else if (r->out.size() != size || r->err != tag + "\n" || r->exit.code != i) {
        problems[i] = "out " + std::to_string(r->out.size()) + " err '" + r->err + "' exit " +
                      std::to_string(r->exit.ShellCode());
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < 8; ++i) EXPECT_EQ(problems[i], "") << "exec " << i;
}

}  // namespace
}  // namespace banger::agent_test

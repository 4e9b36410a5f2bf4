// CpService against the real static banger-agent run on the host (the
// GuestExec fixture): the agent's cp-out / cp-in / stat / ls as the daemon
// drives them, digests checked, guest error codes carried, nothing
// committed when the stream breaks, a silent guest ended by the idle limit.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>

#include "base/fs.h"
#include "daemon/cp_service.h"
#include "daemon/cp_tar.h"
#include "daemon/testing/guest_exec_fixture.h"

namespace banger {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

class CpServiceExecTest : public GuestExecTest {
 protected:
  std::unique_ptr<CpService> Cp(CpOptions o = {}) {
    return std::make_unique<CpService>(*svc_, BANGER_AGENT_BIN, o);
  }
  static CpSource Once(std::string data) {
    auto sent = std::make_shared<bool>(false);
    return [data = std::move(data), sent]() -> Result<std::optional<std::string>> {
      if (*sent) return std::optional<std::string>();
      *sent = true;
      return std::optional<std::string>(data);
    };
  }
};

TEST_F(CpServiceExecTest, FilesRoundTripAndListings) {
  MustCreate("a");
  auto cp = Cp();
  const std::string dir = root_ + "/g";
  fs::create_directories(dir);
  std::string data(3 << 20, 'x');
  for (size_t i = 0; i < data.size(); i += 4093) data[i] = static_cast<char>(i);
  auto w = cp->WriteFile("a", dir + "/f.bin", data, 0640, "");
  ASSERT_TRUE(w.ok()) << w.error().message();
  EXPECT_EQ(w->entries, 1);
  auto r = cp->ReadFile("a", dir + "/f.bin", 8 << 20);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(*r, data);
  auto st = cp->Stat("a", dir + "/f.bin");
  ASSERT_TRUE(st.ok()) << st.error().message();
  EXPECT_EQ(st->value("type", ""), "file");
  EXPECT_EQ(st->value("mode", 0), 0640);
  auto ls = cp->List("a", dir);
  ASSERT_TRUE(ls.ok()) << ls.error().message();
  ASSERT_EQ((*ls)["entries"].size(), 1U);
  EXPECT_EQ((*ls)["entries"][0].value("name", ""), "f.bin");
  // Too large for the files API: said so, before any copy.
  std::string code;
  auto big = cp->ReadFile("a", dir + "/f.bin", 1000, &code);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(code, "too_large");
}

TEST_F(CpServiceExecTest, ArchiveOutIsVerifiedAndErrorsKeepTheirCode) {
  MustCreate("a");
  auto cp = Cp();
  const std::string dir = root_ + "/tree";
  fs::create_directories(dir + "/sub");
  ASSERT_TRUE(WriteFileAtomic(dir + "/sub/a", std::string(200000, 'a')).ok());
  std::string tar;
  auto out = cp->CopyOut("a", dir, false, [&](std::string_view d) {
    tar.append(d);
    return OkStatus();
  });
  ASSERT_TRUE(out.ok()) << out.error().message();
  EXPECT_EQ(out->bytes, static_cast<int64_t>(tar.size()));
  EXPECT_EQ(out->sha256, Sha256::Hex(tar));
  EXPECT_NE(tar.find("tree/sub/a"), std::string::npos);
  std::string code;
  auto missing = cp->CopyOut(
      "a", root_ + "/nope", false, [](std::string_view) { return OkStatus(); }, &code);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(code, "not_found");
  EXPECT_EQ(CpHttpStatus(code), 404);
  EXPECT_NE(missing.error().message().find("/nope"), std::string::npos) << missing.error().message();
  // A sink that fails (the client went away) ends the copy with its error.
  auto gone = cp->CopyOut("a", dir, false,
                          [](std::string_view) -> Status { return Error::Unavailable("client gone"); });
  ASSERT_FALSE(gone.ok());
  EXPECT_NE(gone.error().message().find("client gone"), std::string::npos);
}

TEST_F(CpServiceExecTest, ArchiveInCommitsOnlyAWholeStream) {
  MustCreate("a");
  auto cp = Cp();
  const std::string dest = root_ + "/dest";
  fs::create_directories(dest);
  auto tar = SingleFileTar("new.txt", std::string(100000, 'n'), 0600);
  ASSERT_TRUE(tar.ok());
  // The source breaks half way: nothing under DEST, not even the staging directory.
  auto half = std::make_shared<int>(0);
  CpSource broken = [&, half]() -> Result<std::optional<std::string>> {
    if ((*half)++ == 0) return std::optional<std::string>(tar->substr(0, tar->size() / 2));
    return Error::Unavailable("the client went away");
  };
  auto r = cp->CopyIn("a", dest, "", broken);
  ASSERT_FALSE(r.ok());
  // The agent was killed or saw the end without the digest; give it a moment to clean up.
  for (int i = 0; i < 100 && !fs::is_empty(dest); ++i) std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(fs::is_empty(dest));
  // The whole stream commits.
  auto ok = cp->CopyIn("a", dest, "", Once(*tar));
  ASSERT_TRUE(ok.ok()) << ok.error().message();
  EXPECT_EQ(ok->sha256, Sha256::Hex(*tar));
  EXPECT_EQ(fs::file_size(dest + "/new.txt"), 100000U);
  // Into a missing directory: not_found; a hostile name: invalid.
  std::string code;
  auto nodir = cp->CopyIn("a", root_ + "/nodir", "", Once(*tar), &code);
  ASSERT_FALSE(nodir.ok());
  EXPECT_EQ(code, "not_found");
  code.clear();
  std::string evil = *tar;
  evil.replace(0, 7, "../x.tx");  // the entry's name field
  auto bad = cp->CopyIn("a", dest, "", Once(evil), &code);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(code, "invalid") << bad.error().message();
}

TEST_F(CpServiceExecTest, ASilentGuestEndsTheCopyAtTheIdleLimit) {
  MustCreate("a");
  CpOptions o;
  o.idle_timeout = 500ms;
  auto cp = Cp(o);
  ASSERT_TRUE(WriteFileAtomic(root_ + "/big", std::string(8 << 20, 'b')).ok());
  // The guest goes silent after its first bytes (the agent is stopped).
  bool stopped = false;
  auto t0 = std::chrono::steady_clock::now();
  auto r = cp->CopyOut("a", root_ + "/big", false, [&](std::string_view) {
    if (!stopped) stopped = ::kill(agent_pid_, SIGSTOP) == 0;
    return OkStatus();
  });
  ::kill(agent_pid_, SIGCONT);
  ASSERT_TRUE(stopped);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kTimeout) << r.error().message();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 20s);
}

}  // namespace
}  // namespace banger

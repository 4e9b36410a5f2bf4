// OCI images end to end: a local registry (Debian's docker-registry on
// 127.0.0.1, started and stopped here), an image made with umoci (busybox,
// Env/WorkingDir/Cmd, a file added in layer 1 and whited out in layer 2)
// pushed with skopeo; `image pull`, booting it, the shared layer cache
// (t:2 = t:1 + one layer downloads one layer), `image build --from-oci` of
// a docker-archive, refused crafted layers, a registry error, and `image
// delete` freeing the layers no other image uses.
#include <gtest/gtest.h>

#include <thread>

#include "e2e_util.h"
#include "oci_fixture.h"

namespace banger::e2e {
namespace {

using namespace std::chrono_literals;
using oci_test::BlobCount;

constexpr const char* kCmd = "echo $FOO; pwd; id -u; ls /gone || echo gone-is-absent";

class OciE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    home_ = new BangerHome();
    work_ = home_->root() + ".work";  // outside the home: the registry and the image sources
    std::filesystem::create_directories(work_);
    home_->WriteConfig(
        "backend = \"qemu\"\nqemu_accel = \"tcg\"\nstop_timeout = \"5s\"\nnetwork = \"off\"\n"
        "[vm_defaults]\nvcpu_count = 1\nmemory_mib = 512\nwork_disk_size = \"256M\"\n"
        "system_overlay_size = \"1G\"\n");
    registry_ = new oci_test::LocalRegistry();
    auto st = registry_->Start(work_ + "/registry");
    ASSERT_TRUE(st.ok()) << st.error().message();
    maker_ = new oci_test::OciImageMaker(work_ + "/img");
    ASSERT_TRUE(maker_->Init("base").ok());
    st = maker_->AddLayer("base", "t1", [](const std::string& root) -> Status {
      BANGER_RETURN_IF_ERROR(oci_test::StageBusybox(root));
      BANGER_RETURN_IF_ERROR(MakeDirs(root + "/srv"));
      return WriteFileAtomic(root + "/gone", "here\n", 0644);
    });
    ASSERT_TRUE(st.ok()) << st.error().message();
    st = maker_->AddLayer("t1", "t1", [](const std::string& root) { return RemoveFile(root + "/gone"); });
    ASSERT_TRUE(st.ok()) << st.error().message();
    st = maker_->Config("t1", {"--config.env", "FOO=bar", "--config.env", "PATH=/bin", "--config.workingdir",
                               "/srv", "--config.user", "1000:1000", "--config.cmd", "sh", "--config.cmd",
                               "-c", "--config.cmd", kCmd});
    ASSERT_TRUE(st.ok()) << st.error().message();
    st = maker_->AddLayer(
        "t1", "t2", [](const std::string& root) { return WriteFileAtomic(root + "/srv/new", "2\n", 0644); });
    ASSERT_TRUE(st.ok()) << st.error().message();
    ASSERT_TRUE(maker_->Push("t1", registry_->host() + "/t:1").ok());
    ASSERT_TRUE(maker_->Push("t2", registry_->host() + "/t:2").ok());
  }
  static void TearDownTestSuite() {
    delete home_;  // stops the daemon first
    delete registry_;
    delete maker_;
    std::filesystem::remove_all(work_);
    home_ = nullptr;
  }
  void SetUp() override {
    if (!home_ || HasFatalFailure()) GTEST_SKIP() << "setup failed";
  }
  static std::string Layout() { return home_->root() + "/oci"; }
  static bool ImageListed(const std::string& name) {
    for (const auto& img : home_->BangerJson({"image", "list"})) {
      if (img["name"] == name) return true;
    }
    return false;
  }
  // The rootfs's root directory listing (debugfs, no mount).
  static std::string RootListing(const std::string& image) {
    Json img = home_->BangerJson({"image", "show", image});
    auto r = RunCommand({"debugfs", "-R", "ls -l /", img["rootfs_path"].get<std::string>()});
    return r.ok() ? r->out : "";
  }

  static BangerHome* home_;
  static oci_test::LocalRegistry* registry_;
  static oci_test::OciImageMaker* maker_;
  static std::string work_;
};
BangerHome* OciE2E::home_ = nullptr;
oci_test::LocalRegistry* OciE2E::registry_ = nullptr;
oci_test::OciImageMaker* OciE2E::maker_ = nullptr;
std::string OciE2E::work_;

TEST_F(OciE2E, PullRunsTheImageAndSharesLayers) {
  const std::string ref = registry_->host() + "/t:1";
  CliRun p = home_->Banger({"image", "pull", ref}, 600s);
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_EQ(Trim(p.out), "t-1");
  Json img = home_->BangerJson({"image", "show", "t-1"});
  EXPECT_EQ(img["source"]["kind"], "oci");
  EXPECT_EQ(img["source"]["ref"], ref);
  EXPECT_EQ(img["source"]["digest"].get<std::string>().rfind("sha256:", 0), 0u);
  ASSERT_EQ(img["source"]["layers"].size(), 2u) << img.dump();
  EXPECT_EQ(img["source"]["config"]["env"], Json::parse(R"(["FOO=bar", "PATH=/bin"])"));
  EXPECT_EQ(img["source"]["config"]["working_dir"], "/srv");
  EXPECT_EQ(img["source"]["config"]["cmd"], Json::parse(std::string(R"(["sh", "-c", ")") + kCmd + "\"]"));
  EXPECT_GT(img["size_bytes"].get<int64_t>(), 0);
  // Layer 2's whiteout took /gone out of the root; banger added nothing.
  const std::string listing = RootListing("t-1");
  EXPECT_NE(listing.find(" bin"), std::string::npos) << listing;
  EXPECT_EQ(listing.find(" gone"), std::string::npos) << listing;
  EXPECT_EQ(listing.find(" sbin"), std::string::npos) << listing;
  CliRun list = home_->Banger({"image", "list"});
  EXPECT_NE(list.out.find(ref + "@sha256:"), std::string::npos) << list.out;

  EXPECT_EQ(img["source"]["config"]["user"], "1000:1000");
  // Boots with no init of its own; with no command, `vm run` runs the
  // image's Cmd with its env, working dir and user.
  CliRun run = home_->Banger({"vm", "run", "--rm", "--image", "t-1"}, 300s);
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(run.out, "bar\n/srv\n1000\ngone-is-absent\n") << run.err;

  // t:2 is t:1 plus one layer: only that layer (and t:2's own manifest and
  // config) is downloaded.
  const int blobs = BlobCount(Layout());
  CliRun p2 = home_->Banger({"image", "pull", registry_->host() + "/t:2", "--name", "t2"}, 600s);
  ASSERT_EQ(p2.code, 0) << p2.err;
  EXPECT_EQ(BlobCount(Layout()), blobs + 3);
  Json img2 = home_->BangerJson({"image", "show", "t2"});
  ASSERT_EQ(img2["source"]["layers"].size(), 3u);
  EXPECT_EQ(img2["source"]["layers"][0], img["source"]["layers"][0]);
  EXPECT_EQ(img2["source"]["layers"][1], img["source"]["layers"][1]);
}

// A VM of a pulled image works with the rest of banger: exec with the
// image's defaults and their overrides, vm cp both ways, sessions, and a
// snapshot restored, a fork, a template and a warm start from it.
TEST_F(OciE2E, AVmOfAnOciImageWorksWithExecCpSessionsAndSnapshots) {
  if (!ImageListed("t-1")) GTEST_SKIP() << "t-1 was not pulled";
  ASSERT_EQ(home_->Banger({"vm", "create", "--image", "t-1", "--name", "o1"}, 300s).code, 0);
  CliRun e = home_->Banger({"vm", "exec", "o1", "--", "sh", "-c", "echo $FOO; pwd; id -u"}, 120s);
  EXPECT_EQ(e.out, "bar\n/srv\n1000\n") << e.err;
  e = home_->Banger(
      {"vm", "exec", "-u", "0", "-w", "/", "-e", "FOO=baz", "o1", "--", "sh", "-c", "echo $FOO; pwd; id -u"},
      120s);
  EXPECT_EQ(e.out, "baz\n/\n0\n") << e.err;
  e = home_->Banger({"vm", "exec", "--no-image-env", "o1", "--", "/bin/sh", "-c", "echo ${FOO:-unset}"},
                    120s);
  EXPECT_EQ(e.out, "unset\n") << e.err;

  const std::string src = work_ + "/cp-src.txt";
  ASSERT_TRUE(WriteFileAtomic(src, "copied in\n", 0644).ok());
  CliRun c = home_->Banger({"vm", "cp", src, "o1:/srv/in.txt"}, 120s);
  ASSERT_EQ(c.code, 0) << c.err;
  c = home_->Banger({"vm", "cp", "o1:/srv/in.txt", work_ + "/cp-back.txt"}, 120s);
  ASSERT_EQ(c.code, 0) << c.err;
  auto back = ReadFile(work_ + "/cp-back.txt");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, "copied in\n");

  CliRun s = home_->Banger(
      {"session", "start", "o1", "--name", "s1", "--", "sh", "-c", "echo $FOO from $(id -u)"}, 120s);
  ASSERT_EQ(s.code, 0) << s.err;
  std::string logs;
  for (int i = 0; i < 50 && logs.find("bar from 1000") == std::string::npos; ++i) {
    logs = home_->Banger({"session", "logs", "s1", "--vm", "o1"}, 60s).out;
    if (logs.find("bar from 1000") == std::string::npos) std::this_thread::sleep_for(200ms);
  }
  EXPECT_NE(logs.find("bar from 1000"), std::string::npos) << logs;

  ASSERT_EQ(
      home_->Banger({"vm", "exec", "-u", "0", "o1", "--", "sh", "-c", "echo one >/srv/state"}, 120s).code, 0);
  CliRun snap = home_->Banger({"vm", "snapshot", "create", "o1", "--name", "one"}, 300s);
  ASSERT_EQ(snap.code, 0) << snap.err;
  ASSERT_EQ(
      home_->Banger({"vm", "exec", "-u", "0", "o1", "--", "sh", "-c", "echo two >/srv/state"}, 120s).code, 0);
  ASSERT_EQ(home_->Banger({"vm", "stop", "o1"}, 120s).code, 0);
  CliRun r = home_->Banger({"vm", "restore", "o1", "--snapshot", "one"}, 300s);
  ASSERT_EQ(r.code, 0) << r.err;
  e = home_->Banger({"vm", "exec", "o1", "--", "cat", "/srv/state"}, 120s);
  EXPECT_EQ(e.out, "one\n") << e.err;
  // A fork: the agent's fixup renames it; the image's defaults still apply.
  CliRun f = home_->Banger({"vm", "fork", "o1", "--name", "o1f"}, 300s);
  ASSERT_EQ(f.code, 0) << f.err;
  e = home_->Banger({"vm", "exec", "o1f", "--", "sh", "-c", "hostname; cat /srv/state; id -u"}, 120s);
  EXPECT_EQ(e.out, "o1f\none\n1000\n") << e.err;
  EXPECT_EQ(home_->Banger({"vm", "delete", "o1f"}, 120s).code, 0);
  EXPECT_EQ(home_->Banger({"vm", "delete", "o1"}, 120s).code, 0);

  // A template of it (its settle is the agent's sync: no init to wait for),
  // then a warm start runs the image's command.
  CliRun t = home_->Banger({"image", "template", "create", "t-1"}, 600s);
  ASSERT_EQ(t.code, 0) << t.err;
  CliRun warm = home_->Banger({"vm", "run", "--rm", "--image", "t-1"}, 300s);
  EXPECT_EQ(warm.code, 0) << warm.err;
  EXPECT_EQ(warm.out, "bar\n/srv\n1000\ngone-is-absent\n") << warm.err;
}

TEST_F(OciE2E, BuildFromDockerArchive) {
  const std::string tar = work_ + "/t1-docker.tar";
  ASSERT_TRUE(oci_test::Tool({"skopeo", "--insecure-policy", "copy", "oci:" + maker_->layout() + ":t1",
                              "docker-archive:" + tar + ":t:1"})
                  .ok());
  CliRun b = home_->Banger({"image", "build", "fromtar", "--from-oci", tar}, 600s);
  ASSERT_EQ(b.code, 0) << b.err;
  Json img = home_->BangerJson({"image", "show", "fromtar"});
  EXPECT_EQ(img["source"]["kind"], "oci");
  EXPECT_EQ(img["source"]["ref"], tar);
  EXPECT_EQ(img["source"]["config"]["working_dir"], "/srv");
  const std::string listing = RootListing("fromtar");
  EXPECT_NE(listing.find(" bin"), std::string::npos) << listing;
  EXPECT_EQ(listing.find(" gone"), std::string::npos) << listing;
}

TEST_F(OciE2E, RefusesLayersEscapingTheRoot) {
  struct Case {
    std::string name;
    std::vector<oci_test::CraftedEntry> entries;
    std::string expect;
  };
  const std::string marker = "banger-oci-e2e-" + std::to_string(::getpid());
  std::vector<Case> cases = {
      {"dotdot",
       {{"../../etc/" + marker, 'f', ""}},
       "entry \"../../etc/" + marker + "\" has a \"..\" component"},
      {"abslink",
       {{"evil", 'l', "/etc"}, {"evil/" + marker, 'f', ""}},
       "goes through symlink \"/evil\" with absolute target \"/etc\""},
  };
  for (const Case& c : cases) {
    const std::string dir = work_ + "/crafted-" + c.name;
    ASSERT_TRUE(oci_test::WriteCraftedLayout(dir, "x", c.entries).ok());
    // Through the registry, and straight from the layout directory.
    ASSERT_TRUE(oci_test::Tool({"skopeo", "--insecure-policy", "copy", "--dest-tls-verify=false",
                                "oci:" + dir + ":x", "docker://" + registry_->host() + "/" + c.name + ":1"})
                    .ok());
    CliRun p = home_->Banger({"image", "pull", registry_->host() + "/" + c.name + ":1"}, 300s);
    EXPECT_EQ(p.code, 1);
    EXPECT_NE(p.err.find(c.expect), std::string::npos) << p.err;
    EXPECT_EQ(std::count(p.err.begin(), p.err.end(), '\n'), 1) << p.err;
    EXPECT_FALSE(ImageListed(c.name + "-1"));
    CliRun b = home_->Banger({"image", "build", c.name, "--from-oci", dir}, 300s);
    EXPECT_EQ(b.code, 1);
    EXPECT_NE(b.err.find(c.expect), std::string::npos) << b.err;
    EXPECT_FALSE(ImageListed(c.name));
    EXPECT_FALSE(PathExists("/etc/" + marker));
  }
  // Nothing half-made: no artifact directory but the good images'.
  int dirs = 0;
  for (const auto& e : std::filesystem::directory_iterator(home_->root() + "/images"))
    dirs += e.is_directory();
  EXPECT_EQ(dirs, static_cast<int>(home_->BangerJson({"image", "list"}).size()));
}

TEST_F(OciE2E, RegistryErrorsAreOneLine) {
  CliRun p = home_->Banger({"image", "pull", registry_->host() + "/t:nope"}, 120s);
  EXPECT_EQ(p.code, 1);
  EXPECT_EQ(p.err, "banger: " + registry_->host() + "/t:nope: no such image or tag (manifest unknown)\n");
  CliRun bad = home_->Banger({"image", "pull", "Not A Ref"}, 60s);
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("invalid image reference"), std::string::npos) << bad.err;
  EXPECT_FALSE(ImageListed("t-nope"));
}

TEST_F(OciE2E, DeleteFreesLayersNoOtherImageUses) {
  ASSERT_TRUE(ImageListed("t-1") && ImageListed("t2")) << "needs the pull test's images";
  // Refused pulls left their blobs (kept for a retry); prune takes them.
  CliRun prune = home_->Banger({"image", "prune"});
  EXPECT_EQ(prune.code, 0) << prune.err;
  EXPECT_EQ(prune.out.rfind("freed ", 0), 0u) << prune.out;
  const int blobs = BlobCount(Layout());
  // t2's own layer, config and manifest go; t-1's layers stay.
  CliRun d = home_->Banger({"image", "delete", "t2"});
  ASSERT_EQ(d.code, 0) << d.err;
  EXPECT_EQ(BlobCount(Layout()), blobs - 3);
  ASSERT_EQ(home_->Banger({"image", "delete", "t-1"}).code, 0);
  if (ImageListed("fromtar")) {
    ASSERT_EQ(home_->Banger({"image", "delete", "fromtar"}).code, 0);
  }
  EXPECT_EQ(BlobCount(Layout()), 0);
}

}  // namespace
}  // namespace banger::e2e

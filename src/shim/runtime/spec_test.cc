#include "runtime/spec.h"

#include <gtest/gtest.h>
#include <sys/mount.h>

#include "model/types.h"
#include "runtime/args.h"
#include "runtime/container.h"

namespace banger::shim {
namespace {

Json Config(Json process) { return Json{{"ociVersion", "1.0.2"}, {"process", std::move(process)}}; }

TEST(SpecTest, ReadsTheProcessAndTheRest) {
  Json c = Config({{"args", {"sh", "-c", "exit 3"}},
                   {"env", {"PATH=/bin", "A=1", "A=2", "EMPTY="}},
                   {"cwd", "/work"},
                   {"user", {{"uid", 1000}, {"gid", 100}}},
                   {"terminal", true},
                   {"consoleSize", {{"height", 40}, {"width", 120}}}});
  c["root"] = {{"path", "rootfs"}, {"readonly", true}};
  c["annotations"] = {{kSandboxIdKey, "pod1"}, {kContainerTypeKey, "container"}, {"n", 1}};
  c["linux"] = {
      {"resources", {{"memory", {{"limit", 300 << 20}}}, {"cpu", {{"quota", 150000}, {"period", 100000}}}}}};
  auto s = ParseContainerSpec(c, "/b");
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(s->process.args, (std::vector<std::string>{"sh", "-c", "exit 3"}));
  EXPECT_EQ(s->process.env.at("A"), "2");
  EXPECT_EQ(s->process.env.at("EMPTY"), "");
  EXPECT_EQ(s->process.cwd, "/work");
  EXPECT_EQ(s->process.User(), "1000:100");
  EXPECT_TRUE(s->process.terminal);
  EXPECT_EQ(s->process.rows, 40);
  EXPECT_EQ(s->process.cols, 120);
  EXPECT_EQ(s->root_path, "/b/rootfs");
  EXPECT_TRUE(s->root_readonly);
  EXPECT_EQ(s->annotations.count("n"), 0u);  // not a string: ignored
  EXPECT_EQ(s->SandboxId(), "pod1");
  EXPECT_FALSE(s->OwnsVm());
  EXPECT_EQ(s->memory_limit_bytes, 300 << 20);
  EXPECT_EQ(s->cpus, 2);
}

TEST(SpecTest, ASandboxOrALoneContainerOwnsItsVm) {
  Json c = Config({{"args", {"true"}}});
  auto lone = ParseContainerSpec(c, "/b");
  ASSERT_TRUE(lone.ok());
  EXPECT_TRUE(lone->OwnsVm());
  EXPECT_EQ(lone->process.cwd, "/");
  EXPECT_EQ(lone->process.User(), "0:0");
  c["annotations"] = {{kSandboxIdKey, "p"}, {kContainerTypeKey, "sandbox"}};
  auto sandbox = ParseContainerSpec(c, "/b");
  ASSERT_TRUE(sandbox.ok());
  EXPECT_TRUE(sandbox->OwnsVm());
  EXPECT_EQ(sandbox->SandboxId(), "p");
}

TEST(SpecTest, RefusesWhatCannotRun) {
  const std::vector<std::pair<Json, std::string>> bad = {
      {Json::object(), "no process"},
      {Config({{"args", Json::array()}}), "non-empty"},
      {Config({{"args", {1}}}), "strings"},
      {Config({{"args", {"x"}}, {"env", {"NOEQUALS"}}}), "KEY=VALUE"},
      {Config({{"args", {"x"}}, {"env", {"=v"}}}), "KEY=VALUE"},
      {Config({{"args", {"x"}}, {"cwd", "rel"}}), "absolute"},
      {Config({{"args", {"x"}}, {"user", {{"uid", -1}}}}), "non-negative"},
      {Config({{"args", {"x"}}, {"user", {{"uid", 1LL << 40}}}}), "too big"},
      {Config({{"args", {"x"}}, {"terminal", "yes"}}), "true or false"},
      {Json::array(), "not a JSON object"},
  };
  for (const auto& [j, why] : bad) {
    auto s = ParseContainerSpec(j, "/b");
    ASSERT_FALSE(s.ok()) << j.dump();
    EXPECT_NE(s.error().message().find(why), std::string::npos) << s.error().message();
  }
}

TEST(SpecTest, MountOptionsSplitIntoFlagsAndData) {
  MountArgs a = SplitMountOptions({"ro", "nosuid", "index=off", "lowerdir=/a:/b", "rw", "nodev"});
  EXPECT_EQ(a.flags, static_cast<unsigned long>(MS_NOSUID | MS_NODEV));
  EXPECT_EQ(a.data, "index=off,lowerdir=/a:/b");
  MountArgs b = SplitMountOptions({"rbind", "ro"});
  EXPECT_EQ(b.flags, static_cast<unsigned long>(MS_BIND | MS_REC | MS_RDONLY));
  EXPECT_EQ(b.data, "");
  RootfsMount m{"overlay", "overlay", {"workdir=/w", "upperdir=/u", "lowerdir=/l1:/l2"}};
  EXPECT_EQ(MountOption(m, "lowerdir"), "/l1:/l2");
  EXPECT_EQ(MountOption(m, "upperdir"), "/u");
  EXPECT_EQ(MountOption(m, "nope"), "");
}

TEST(SpecTest, NamesAreValidAndDistinct) {
  const std::vector<std::string> ids = {"t1", "T_2.x", std::string(76, 'a'), "-",
                                        "0123456789abcdef0123456789abcdef0123456789"};
  for (const std::string& id : ids) {
    EXPECT_TRUE(ValidateVmName(VmNameFor("default", id)).ok()) << VmNameFor("default", id);
    EXPECT_TRUE(ValidateImageName(OwnImageNameFor("default", id)).ok());
    EXPECT_TRUE(ValidateVmName(SessionNameFor(id)).ok()) << SessionNameFor(id);
  }
  EXPECT_NE(VmNameFor("a", "t1"), VmNameFor("b", "t1"));
  EXPECT_NE(VmNameFor("a", "T1"), VmNameFor("a", "t1"));
  EXPECT_EQ(VmNameFor("a", "t1"), VmNameFor("a", "t1"));
  EXPECT_NE(LayerImageNameFor("/l1:/l2"), LayerImageNameFor("/l1"));
  EXPECT_TRUE(ValidateImageName(LayerImageNameFor("/l1:/l2")).ok());
}

TEST(ArgsTest, ParsesContainerdsCommandLines) {
  auto a = ParseShimArgs({"shim", "-namespace", "k8s.io", "-address", "/run/containerd/containerd.sock",
                          "-publish-binary", "/usr/bin/containerd", "-id", "abc", "-debug", "start"});
  ASSERT_TRUE(a.ok()) << a.error().message();
  EXPECT_EQ(a->ns, "k8s.io");
  EXPECT_EQ(a->id, "abc");
  EXPECT_TRUE(a->debug);
  EXPECT_EQ(a->action, "start");
  auto d = ParseShimArgs({"shim", "--namespace=n", "-id=x", "-bundle", "/b", "delete"});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->bundle, "/b");
  EXPECT_EQ(d->action, "delete");
  EXPECT_TRUE(ParseShimArgs({"shim", "-v"})->version);
  EXPECT_FALSE(ParseShimArgs({"shim", "-namespace", "n", "start"}).ok());  // no id
  EXPECT_FALSE(ParseShimArgs({"shim", "-namespace", "n", "-id", "x", "bogus"}).ok());
  EXPECT_FALSE(ParseShimArgs({"shim", "-namespace", "n", "-id"}).ok());  // no value
  EXPECT_FALSE(ParseShimArgs({"shim", "-frobnicate", "1", "-namespace", "n", "-id", "x"}).ok());
}

TEST(ArgsTest, SocketsLiveBesideContainerdAndSeparateGroups) {
  const std::string a = ShimSocketPath("/run/containerd/containerd.sock", "default", "t1");
  EXPECT_EQ(a.rfind("/run/containerd/s/banger-", 0), 0u) << a;
  EXPECT_LT(a.size(), 108u);
  EXPECT_EQ(a, ShimSocketPath("/run/containerd/containerd.sock", "default", "t1"));
  EXPECT_NE(a, ShimSocketPath("/run/containerd/containerd.sock", "default", "t2"));
  EXPECT_NE(a, ShimSocketPath("/run/containerd/containerd.sock", "other", "t1"));
  EXPECT_NE(a, ShimSocketPath("/tmp/x/c.sock", "default", "t1"));
  EXPECT_EQ(ShimSocketPath("unix:///tmp/x/c.sock", "n", "g").rfind("/tmp/x/s/banger-", 0), 0u);
}

}  // namespace
}  // namespace banger::shim

// Warm start end to end (QEMU TCG, network off, the minimal image with the
// agent): `image template create` boots and saves a guest once; `vm run` and
// `vm create` of the same image and spec continue it instead of booting,
// each VM with its own hostname, vm id and disks; `--cold` boots; another
// spec boots; the template survives a daemon restart; a change of the
// image's kernel makes it stale (removed, the VM boots). Bad input is
// refused with one line.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <utime.h>

#include <chrono>
#include <set>

#include "agent_guest_fixture.h"

namespace banger::e2e {
namespace {

using namespace std::chrono_literals;

using TemplateE2E = AgentGuestE2E;

long long MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
}

TEST_F(TemplateE2E, WarmStartContinuesTheTemplateWithItsOwnIdentity) {
  ExpectRefused({"image", "template", "create", "nosuch"}, "image \"nosuch\" not found");
  ExpectRefused({"image", "template", "delete", "abcdef"}, "template \"abcdef\" not found");
  ExpectRefused({"image", "template", "create", "t", "--vcpus", "0"}, "--vcpus");

  auto t0 = std::chrono::steady_clock::now();
  CliRun made = h_.Banger({"image", "template", "create", "t"}, 600s);
  ASSERT_EQ(made.code, 0) << made.err;
  std::printf("image template create took %lld ms\n", MsSince(t0));
  Json list = h_.BangerJson({"image", "template", "list"});
  ASSERT_EQ(list.size(), 1u) << list.dump();
  const std::string tmpl = list[0]["id"];
  EXPECT_EQ(made.out, tmpl.substr(0, 12) + "\n");
  EXPECT_EQ(list[0]["image_name"], "t");
  EXPECT_GT(list[0]["bytes_on_disk"].get<int64_t>(), 0);
  EXPECT_TRUE(h_.BangerJson({"vm", "list"}).empty()) << "the template's vm is gone";

  // vm run --rm: warm, with its own name as hostname; then cold.
  t0 = std::chrono::steady_clock::now();
  CliRun warm = h_.Banger({"vm", "run", "--rm", "--name", "w0", "--", "hostname"}, 300s);
  const long long warm_ms = MsSince(t0);
  ASSERT_EQ(warm.code, 0) << warm.err;
  EXPECT_EQ(warm.out, "w0\n");
  t0 = std::chrono::steady_clock::now();
  CliRun cold = h_.Banger({"vm", "run", "--rm", "--cold", "--name", "c0", "--", "hostname"}, 300s);
  const long long cold_ms = MsSince(t0);
  ASSERT_EQ(cold.code, 0) << cold.err;
  EXPECT_EQ(cold.out, "c0\n");
  std::printf("vm run --rm -- hostname: warm %lld ms, cold %lld ms\n", warm_ms, cold_ms);
  EXPECT_EQ(h_.BangerJson({"image", "template", "list"})[0]["uses"], 1) << "the cold run used no template";

  // Two warm VMs: own ids, own disks.
  ASSERT_EQ(h_.Banger({"vm", "create", "--name", "w1"}, 300s).code, 0);
  ASSERT_EQ(h_.Banger({"vm", "create", "--name", "w2"}, 300s).code, 0);
  std::set<std::string> ids;
  for (const std::string vm : {"w1", "w2"}) {
    EXPECT_EQ(Exec(vm, "hostname"), vm + "\n");
    const std::string id = Exec(vm, "cat /run/banger/vm_id");
    EXPECT_EQ(id, h_.BangerJson({"vm", "show", vm})["id"].get<std::string>() + "\n");
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 2u);
  Exec("w1", "echo mine > /root/only1 && sync");
  EXPECT_EQ(Exec("w2", "test -e /root/only1 && echo yes || echo no"), "no\n");
  EXPECT_EQ(h_.BangerJson({"image", "template", "list"})[0]["uses"], 3);
  for (const std::string vm : {"w1", "w2"}) ASSERT_EQ(h_.Banger({"vm", "delete", vm}, 120s).code, 0);

  // Another spec has no template: it boots.
  ASSERT_EQ(h_.Banger({"vm", "create", "--name", "m", "--memory", "320"}, 300s).code, 0);
  EXPECT_EQ(Exec("m", "hostname"), "m\n");
  EXPECT_EQ(h_.BangerJson({"image", "template", "list"})[0]["uses"], 3);
  ASSERT_EQ(h_.Banger({"vm", "delete", "m"}, 120s).code, 0);

  // The template survives a daemon restart.
  ASSERT_EQ(h_.Banger({"daemon", "stop"}, 60s).code, 0);
  ASSERT_TRUE(WaitUntil([&] { return h_.DaemonPid() == 0; }, 30s));
  ASSERT_EQ(h_.Banger({"vm", "create", "--name", "w3"}, 300s).code, 0);
  EXPECT_EQ(Exec("w3", "hostname"), "w3\n");
  EXPECT_EQ(h_.BangerJson({"image", "template", "list"})[0]["uses"], 4);
  ASSERT_EQ(h_.Banger({"vm", "delete", "w3"}, 120s).code, 0);

  // A changed kernel makes the template stale: removed, the VM boots.
  const std::string kernel = h_.BangerJson({"image", "show", "t"})["kernel_path"];
  struct utimbuf times {
    1000000000, 1000000000
  };
  ASSERT_EQ(::utime(kernel.c_str(), &times), 0);
  ASSERT_EQ(h_.Banger({"vm", "create", "--name", "k"}, 300s).code, 0);
  EXPECT_EQ(Exec("k", "hostname"), "k\n");
  EXPECT_TRUE(h_.BangerJson({"image", "template", "list"}).empty()) << "the stale template was removed";
  ASSERT_EQ(h_.Banger({"vm", "delete", "k"}, 120s).code, 0);

  // Delete by id prefix.
  ASSERT_EQ(h_.Banger({"image", "template", "create", "t"}, 600s).code, 0);
  list = h_.BangerJson({"image", "template", "list", "t"});
  ASSERT_EQ(list.size(), 1u);
  const std::string id = list[0]["id"];
  ASSERT_EQ(h_.Banger({"image", "template", "delete", id.substr(0, 8)}).code, 0);
  EXPECT_TRUE(h_.BangerJson({"image", "template", "list"}).empty());
  std::error_code ec;
  EXPECT_TRUE(std::filesystem::is_empty(h_.root() + "/templates", ec)) << "the template's files are gone";
}

}  // namespace
}  // namespace banger::e2e

// The VM lifecycle state machine against a fake backend, fake processes and
// fake disks, over a real SQLite store.

#include "daemon/testing/vm_service_fixture.h"

namespace banger {
namespace {

TEST_F(VmServiceTest, CreateStartsAndRecordsHandlesOutsideTheStore) {
  VmRecord vm = MustCreate("t1");
  EXPECT_EQ(vm.state, VmState::kRunning);
  EXPECT_EQ(vm.spec.vcpu_count, 2);
  EXPECT_EQ(vm.spec.memory_mib, 2048);
  EXPECT_EQ(vm.runtime.dns_name, "t1.vm");
  EXPECT_FALSE(vm.runtime.boot_id.empty());
  ASSERT_EQ(qemu_.launches.size(), 1u);
  const LaunchSpec& ls = qemu_.launches[0];
  EXPECT_NE(ls.kernel_cmdline.find("banger.hostname=t1"), std::string::npos);
  ASSERT_EQ(ls.drives.size(), 3u);
  EXPECT_TRUE(ls.drives[0].read_only);
  EXPECT_EQ(ls.drives[1].path, vm.runtime.system_overlay_path);
  EXPECT_EQ(ls.drives[2].path, vm.runtime.work_disk_path);
  EXPECT_TRUE(PathExists(vm.runtime.work_disk_path));
  EXPECT_EQ(disks_.SizeOf(vm.runtime.work_disk_path), 8 * kGiB);

  auto scratch = ReadHandlesFile(vm.runtime.vm_dir);
  ASSERT_TRUE(scratch.ok() && scratch->has_value());
  auto view = svc_->Get("t1");
  ASSERT_TRUE(view.ok());
  ASSERT_TRUE(view->handles.has_value());
  EXPECT_EQ(view->handles->pid, (*scratch)->pid);
  EXPECT_TRUE(svc_->VmAlive(view->vm));
  EXPECT_EQ(EventTypes(), (std::vector<std::string>{"image.created", "vm.created", "state:running"}));
}

TEST_F(VmServiceTest, StopStartRestartCycle) {
  VmRecord vm = MustCreate("t1", /*no_start=*/true);
  EXPECT_EQ(vm.state, VmState::kCreated);
  EXPECT_TRUE(qemu_.launches.empty());
  ASSERT_TRUE(svc_->Start("t1").ok());
  auto stopped = svc_->Stop("t1", std::chrono::milliseconds(1500));
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(stopped->vm.state, VmState::kStopped);
  EXPECT_FALSE(stopped->handles.has_value());
  EXPECT_EQ(qemu_.shutdowns.back(), std::chrono::milliseconds(1500));
  EXPECT_EQ(procs_.Count(), 0u);
  EXPECT_FALSE(PathExists(vm.runtime.vm_dir + "/handles.json"));
  // Stop again is a no-op success.
  ASSERT_TRUE(svc_->Stop("t1", std::nullopt).ok());
  auto started = svc_->Start("t1");
  ASSERT_TRUE(started.ok());
  std::string boot1 = started->vm.runtime.boot_id;
  auto restarted = svc_->Restart("t1", std::nullopt);
  ASSERT_TRUE(restarted.ok());
  EXPECT_EQ(restarted->vm.state, VmState::kRunning);
  EXPECT_NE(restarted->vm.runtime.boot_id, boot1);
  EXPECT_EQ(procs_.Count(), 1u);
}

TEST_F(VmServiceTest, BadInputChangesNothing) {
  MustCreate("t1");
  size_t dirs = std::distance(fs::directory_iterator(root_ + "/vms"), {});
  // Each bad create fails with `kind`, naming `mention` when given.
  auto expect_refused = [&](const std::string& name, const std::string& image, ErrorKind kind,
                            const std::string& mention) {
    CreateVmRequest req;
    req.name = name;
    req.image = image;
    auto r = svc_->Create(req);
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_EQ(r.error().kind(), kind) << r.error().message();
    if (!mention.empty()) {
      EXPECT_NE(r.error().message().find(mention), std::string::npos) << r.error().message();
    }
  };
  expect_refused("t1", "", ErrorKind::kConflict, "t1");
  expect_refused("Bad_Name", "", ErrorKind::kInvalidArgument, "");
  expect_refused("t2", "nope", ErrorKind::kNotFound, "nope");

  CreateVmRequest too_big;
  too_big.name = "t3";
  too_big.work_disk_size_bytes = 200 * kGiB;
  EXPECT_EQ(svc_->Create(too_big).error().kind(), ErrorKind::kInvalidArgument);

  EXPECT_EQ(std::distance(fs::directory_iterator(root_ + "/vms"), {}), static_cast<long>(dirs));
  EXPECT_EQ(store_->ListVms()->size(), 1u);
  EXPECT_EQ(qemu_.launches.size(), 1u);
}

TEST_F(VmServiceTest, LaunchFailureLeavesErrorStateAndNoLeaks) {
  qemu_.launch_error = Error::Unavailable("spawning qemu: No such file or directory");
  auto c = TryCreate("t1");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message().find("No such file"), std::string::npos);
  auto vm = store_->GetVm("t1");
  ASSERT_TRUE(vm.ok());
  EXPECT_EQ(vm->state, VmState::kError);
  EXPECT_NE(vm->runtime.last_error.find("No such file"), std::string::npos);
  EXPECT_EQ(procs_.Count(), 0u);
  EXPECT_FALSE(PathExists(vm->runtime.vm_dir + "/handles.json"));
  // Fixing the cause and starting again works; last_error is cleared.
  qemu_.launch_error = Error(ErrorKind::kInternal, "");
  auto s = svc_->Start("t1");
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(s->vm.state, VmState::kRunning);
  EXPECT_TRUE(s->vm.runtime.last_error.empty());
}

TEST_F(VmServiceTest, UnavailableBackendIsAnErrorState) {
  qemu_.available = Error::Unavailable("qemu-system-x86_64: not found in PATH");
  auto c = TryCreate("t1");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(store_->GetVm("t1")->state, VmState::kError);
  EXPECT_TRUE(qemu_.launches.empty());
}

TEST_F(VmServiceTest, CreateIsIdempotentByRequestId) {
  CreateVmRequest r;
  r.request_id = "req-42";
  auto a = svc_->Create(r);
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->created);
  auto b = svc_->Create(r);
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->created);
  EXPECT_EQ(a->view.vm.id, b->view.vm.id);
  EXPECT_EQ(store_->ListVms()->size(), 1u);
  EXPECT_EQ(qemu_.launches.size(), 1u);
}

TEST_F(VmServiceTest, SetRefusesRunningAndShrinking) {
  MustCreate("t1");
  SetVmRequest s;
  s.vcpu_count = 4;
  auto r = svc_->Set("t1", s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kConflict);
  EXPECT_NE(r.error().message().find("running"), std::string::npos);
  EXPECT_NE(r.error().message().find("stop"), std::string::npos);
  SetVmRequest nat;
  nat.nat_enabled = true;  // live changes are fine, but this daemon has no networking
  auto no_net = svc_->Set("t1", nat);
  ASSERT_FALSE(no_net.ok());
  EXPECT_EQ(no_net.error().kind(), ErrorKind::kInvalidArgument);
  EXPECT_NE(no_net.error().message().find("network = \"on\""), std::string::npos) << no_net.error().message();
  CreateVmRequest c;
  c.name = "t2";
  c.nat_enabled = true;
  EXPECT_FALSE(svc_->Create(c).ok());
  EXPECT_FALSE(store_->GetVm("t2").ok()) << "refused before anything was made";

  ASSERT_TRUE(svc_->Stop("t1", std::nullopt).ok());
  s.memory_mib = 1024;
  s.work_disk_size_bytes = 10 * kGiB;
  auto ok = svc_->Set("t1", s);
  ASSERT_TRUE(ok.ok()) << ok.error().message();
  EXPECT_EQ(ok->vm.spec.vcpu_count, 4);
  EXPECT_EQ(ok->vm.spec.memory_mib, 1024);
  EXPECT_FALSE(ok->vm.spec.nat_enabled);
  EXPECT_EQ(disks_.SizeOf(ok->vm.runtime.work_disk_path), 10 * kGiB);

  SetVmRequest shrink;
  shrink.work_disk_size_bytes = kGiB;
  auto sh = svc_->Set("t1", shrink);
  ASSERT_FALSE(sh.ok());
  EXPECT_NE(sh.error().message().find("shrink"), std::string::npos);
  SetVmRequest zero;
  zero.vcpu_count = 0;
  EXPECT_EQ(svc_->Set("t1", zero).error().kind(), ErrorKind::kInvalidArgument);
}

TEST_F(VmServiceTest, DeleteRemovesEverything) {
  VmRecord vm = MustCreate("t1");
  auto id = svc_->Delete("t1", false);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, vm.id);
  EXPECT_EQ(procs_.Count(), 0u);
  EXPECT_FALSE(PathExists(vm.runtime.vm_dir));
  EXPECT_EQ(store_->GetVm(vm.id).error().kind(), ErrorKind::kNotFound);
  EXPECT_EQ(svc_->Delete("t1", false).error().kind(), ErrorKind::kNotFound);
  auto again = svc_->Delete("t1", true);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, "");
}

TEST_F(VmServiceTest, ConcurrentStartsOfOneVmLaunchOnce) {
  MustCreate("t1", true);
  std::vector<std::thread> ts;
  ts.reserve(6);
  for (int i = 0; i < 6; ++i) ts.emplace_back([this] { EXPECT_TRUE(svc_->Start("t1").ok()); });
  for (auto& t : ts) t.join();
  EXPECT_EQ(qemu_.launches.size(), 1u);
  EXPECT_EQ(procs_.Count(), 1u);
}

TEST_F(VmServiceTest, BackendOverridePerVm) {
  CreateVmRequest r;
  r.name = "fc1";
  r.backend = "firecracker";
  auto c = svc_->Create(r);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->view.vm.spec.backend, BackendKind::kFirecracker);
  EXPECT_EQ(fc_.launches.size(), 1u);
  EXPECT_FALSE(fc_.launches[0].vsock_path.empty());
  EXPECT_GE(fc_.launches[0].vsock_cid, 3u);
  r.name = "x";
  r.backend = "xen";
  EXPECT_EQ(svc_->Create(r).error().kind(), ErrorKind::kInvalidArgument);
}

TEST_F(VmServiceTest, ListFiltersByLabel) {
  CreateVmRequest a;
  a.name = "a";
  a.no_start = true;
  a.labels = {{"team", "infra"}};
  ASSERT_TRUE(svc_->Create(a).ok());
  CreateVmRequest b;
  b.name = "b";
  b.no_start = true;
  b.labels = {{"team", "web"}};
  ASSERT_TRUE(svc_->Create(b).ok());
  auto l = svc_->List({{"team", "infra"}});
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(l->size(), 1u);
  EXPECT_EQ((*l)[0].vm.name, "a");
  EXPECT_EQ(svc_->List({})->size(), 2u);
}

TEST_F(VmServiceTest, ReadLogsFromOffset) {
  VmRecord vm = MustCreate("t1");
  ASSERT_TRUE(WriteFileAtomic(vm.runtime.log_path, "Linux version 6.1\nhello\n").ok());
  auto c = svc_->ReadLogs("t1", 0, 1 << 20, std::chrono::milliseconds(0));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->data, "Linux version 6.1\nhello\n");
  auto d = svc_->ReadLogs("t1", c->next_offset, 1 << 20, std::chrono::milliseconds(200));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->data, "");
  EXPECT_EQ(d->next_offset, c->next_offset);
}

}  // namespace
}  // namespace banger

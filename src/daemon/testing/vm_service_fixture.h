// The fixture of the daemon's use-case tests: a VmService over fake
// processes, disks and backends and a real SQLite store in a short /tmp home,
// with one imported image "base". Test-only.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/fs.h"
#include "base/testing/temp_dir.h"
#include "daemon/fakes.h"
#include "daemon/image_service.h"
#include "daemon/reconcile.h"
#include "daemon/vm_service.h"

namespace banger {

using testing::FakeBackend;
using testing::FakeDisks;
using testing::FakeProcs;
namespace fs = std::filesystem;

// The VmServiceDeps every use-case test starts from: a home at `root`, default
// image "base", the store and event log, fake processes and disks. Callers add
// backends (and agents).
inline VmServiceDeps FakeVmServiceDeps(const std::string& root, Store& store, EventLog& events,
                                       FakeProcs& procs, FakeDisks& disks) {
  VmServiceDeps d;
  d.home = HomeLayout{root};
  d.config.default_image_name = "base";
  d.store = &store;
  d.events = &events;
  d.procs = &procs;
  d.disks = &disks;
  return d;
}

// Creates the VM `r` asks for; its record, or an empty one after a failed
// expectation.
inline VmRecord MustCreateVm(VmService& svc, const CreateVmRequest& r) {
  auto c = svc.Create(r);
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message());
  return c.ok() ? c->view.vm : VmRecord{};
}

// What every daemon test wires its VmService from: a fresh short home with
// vms/, a store and event log, fake processes, disks and backends.
class DaemonTest : public ::testing::Test {
 protected:
  // Opens the store at `path` (":memory:" or a file) and its event log.
  void OpenStore(const std::string& path) {
    auto s = Store::Open(path);
    ASSERT_TRUE(s.ok()) << s.error().message();
    store_ = std::move(*s);
    events_ = std::make_unique<EventLog>(*store_);
  }

  // Short: VM socket paths must fit in sun_path.
  testing::TempDir tmp_{"bgs", {"vms"}};
  std::string root_ = tmp_.path();
  std::unique_ptr<Store> store_;
  std::unique_ptr<EventLog> events_;
  testing::FakeProcs procs_;
  testing::FakeDisks disks_;
  testing::FakeBackend qemu_{BackendKind::kQemu, procs_};
  testing::FakeBackend fc_{BackendKind::kFirecracker, procs_};
  std::unique_ptr<ImageService> images_;
  std::unique_ptr<VmService> svc_;
};

class VmServiceTest : public DaemonTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(OpenStore(root_ + "/banger.db"));
    // Image files must exist.
    for (const char* f : {"vmlinux", "rootfs.ext4", "initrd.img"}) {
      ASSERT_TRUE(WriteFileAtomic(root_ + "/" + f, "x").ok());
    }
    images_ = std::make_unique<ImageService>(
        ImageServiceDeps{HomeLayout{root_}, {}, store_.get(), events_.get(), ""});
    svc_ = MakeService();
    auto img = images_->ImportImage(
        {"base", root_ + "/vmlinux", root_ + "/rootfs.ext4", root_ + "/initrd.img", "", ""});
    ASSERT_TRUE(img.ok()) << img.error().message();
  }
  // A fresh service over the same store and home: what a restarted daemon sees.
  std::unique_ptr<VmService> MakeService() {
    VmServiceDeps d = FakeVmServiceDeps(root_, *store_, *events_, procs_, disks_);
    d.backends = {{BackendKind::kQemu, &qemu_}, {BackendKind::kFirecracker, &fc_}};
    d.default_backend = BackendKind::kQemu;
    return std::make_unique<VmService>(d);
  }

  // A request for `name` with every other field defaulted.
  static CreateVmRequest Named(const std::string& name) {
    CreateVmRequest r;
    r.name = name;
    return r;
  }
  // Create `name`; the test checks the result.
  auto TryCreate(const std::string& name) { return svc_->Create(Named(name)); }

  VmRecord MustCreate(const std::string& name, bool no_start = false) {
    CreateVmRequest r = Named(name);
    r.no_start = no_start;
    return MustCreateVm(*svc_, r);
  }

  // The startup reconcile, as the daemon runs it.
  Status Reconcile() {
    return banger::Reconcile(*svc_, {HomeLayout{root_}, store_.get(), reconcile_network_});
  }

  std::vector<std::string> EventTypes() {
    auto evs = store_->EventsAfter(0, 1000);
    std::vector<std::string> out;
    for (const auto& e : *evs) {
      out.push_back(e.type == "vm.state" ? "state:" + e.data["to"].get<std::string>() : e.type);
    }
    return out;
  }

  VmNetwork* reconcile_network_ = nullptr;
};

}  // namespace banger

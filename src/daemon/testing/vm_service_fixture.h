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
#include "daemon/fakes.h"
#include "daemon/image_service.h"
#include "daemon/reconcile.h"
#include "daemon/vm_service.h"

namespace banger {

using testing::FakeBackend;
using testing::FakeDisks;
using testing::FakeProcs;
namespace fs = std::filesystem;

class VmServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Short: VM socket paths must fit in sun_path.
    static int counter = 0;
    root_ = "/tmp/bgs-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_ + "/vms");
    auto s = Store::Open(root_ + "/banger.db");
    ASSERT_TRUE(s.ok()) << s.error().message();
    store_ = std::move(*s);
    events_ = std::make_unique<EventLog>(*store_);
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
  void TearDown() override { std::filesystem::remove_all(root_); }

  // A fresh service over the same store and home: what a restarted daemon sees.
  std::unique_ptr<VmService> MakeService() {
    VmServiceDeps d;
    d.home = HomeLayout{root_};
    d.config.default_image_name = "base";
    d.store = store_.get();
    d.events = events_.get();
    d.procs = &procs_;
    d.disks = &disks_;
    d.backends = {{BackendKind::kQemu, &qemu_}, {BackendKind::kFirecracker, &fc_}};
    d.default_backend = BackendKind::kQemu;
    return std::make_unique<VmService>(d);
  }

  VmRecord MustCreate(const std::string& name, bool no_start = false) {
    CreateVmRequest r;
    r.name = name;
    r.no_start = no_start;
    auto c = svc_->Create(r);
    EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message());
    return c.ok() ? c->view.vm : VmRecord{};
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

  std::string root_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<EventLog> events_;
  testing::FakeProcs procs_;
  testing::FakeDisks disks_;
  testing::FakeBackend qemu_{BackendKind::kQemu, procs_};
  testing::FakeBackend fc_{BackendKind::kFirecracker, procs_};
  std::unique_ptr<ImageService> images_;
  std::unique_ptr<VmService> svc_;
  VmNetwork* reconcile_network_ = nullptr;
};

}  // namespace banger

// The fixture of the GuestExec tests (guest_exec_test.cc,
// guest_fixup_exec_test.cc): the real static banger-agent run on the host
// over a Unix socket (--listen-unix) as every VM's agent (except VMs named
// "mute*", whose agent never answers), a VmService over fakes, one image.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "base/fs.h"
#include "daemon/agent_pool.h"
#include "daemon/fakes.h"
#include "daemon/guest_exec.h"
#include "daemon/image_service.h"
#include "daemon/testing/vm_service_fixture.h"

namespace banger {

inline ExecRequest Sh(const std::string& script) {
  ExecRequest r;
  r.argv = {"sh", "-c", script};
  return r;
}

class GuestExecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sock_ = root_ + "/agent.sock";
    agent_pid_ = fork();
    ASSERT_GE(agent_pid_, 0);
    if (agent_pid_ == 0) {
      std::string log = root_ + "/agent.log";
      FILE* f = freopen(log.c_str(), "w", stderr);
      (void)f;
      execl(BANGER_AGENT_BIN, BANGER_AGENT_BIN, "--listen-unix", sock_.c_str(), nullptr);
      _exit(127);
    }
    auto s = Store::Open(":memory:");
    ASSERT_TRUE(s.ok()) << s.error().message();
    store_ = std::move(*s);
    events_ = std::make_unique<EventLog>(*store_);
    for (const char* f : {"vmlinux", "rootfs.ext4"}) ASSERT_TRUE(WriteFileAtomic(root_ + "/" + f, "x").ok());
    // Every VM's agent is the one on sock_, except VMs named "mute*".
    pool_ = std::make_unique<AgentPool>(
        [this](const VmRecord& vm, std::chrono::milliseconds timeout) -> Result<std::unique_ptr<AgentConn>> {
          if (vm.name.rfind("mute", 0) == 0) return Error::Unavailable("connection refused");
          BANGER_ASSIGN_OR_RETURN(UniqueFd fd, ConnectAgentUnix(sock_, timeout));
          return AgentConn::Handshake(std::move(fd), timeout);
        });
    VmServiceDeps d = FakeVmServiceDeps(root_, *store_, *events_, procs_, disks_);
    d.agents = pool_.get();
    d.backends = {{BackendKind::kQemu, &qemu_}};
    svc_ = std::make_unique<VmService>(d);
    ImageService images(ImageServiceDeps{d.home, d.config, store_.get(), events_.get(), ""});
    auto img = images.ImportImage({"base", root_ + "/vmlinux", root_ + "/rootfs.ext4", "", "", ""});
    ASSERT_TRUE(img.ok()) << img.error().message();
    exec_ = std::make_unique<GuestExec>(*svc_);
  }
  void TearDown() override {
    exec_.reset();
    svc_.reset();
    pool_.reset();
    ::kill(agent_pid_, SIGKILL);
    ::waitpid(agent_pid_, nullptr, 0);
  }

  VmRecord MustCreate(const std::string& name, bool auto_remove = false) {
    CreateVmRequest r;
    r.name = name;
    r.auto_remove = auto_remove;
    return MustCreateVm(*svc_, r);
  }
  bool Exists(const std::string& ref) { return store_->GetVm(ref).ok(); }

  testing::TempDir tmp_{"bgx", {"vms"}};
  std::string root_ = tmp_.path(), sock_;
  pid_t agent_pid_ = -1;
  std::unique_ptr<Store> store_;
  std::unique_ptr<EventLog> events_;
  testing::FakeProcs procs_;
  testing::FakeDisks disks_;
  testing::FakeBackend qemu_{BackendKind::kQemu, procs_};
  std::unique_ptr<AgentPool> pool_;
  std::unique_ptr<VmService> svc_;
  std::unique_ptr<GuestExec> exec_;
};

}  // namespace banger

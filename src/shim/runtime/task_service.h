// containerd.task.v2.Task, served by the shim over ttrpc: every task is a
// container in a banger VM (runtime/container.h), its processes run through
// bangerd (runtime/process.h), and its life is reported to containerd as
// events (runtime/events.h) in containerd's order: create, start,
// exec-added, exec-started, exit, delete.
//
// Pods: a container annotated as a CRI pod's container
// (io.kubernetes.cri.container-type=container) runs in the VM of its
// sandbox (io.kubernetes.cri.sandbox-id), which the same shim serves.
//
// Stats, Update and Checkpoint are not served (containerd gets
// Unimplemented).
//
// Thread-safety: each call runs on a thread of its own (ttrpc/server.h);
// the container table has one mutex, never held across a call to bangerd.
#pragma once

#include <google/protobuf/empty.pb.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "github.com/containerd/containerd/runtime/v2/task/shim.pb.h"
#include "runtime/bangerd.h"
#include "runtime/events.h"
#include "runtime/process.h"
#include "runtime/spec.h"
#include "ttrpc/server.h"

namespace banger::shim {

namespace task = containerd::task::v2;
using google::protobuf::Empty;
using ttrpc::RpcResult;

class TaskService {
 public:
  TaskService(Bangerd api, EventPublisher& events, std::string ns);

  Status Register(ttrpc::TtrpcServer& server);

  // Blocks until containerd asked the shim to shut down (Shutdown with no
  // task left, or `now`), or `give_up` says so.
  void WaitForShutdown(const std::function<bool()>& give_up);
  // The tasks served now.
  size_t tasks() const;

 private:
  RpcResult<task::CreateTaskResponse> Create(const ttrpc::CallContext& ctx, const task::CreateTaskRequest& r);
  RpcResult<task::StartResponse> Start(const ttrpc::CallContext& ctx, const task::StartRequest& r);
  RpcResult<task::WaitResponse> Wait(const ttrpc::CallContext& ctx, const task::WaitRequest& r);
  RpcResult<task::StateResponse> State(const ttrpc::CallContext& ctx, const task::StateRequest& r);
  RpcResult<Empty> Kill(const ttrpc::CallContext& ctx, const task::KillRequest& r);
  RpcResult<Empty> Exec(const ttrpc::CallContext& ctx, const task::ExecProcessRequest& r);
  RpcResult<Empty> ResizePty(const ttrpc::CallContext& ctx, const task::ResizePtyRequest& r);
  RpcResult<Empty> CloseIO(const ttrpc::CallContext& ctx, const task::CloseIORequest& r);
  RpcResult<task::PidsResponse> Pids(const ttrpc::CallContext& ctx, const task::PidsRequest& r);
  RpcResult<Empty> Pause(const ttrpc::CallContext& ctx, const task::PauseRequest& r);
  RpcResult<Empty> Resume(const ttrpc::CallContext& ctx, const task::ResumeRequest& r);
  RpcResult<task::DeleteResponse> Delete(const ttrpc::CallContext& ctx, const task::DeleteRequest& r);
  RpcResult<task::ConnectResponse> Connect(const ttrpc::CallContext& ctx, const task::ConnectRequest& r);
  RpcResult<Empty> Shutdown(const ttrpc::CallContext& ctx, const task::ShutdownRequest& r);
  RpcResult<Empty> SetPaused(const std::string& id, bool pause);

  template <typename Req, typename Resp>
  Status Add(ttrpc::TtrpcServer& s, const char* method,
             RpcResult<Resp> (TaskService::*fn)(const ttrpc::CallContext&, const Req&)) {
    return s.RegisterTyped<Req, Resp>(
        "containerd.task.v2.Task", method,
        [this, fn](const ttrpc::CallContext& c, const Req& r) { return (this->*fn)(c, r); });
  }

  struct Container {
    std::string id, bundle;
    ContainerSpec spec;
    std::string vm;          // banger VM name
    std::string image;       // the banger image the VM boots (owns_vm)
    std::string guest_root;  // a pod container's own root in the VM ("" = the VM's root)
    bool owns_vm = false;    // the VM is this container's (deleted with it)
    uint32_t pid = 0;        // the VMM's pid
    bool paused = false;
    std::shared_ptr<Process> main;
    std::map<std::string, std::shared_ptr<Process>> execs;
  };

  Result<std::shared_ptr<Container>> Find(const std::string& id) const;
  // Sends a pod container's root into its sandbox's VM (runtime/pod_root.h).
  Status InstallPodRoot(Container& c, const std::vector<RootfsMount>& mounts);
  // The container of this shim whose VM is pod `sandbox_id`'s.
  Result<std::shared_ptr<Container>> FindSandbox(const std::string& sandbox_id) const;
  // The main process ("") or exec `exec_id` of a container.
  Result<std::shared_ptr<Process>> ProcessOf(const Container& c, const std::string& exec_id) const;
  Result<std::shared_ptr<Process>> FindProcess(const std::string& id, const std::string& exec_id) const;
  void PublishExit(const std::string& container_id, const Process& p);

  Bangerd api_;
  EventPublisher& events_;
  const std::string ns_;

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Container>> containers_;  // by id
  std::set<std::string> creating_;                                // ids whose Create runs
  std::condition_variable shutdown_cv_;
  bool shutdown_ = false;
};

}  // namespace banger::shim

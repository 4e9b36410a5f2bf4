#include "runtime/task_service.h"

#include <unistd.h>

#include "base/fs.h"
#include "base/log.h"
#include "base/scope_guard.h"
#include "github.com/containerd/containerd/api/events/task.pb.h"
#include "http/http.h"
#include "runtime/container.h"
#include "runtime/pod_root.h"

namespace banger::shim {
namespace {

namespace ev = containerd::events;
namespace types = containerd::v1::types;
using ttrpc::CallContext;
using ttrpc::Code;
using ttrpc::RpcStatus;

void SetTime(google::protobuf::Timestamp* t, std::chrono::system_clock::time_point at) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(at.time_since_epoch()).count();
  t->set_seconds(ns / 1000000000);
  t->set_nanos(static_cast<int32_t>(ns % 1000000000));
}

types::Status StatusOf(const Process& p, bool paused) {
  switch (p.state()) {
    case ProcState::kCreated:
      return types::CREATED;
    case ProcState::kRunning:
      return paused ? types::PAUSED : types::RUNNING;
    case ProcState::kStopped:
      return types::STOPPED;
  }
  return types::UNKNOWN;
}

}  // namespace

TaskService::TaskService(Bangerd api, EventPublisher& events, std::string ns)
    : api_(std::move(api)), events_(events), ns_(std::move(ns)) {}

size_t TaskService::tasks() const {
  std::lock_guard<std::mutex> g(mu_);
  return containers_.size();
}

void TaskService::WaitForShutdown(const std::function<bool()>& give_up) {
  std::unique_lock<std::mutex> lk(mu_);
  while (!shutdown_ && !(give_up && give_up())) shutdown_cv_.wait_for(lk, std::chrono::milliseconds(200));
}

Result<std::shared_ptr<TaskService::Container>> TaskService::Find(const std::string& id) const {
  std::lock_guard<std::mutex> g(mu_);
  auto it = containers_.find(id);
  if (it == containers_.end()) return Error::NotFound("container " + id + ": not found");
  return it->second;
}

Status TaskService::InstallPodRoot(Container& c, const std::vector<RootfsMount>& mounts) {
  std::string tree = c.spec.root_path;
  const bool mount = !mounts.empty();
  if (mount) {
    tree = c.bundle + "/rootfs";
    BANGER_RETURN_IF_ERROR(MakeDirs(tree, 0711));
    BANGER_RETURN_IF_ERROR(UnmountAll(tree));
    BANGER_RETURN_IF_ERROR(MountAll(mounts, tree));
  } else if (tree.empty()) {
    return Error::Invalid("the container has neither rootfs mounts nor root.path");
  }
  const std::string root = GuestRootFor(c.id);
  Status st = InstallGuestRoot(api_, c.vm, tree, root);
  if (mount) {
    if (Status um = UnmountAll(tree); !um.ok() && st.ok()) st = um;
  }
  if (!st.ok()) return st.error().Wrap("container " + c.id + "'s root in VM " + c.vm);
  c.guest_root = root;
  c.spec.process = Chrooted(c.spec.process, root);
  spdlog::info("task {}: its root is {} in VM {}", c.id, root, c.vm);
  return OkStatus();
}

Result<std::shared_ptr<TaskService::Container>> TaskService::FindSandbox(
    const std::string& sandbox_id) const {
  std::lock_guard<std::mutex> g(mu_);
  for (const auto& [_, c] : containers_) {
    if (c->owns_vm && c->spec.SandboxId() == sandbox_id) return c;
  }
  return Error::NotFound("sandbox " + sandbox_id + ": not found");
}

Result<std::shared_ptr<Process>> TaskService::ProcessOf(const Container& c,
                                                        const std::string& exec_id) const {
  std::lock_guard<std::mutex> g(mu_);
  if (exec_id.empty()) return c.main;
  auto it = c.execs.find(exec_id);
  if (it == c.execs.end()) return Error::NotFound("exec " + exec_id + " of " + c.id + ": not found");
  return it->second;
}

Result<std::shared_ptr<Process>> TaskService::FindProcess(const std::string& id,
                                                          const std::string& exec_id) const {
  BANGER_ASSIGN_OR_RETURN(auto c, Find(id));
  return ProcessOf(*c, exec_id);
}

void TaskService::PublishExit(const std::string& container_id, const Process& p) {
  auto exit = p.exit();
  ev::TaskExit e;
  e.set_container_id(container_id);
  e.set_id(p.exec_id().empty() ? container_id : p.exec_id());
  e.set_pid(p.pid());
  e.set_exit_status(exit ? exit->status : 255);
  SetTime(e.mutable_exited_at(), exit ? exit->at : std::chrono::system_clock::now());
  events_.Publish("/tasks/exit", e);
  spdlog::info("task {} {}: exited with {}", container_id, p.exec_id(), exit ? exit->status : 255);
}

RpcResult<task::CreateTaskResponse> TaskService::Create(const CallContext& /*ctx*/,
                                                        const task::CreateTaskRequest& r) {
  if (r.id().empty() || r.bundle().empty())
    return RpcStatus{Code::kInvalidArgument, "id and bundle are required"};
  if (!r.checkpoint().empty()) return RpcStatus{Code::kUnimplemented, "checkpoints are not supported"};
  Stdio io{r.stdin(), r.stdout(), r.stderr(), r.terminal()};
  if (auto st = CheckStdio(io); !st.ok()) return st.error();
  {
    std::lock_guard<std::mutex> g(mu_);
    if (containers_.count(r.id()) != 0 || creating_.count(r.id()) != 0)
      return RpcStatus{Code::kAlreadyExists, "task " + r.id() + ": already exists"};
    creating_.insert(r.id());
  }
  ScopeGuard done([this, id = r.id()] {
    std::lock_guard<std::mutex> g(mu_);
    creating_.erase(id);
  });
  auto spec = ReadBundleSpec(r.bundle());
  if (!spec.ok()) return spec.error();
  auto c = std::make_shared<Container>();
  c->id = r.id();
  c->bundle = r.bundle();
  c->spec = std::move(*spec);
  c->spec.process.terminal = r.terminal();
  c->owns_vm = c->spec.OwnsVm();
  std::vector<RootfsMount> mounts;
  for (const auto& m : r.rootfs())
    mounts.push_back({m.type(), m.source(), {m.options().begin(), m.options().end()}});
  if (c->owns_vm) {
    auto plan = PlanRootfs(api_, ns_, c->id, c->bundle, mounts, c->spec);
    if (!plan.ok()) return plan.error();
    if (auto st = MakeRootfsImage(api_, *plan, mounts, c->bundle); !st.ok()) {
      if (plan->own_image) api_.DeleteImage(plan->image).ok();
      return st.error();
    }
    auto vm = CreateVm(api_, ns_, c->id, plan->image, c->spec);
    if (!vm.ok()) {
      if (plan->own_image) api_.DeleteImage(plan->image).ok();
      return vm.error();
    }
    c->vm = vm->name;
    c->pid = vm->pid;
    c->image = plan->image;
  } else {
    // A pod's container: the sandbox's VM, which this shim serves.
    auto sandbox = FindSandbox(c->spec.SandboxId());
    if (!sandbox.ok()) {
      return RpcStatus{Code::kFailedPrecondition, "sandbox " + c->spec.SandboxId() + " of container " +
                                                      c->id + " is not served by this shim"};
    }
    c->vm = (*sandbox)->vm;
    c->pid = (*sandbox)->pid;
    // Its own root, unless it is the sandbox's image with nothing of its own.
    if (mounts.empty() || SharedLayerImage(mounts, api_.Version()) != (*sandbox)->image) {
      if (auto st = InstallPodRoot(*c, mounts); !st.ok()) return st.error();
    }
  }
  c->main = std::make_shared<Process>("", c->spec.process, io, c->pid);
  {
    std::lock_guard<std::mutex> g(mu_);
    containers_[c->id] = c;
  }
  ev::TaskCreate e;
  e.set_container_id(c->id);
  e.set_bundle(c->bundle);
  for (const auto& m : r.rootfs()) *e.add_rootfs() = m;
  e.mutable_io()->set_stdin(r.stdin());
  e.mutable_io()->set_stdout(r.stdout());
  e.mutable_io()->set_stderr(r.stderr());
  e.mutable_io()->set_terminal(r.terminal());
  e.set_pid(c->pid);
  events_.Publish("/tasks/create", e);
  spdlog::info("task {}: created in VM {} (pid {})", c->id, c->vm, c->pid);
  task::CreateTaskResponse resp;
  resp.set_pid(c->pid);
  return resp;
}

RpcResult<task::StartResponse> TaskService::Start(const CallContext& /*ctx*/, const task::StartRequest& r) {
  auto c = Find(r.id());
  if (!c.ok()) return c.error();
  auto p = ProcessOf(**c, r.exec_id());
  if (!p.ok()) return p.error();
  const std::string& cid = r.id();
  auto on_exit = [this, cid](const Process& proc) { PublishExit(cid, proc); };
  const std::string session = r.exec_id().empty() ? SessionNameFor(cid) : "";
  if (auto st = (*p)->Start(api_, (*c)->vm, session, on_exit); !st.ok()) {
    (*p)->MarkExited(255);
    return st.error().Wrap(r.exec_id().empty() ? "starting task " + cid : "starting exec " + r.exec_id());
  }
  if (r.exec_id().empty()) {
    ev::TaskStart e;
    e.set_container_id(cid);
    e.set_pid((*p)->pid());
    events_.Publish("/tasks/start", e);
  } else {
    ev::TaskExecStarted e;
    e.set_container_id(cid);
    e.set_exec_id(r.exec_id());
    e.set_pid((*p)->pid());
    events_.Publish("/tasks/exec-started", e);
  }
  task::StartResponse resp;
  resp.set_pid((*p)->pid());
  return resp;
}

RpcResult<task::WaitResponse> TaskService::Wait(const CallContext& ctx, const task::WaitRequest& r) {
  auto p = FindProcess(r.id(), r.exec_id());
  if (!p.ok()) return p.error();
  auto exit = (*p)->Wait(
      [&ctx] { return ctx.Cancelled() || (ctx.deadline && ttrpc::Clock::now() >= *ctx.deadline); });
  if (!exit) return RpcStatus{Code::kCancelled, "wait cancelled"};
  task::WaitResponse resp;
  resp.set_exit_status(exit->status);
  SetTime(resp.mutable_exited_at(), exit->at);
  return resp;
}

RpcResult<task::StateResponse> TaskService::State(const CallContext& /*ctx*/, const task::StateRequest& r) {
  auto c = Find(r.id());
  if (!c.ok()) return c.error();
  auto p = ProcessOf(**c, r.exec_id());
  if (!p.ok()) return p.error();
  task::StateResponse resp;
  resp.set_id(r.exec_id().empty() ? r.id() : r.exec_id());
  resp.set_bundle((*c)->bundle);
  resp.set_pid((*p)->pid());
  bool paused;
  {
    std::lock_guard<std::mutex> g(mu_);
    paused = (*c)->paused;
  }
  resp.set_status(StatusOf(**p, paused));
  resp.set_stdin((*p)->io().in);
  resp.set_stdout((*p)->io().out);
  resp.set_stderr((*p)->io().err);
  resp.set_terminal((*p)->io().terminal);
  resp.set_exec_id(r.exec_id());
  if (auto exit = (*p)->exit()) {
    resp.set_exit_status(exit->status);
    SetTime(resp.mutable_exited_at(), exit->at);
  }
  return resp;
}

RpcResult<Empty> TaskService::Kill(const CallContext& /*ctx*/, const task::KillRequest& r) {
  if (r.signal() < 1 || r.signal() > 64) return RpcStatus{Code::kInvalidArgument, "signal out of range"};
  auto c = Find(r.id());
  if (!c.ok()) return c.error();
  auto p = ProcessOf(**c, r.exec_id());
  if (!p.ok()) return p.error();
  if (auto st = (*p)->Kill(api_, static_cast<int>(r.signal())); !st.ok()) return st.error();
  if (r.all() && r.exec_id().empty()) {
    std::vector<std::shared_ptr<Process>> execs;
    {
      std::lock_guard<std::mutex> g(mu_);
      for (auto& [_, e] : (*c)->execs) execs.push_back(e);
    }
    for (auto& e : execs) e->Kill(api_, static_cast<int>(r.signal())).ok();
  }
  return Empty();
}

RpcResult<Empty> TaskService::Exec(const CallContext& /*ctx*/, const task::ExecProcessRequest& r) {
  if (r.exec_id().empty()) return RpcStatus{Code::kInvalidArgument, "exec_id is required"};
  auto c = Find(r.id());
  if (!c.ok()) return c.error();
  Stdio io{r.stdin(), r.stdout(), r.stderr(), r.terminal()};
  if (auto st = CheckStdio(io); !st.ok()) return st.error();
  if (r.spec().value().size() > (4u << 20)) return RpcStatus{Code::kInvalidArgument, "exec spec too large"};
  auto j = ParseJson(r.spec().value());
  if (!j.ok()) return j.error().Wrap("exec spec");
  auto spec = ParseProcessSpec(*j);
  if (!spec.ok()) return spec.error().Wrap("exec spec");
  spec->terminal = r.terminal();
  if (!(*c)->guest_root.empty()) *spec = Chrooted(*spec, (*c)->guest_root);
  {
    std::lock_guard<std::mutex> g(mu_);
    if ((*c)->execs.count(r.exec_id()) != 0)
      return RpcStatus{Code::kAlreadyExists, "exec " + r.exec_id() + ": already exists"};
    if ((*c)->execs.size() >= 256)
      return RpcStatus{Code::kResourceExhausted, "too many execs in task " + r.id()};
    (*c)->execs[r.exec_id()] = std::make_shared<Process>(r.exec_id(), std::move(*spec), io, (*c)->pid);
  }
  ev::TaskExecAdded e;
  e.set_container_id(r.id());
  e.set_exec_id(r.exec_id());
  events_.Publish("/tasks/exec-added", e);
  return Empty();
}

RpcResult<Empty> TaskService::ResizePty(const CallContext& /*ctx*/, const task::ResizePtyRequest& r) {
  auto p = FindProcess(r.id(), r.exec_id());
  if (!p.ok()) return p.error();
  auto clamp = [](uint32_t v) {
    return static_cast<uint16_t>(std::min<uint32_t>(std::max<uint32_t>(v, 1), 65535));
  };
  if (auto st = (*p)->Resize(clamp(r.height()), clamp(r.width())); !st.ok()) return st.error();
  return Empty();
}

RpcResult<Empty> TaskService::CloseIO(const CallContext& /*ctx*/, const task::CloseIORequest& r) {
  auto p = FindProcess(r.id(), r.exec_id());
  if (!p.ok()) return p.error();
  if (r.stdin()) (*p)->CloseStdin();
  return Empty();
}

RpcResult<task::PidsResponse> TaskService::Pids(const CallContext& /*ctx*/, const task::PidsRequest& r) {
  auto c = Find(r.id());
  if (!c.ok()) return c.error();
  task::PidsResponse resp;
  resp.add_processes()->set_pid((*c)->pid);
  return resp;
}

RpcResult<task::DeleteResponse> TaskService::Delete(const CallContext& /*ctx*/,
                                                    const task::DeleteRequest& r) {
  auto c = Find(r.id());
  if (!c.ok()) return c.error();
  auto p = ProcessOf(**c, r.exec_id());
  if (!p.ok()) return p.error();
  if ((*p)->state() == ProcState::kRunning)
    return RpcStatus{Code::kFailedPrecondition, "process " + (r.exec_id().empty() ? r.id() : r.exec_id()) +
                                                    " is running: kill it first"};
  if ((*p)->state() == ProcState::kCreated) (*p)->MarkExited(137);
  auto exit = (*p)->exit();
  task::DeleteResponse resp;
  resp.set_pid((*p)->pid());
  resp.set_exit_status(exit ? exit->status : 0);
  SetTime(resp.mutable_exited_at(), exit ? exit->at : std::chrono::system_clock::now());
  if (!r.exec_id().empty()) {
    std::lock_guard<std::mutex> g(mu_);
    (*c)->execs.erase(r.exec_id());
    return resp;
  }
  std::vector<std::shared_ptr<Process>> procs{(*c)->main};
  {
    std::lock_guard<std::mutex> g(mu_);
    for (auto& [_, e] : (*c)->execs) procs.push_back(e);
  }
  for (auto& proc : procs) proc->Detach();
  if ((*c)->owns_vm) {
    if (auto st = CleanupContainer(api_, ns_, r.id(), (*c)->bundle); !st.ok())
      return st.error().Wrap("deleting task " + r.id());
  } else {
    if (auto st = (*c)->main->Kill(api_, 9); !st.ok() && st.error().kind() != ErrorKind::kNotFound)
      spdlog::warn("task {}: {}", r.id(), st.error().message());
    if (!(*c)->guest_root.empty()) {
      if (auto st = RemoveGuestRoot(api_, (*c)->vm, (*c)->guest_root); !st.ok())
        spdlog::warn("task {}: removing its root: {}", r.id(), st.error().message());
    }
  }
  {
    std::lock_guard<std::mutex> g(mu_);
    containers_.erase(r.id());
  }
  ev::TaskDelete e;
  e.set_container_id(r.id());
  e.set_pid(resp.pid());
  e.set_exit_status(resp.exit_status());
  *e.mutable_exited_at() = resp.exited_at();
  e.set_id(r.id());
  events_.Publish("/tasks/delete", e);
  spdlog::info("task {}: deleted", r.id());
  return resp;
}

RpcResult<task::ConnectResponse> TaskService::Connect(const CallContext& /*ctx*/,
                                                      const task::ConnectRequest& r) {
  task::ConnectResponse resp;
  resp.set_shim_pid(static_cast<uint32_t>(::getpid()));
  resp.set_version("banger-shim-v2");
  if (auto c = Find(r.id()); c.ok()) resp.set_task_pid((*c)->pid);
  return resp;
}

RpcResult<Empty> TaskService::Shutdown(const CallContext& /*ctx*/, const task::ShutdownRequest& r) {
  {
    std::lock_guard<std::mutex> g(mu_);
    if (!r.now() && (!containers_.empty() || !creating_.empty())) return Empty();
    shutdown_ = true;
  }
  shutdown_cv_.notify_all();
  return Empty();
}

RpcResult<Empty> TaskService::SetPaused(const std::string& id, bool pause) {
  auto c = Find(id);
  if (!c.ok()) return c.error();
  auto r = api_.Call("POST", "/v1/vms/" + UrlEncode((*c)->vm) + (pause ? "/pause" : "/resume"), nullptr,
                     kLongTimeout);
  if (!r.ok()) return r.error();
  {
    std::lock_guard<std::mutex> g(mu_);
    (*c)->paused = pause;
  }
  if (pause) {
    ev::TaskPaused e;
    e.set_container_id(id);
    events_.Publish("/tasks/paused", e);
  } else {
    ev::TaskResumed e;
    e.set_container_id(id);
    events_.Publish("/tasks/resumed", e);
  }
  return Empty();
}

RpcResult<Empty> TaskService::Pause(const CallContext& /*ctx*/, const task::PauseRequest& r) {
  return SetPaused(r.id(), true);
}

RpcResult<Empty> TaskService::Resume(const CallContext& /*ctx*/, const task::ResumeRequest& r) {
  return SetPaused(r.id(), false);
}

Status TaskService::Register(ttrpc::TtrpcServer& s) {
  BANGER_RETURN_IF_ERROR(Add(s, "Create", &TaskService::Create));
  BANGER_RETURN_IF_ERROR(Add(s, "Start", &TaskService::Start));
  BANGER_RETURN_IF_ERROR(Add(s, "Wait", &TaskService::Wait));
  BANGER_RETURN_IF_ERROR(Add(s, "State", &TaskService::State));
  BANGER_RETURN_IF_ERROR(Add(s, "Kill", &TaskService::Kill));
  BANGER_RETURN_IF_ERROR(Add(s, "Exec", &TaskService::Exec));
  BANGER_RETURN_IF_ERROR(Add(s, "ResizePty", &TaskService::ResizePty));
  BANGER_RETURN_IF_ERROR(Add(s, "CloseIO", &TaskService::CloseIO));
  BANGER_RETURN_IF_ERROR(Add(s, "Pids", &TaskService::Pids));
  BANGER_RETURN_IF_ERROR(Add(s, "Pause", &TaskService::Pause));
  BANGER_RETURN_IF_ERROR(Add(s, "Resume", &TaskService::Resume));
  BANGER_RETURN_IF_ERROR(Add(s, "Delete", &TaskService::Delete));
  BANGER_RETURN_IF_ERROR(Add(s, "Connect", &TaskService::Connect));
  BANGER_RETURN_IF_ERROR(Add(s, "Shutdown", &TaskService::Shutdown));
  return OkStatus();
}

}  // namespace banger::shim

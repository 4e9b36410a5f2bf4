#include "daemon/vm_service.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <set>
#include <thread>

#include "base/fs.h"
#include "base/log.h"
#include "base/scope_guard.h"
#include "base/unique_fd.h"
#include "daemon/ssh_key.h"
#include "image/builder.h"
#include "storage/file_sync.h"
#include "model/json.h"

namespace banger {
namespace {

constexpr const char* kControlSock = "api.sock";
constexpr const char* kAgentSock = "agent.sock";
constexpr const char* kVsockSock = "v.sock";
constexpr const char* kConsoleLog = "console.log";
constexpr const char* kVmmLog = "vmm.log";
constexpr const char* kMetrics = "metrics.json";
constexpr const char* kOverlayDisk = "system-overlay.ext4";
constexpr const char* kWorkDisk = "work.ext4";
// sun_path holds 107 characters plus the NUL.
constexpr size_t kMaxSocketPath = 107;
// Firecracker appends "_<port>" (up to 11 chars) to the vsock path.
constexpr size_t kVsockSuffixRoom = 11;

// The guest CID must be >= 3 and unique per running VM: derive it from the
// id so it is deterministic (durable) and collisions are vanishingly rare.
uint32_t CidFor(const std::string& id) {
  uint32_t v = static_cast<uint32_t>(std::stoul(id.substr(0, 7), nullptr, 16));
  return 3 + v % 0x0FFFFFF0;
}

}  // namespace

VmService::VmService(VmServiceDeps deps) : d_(std::move(deps)) {}

std::shared_ptr<std::mutex> VmService::LockFor(const std::string& vm_id) {
  std::lock_guard<std::mutex> lk(locks_mu_);
  auto& m = locks_[vm_id];
  if (!m) m = std::make_shared<std::mutex>();
  return m;
}

void VmService::DropLock(const std::string& vm_id) {
  std::lock_guard<std::mutex> lk(locks_mu_);
  locks_.erase(vm_id);
  run_claimed_.erase(vm_id);
}

bool VmService::ClaimRunCommand(const std::string& vm_id) {
  std::lock_guard<std::mutex> lk(locks_mu_);
  return run_claimed_.insert(vm_id).second;
}

bool VmService::RunCommandClaimed(const std::string& vm_id) {
  std::lock_guard<std::mutex> lk(locks_mu_);
  return run_claimed_.count(vm_id) > 0;
}

VmmBackend* VmService::BackendFor(BackendKind k) {
  auto it = d_.backends.find(k);
  return it == d_.backends.end() ? nullptr : it->second;
}

VMView VmService::ViewOf(const VMRecord& vm) {
  VMView v{vm, std::nullopt};
  if (vm.state == VMState::kRunning) v.handles = cache_.Get(vm.id);
  return v;
}

void VmService::EmitVM(const std::string& type, const VMRecord& vm, Json data) {
  Event ev;
  ev.type = type;
  ev.vm_id = vm.id;
  ev.vm_name = vm.name;
  ev.data = std::move(data);
  d_.events->Emit(std::move(ev));
}

void VmService::FillRuntimePaths(VMRecord& vm) {
  std::string dir = d_.home.VMDir(vm.id);
  vm.runtime.vm_dir = dir;
  vm.runtime.api_sock_path = dir + "/" + kControlSock;
  vm.runtime.log_path = dir + "/" + kConsoleLog;
  vm.runtime.system_overlay_path = dir + "/" + kOverlayDisk;
  vm.runtime.work_disk_path = dir + "/" + kWorkDisk;
  if (vm.spec.backend == BackendKind::kFirecracker) {
    vm.runtime.vsock_path = dir + "/" + kVsockSock;
    vm.runtime.vsock_cid = CidFor(vm.id);
    vm.runtime.metrics_path = dir + "/" + kMetrics;
  } else {
    vm.runtime.vsock_path.clear();
    vm.runtime.vsock_cid = 0;
    vm.runtime.metrics_path.clear();
  }
}

Status VmService::EnsureDisks(const VMRecord& vm, const Image& img) {
  BANGER_RETURN_IF_ERROR(MakeDirs(vm.runtime.vm_dir, 0700));
  const std::string& overlay = vm.runtime.system_overlay_path;
  if (d_.config.cow_mode == kCowModeDmSnapshot) {
    // The snapshot's COW store: raw and sparse; the kernel writes its header.
    if (!PathExists(overlay)) {
      BANGER_RETURN_IF_ERROR(CreateCowFile(overlay, vm.spec.system_overlay_size_bytes));
    } else if (ProbeDiskFormat(overlay) == DiskFormat::kExt4) {
      // Used as a COW store, the ext4 would be overwritten.
      return Error::Conflict("the system overlay " + overlay + " of vm " + vm.name +
                             " is an ext4 disk made under cow_mode = \"overlay\"; set cow_mode = \"overlay\" "
                             "again, or recreate the vm");
    }
  } else if (!PathExists(overlay)) {
    BANGER_RETURN_IF_ERROR(d_.disks->CreateExt4(overlay, vm.spec.system_overlay_size_bytes, "banger-overlay"));
  } else if (ProbeDiskFormat(overlay) == DiskFormat::kDmCow) {
    return Error::Conflict("the system overlay " + overlay + " of vm " + vm.name +
                           " is a dm-snapshot COW store made under cow_mode = \"dm-snapshot\"; set cow_mode = "
                           "\"dm-snapshot\" again, or recreate the vm");
  }
  if (!PathExists(vm.runtime.work_disk_path)) {
    if (!img.work_seed_path.empty()) {
      BANGER_RETURN_IF_ERROR(
          d_.disks->CreateFromSeed(img.work_seed_path, vm.runtime.work_disk_path, vm.spec.work_disk_size_bytes));
    } else {
      BANGER_RETURN_IF_ERROR(
          d_.disks->CreateExt4(vm.runtime.work_disk_path, vm.spec.work_disk_size_bytes, "banger-work"));
    }
  }
  return OkStatus();
}

// ---------------------------------------------------------------- images

Result<Image> VmService::ImportImage(const ImportImageRequest& req) {
  BANGER_RETURN_IF_ERROR(ValidateImageName(req.name));
  auto check_file = [](const char* what, const std::string& p, bool required) -> Status {
    if (p.empty()) {
      if (required) return Error::Invalid(std::string(what) + " path is required");
      return OkStatus();
    }
    if (p[0] != '/') return Error::Invalid(std::string(what) + " path must be absolute: " + p);
    if (!PathExists(p)) return Error::Invalid(std::string(what) + " " + p + " does not exist");
    if (!IsRegularFile(p)) return Error::Invalid(std::string(what) + " " + p + " is not a regular file");
    if (::access(p.c_str(), R_OK) != 0) return Error::Invalid(std::string(what) + " " + p + " is not readable");
    return OkStatus();
  };
  BANGER_RETURN_IF_ERROR(check_file("kernel", req.kernel_path, true));
  BANGER_RETURN_IF_ERROR(check_file("rootfs", req.rootfs_path, true));
  BANGER_RETURN_IF_ERROR(check_file("initrd", req.initrd_path, false));
  BANGER_RETURN_IF_ERROR(check_file("work seed", req.work_seed_path, false));
  if (!req.modules_dir.empty()) {
    if (req.modules_dir[0] != '/') return Error::Invalid("modules path must be absolute: " + req.modules_dir);
    if (!IsDirectory(req.modules_dir)) return Error::Invalid("modules dir " + req.modules_dir + " is not a directory");
  }
  Image img;
  img.id = NewID();
  img.name = req.name;
  img.managed = false;
  img.kernel_path = req.kernel_path;
  img.rootfs_path = req.rootfs_path;
  img.initrd_path = req.initrd_path;
  img.modules_dir = req.modules_dir;
  img.work_seed_path = req.work_seed_path;
  img.created_at = img.updated_at = Now();
  BANGER_RETURN_IF_ERROR(d_.store->InsertImage(img));
  Event ev;
  ev.type = "image.created";
  ev.data = Json{{"image_id", img.id}, {"name", img.name}};
  d_.events->Emit(std::move(ev));
  spdlog::info("imported image {} ({})", img.name, img.id);
  return img;
}

Result<Image> VmService::BuildImage(const BuildImageRequest& req,
                                   const std::function<void(const std::string&)>& progress,
                                   const std::atomic<bool>& cancel) {
  BANGER_RETURN_IF_ERROR(ValidateImageName(req.name));
  if (req.profile != "minimal" && req.profile != "debian") {
    return Error::Invalid("unknown profile \"" + req.profile + "\" (use minimal or debian)");
  }
  if (req.docker && req.profile != "debian") return Error::Invalid("--docker needs --profile debian");
  if (req.size_bytes < 0 || req.size_bytes > kMaxDiskBytes) return Error::Invalid("image size exceeds the maximum of 128G");
  if (d_.store->GetImage(req.name).ok()) return Error::Conflict("image name \"" + req.name + "\" is already in use");
  if (d_.agent_binary.empty() || !IsRegularFile(d_.agent_binary)) {
    return Error::Unavailable("the guest agent binary banger-agent was not found next to bangerd (" +
                              d_.agent_binary + "); reinstall banger");
  }
  BANGER_ASSIGN_OR_RETURN(SshKey key, EnsureSshKey(d_.config.ssh_key_path, d_.home.root));

  Image img;
  img.id = NewID();
  img.name = req.name;
  img.managed = true;
  img.artifact_dir = d_.home.ImagesDir() + "/" + img.id.substr(0, 16);
  BANGER_RETURN_IF_ERROR(MakeDirs(img.artifact_dir, 0755));
  ScopeGuard undo([&] { RemoveAll(img.artifact_dir).ok(); });
  spdlog::info("building image {} (profile {}{}) in {}", img.name, req.profile, req.docker ? ", docker" : "",
               img.artifact_dir);

  ImageBuildRequest br;
  br.name = req.name;
  br.profile = req.profile;
  br.docker = req.docker;
  br.rootfs_size_bytes = req.size_bytes;
  ImageBuildEnv env;
  env.artifact_dir = img.artifact_dir;
  env.agent_binary = d_.agent_binary;
  env.ssh_public_key = key.public_key;
  env.kernel_cache_dir = d_.home.root + "/cache";
  auto built = banger::BuildImage(br, env, progress, cancel);
  if (!built.ok()) return std::move(built).error().Wrap("building image " + req.name);
  img.kernel_path = built->kernel_path;
  img.initrd_path = built->initrd_path;
  img.rootfs_path = built->rootfs_path;
  img.modules_dir = built->modules_dir;
  img.work_seed_path = built->work_seed_path;
  img.build_size = built->build_size;
  img.docker = req.docker;
  img.seeded_ssh_public_key_fingerprint = key.fingerprint;
  img.created_at = img.updated_at = Now();
  BANGER_RETURN_IF_ERROR(d_.store->InsertImage(img));
  undo.Dismiss();
  Event ev;
  ev.type = "image.created";
  ev.data = Json{{"image_id", img.id}, {"name", img.name}, {"profile", req.profile}};
  d_.events->Emit(std::move(ev));
  spdlog::info("built image {} ({})", img.name, img.id);
  return img;
}

Result<std::vector<Image>> VmService::ListImages() { return d_.store->ListImages(); }

Result<Image> VmService::GetImage(const std::string& ref) { return d_.store->GetImage(ref); }

Result<std::string> VmService::DeleteImage(const std::string& ref) {
  BANGER_ASSIGN_OR_RETURN(Image img, d_.store->GetImage(ref));
  BANGER_ASSIGN_OR_RETURN(int users, d_.store->CountVMsUsingImage(img.id));
  if (users > 0) {
    return Error::Conflict("image " + img.name + " is used by " + std::to_string(users) +
                           " vm(s); delete them first");
  }
  BANGER_RETURN_IF_ERROR(d_.store->DeleteImage(img.id));
  if (img.managed && !img.artifact_dir.empty()) RemoveAll(img.artifact_dir).ok();
  Event ev;
  ev.type = "image.deleted";
  ev.data = Json{{"image_id", img.id}, {"name", img.name}};
  d_.events->Emit(std::move(ev));
  return img.id;
}

// ---------------------------------------------------------------- vms

Result<CreateResult> VmService::Create(const CreateVMRequest& req) {
  if (!req.request_id.empty()) {
    if (req.request_id.size() > 128) return Error::Invalid("request_id longer than 128 bytes");
    BANGER_ASSIGN_OR_RETURN(auto prior, d_.store->FindVMByRequestID(req.request_id));
    if (prior) return CreateResult{ViewOf(*prior), false};
  }
  VMRecord vm;
  vm.name = req.name.empty() ? GenerateVMName() : req.name;
  BANGER_RETURN_IF_ERROR(ValidateVMName(vm.name));
  for (const auto& [k, v] : req.labels) BANGER_RETURN_IF_ERROR(ValidateLabel(k, v));
  const auto& def = d_.config.vm_defaults;
  vm.spec.vcpu_count = req.vcpu_count.value_or(def.vcpu_count);
  vm.spec.memory_mib = req.memory_mib.value_or(def.memory_mib);
  vm.spec.system_overlay_size_bytes = req.system_overlay_size_bytes.value_or(def.system_overlay_size_bytes);
  vm.spec.work_disk_size_bytes = req.work_disk_size_bytes.value_or(def.work_disk_size_bytes);
  vm.spec.nat_enabled = req.nat_enabled.value_or(def.nat_enabled);
  vm.spec.auto_remove = req.auto_remove;
  BANGER_RETURN_IF_ERROR(CheckNatRequest(req.nat_enabled));
  vm.spec.backend = d_.default_backend;
  if (req.backend) {
    BANGER_ASSIGN_OR_RETURN(vm.spec.backend, ParseBackend(*req.backend));
  }
  BANGER_RETURN_IF_ERROR(ValidateSpec(vm.spec));
  if (!BackendFor(vm.spec.backend)) {
    return Error::Unavailable(std::string("backend ") + BackendName(vm.spec.backend) + " is not configured");
  }
  std::string image_ref = req.image.empty() ? d_.config.default_image_name : req.image;
  if (image_ref.empty()) return Error::Invalid("no image given and no default_image_name configured");
  auto img = d_.store->GetImage(image_ref);
  if (!img.ok()) {
    if (img.error().kind() == ErrorKind::kNotFound) {
      return Error::NotFound("image \"" + image_ref + "\" not found (see `banger image list`)");
    }
    return std::move(img).error();
  }
  // A fresh id whose directory is free (the directory is named by a prefix).
  do {
    vm.id = NewID();
  } while (PathExists(d_.home.VMDir(vm.id)));
  vm.image_id = img->id;
  vm.labels = req.labels;
  vm.request_id = req.request_id;
  vm.created_at = vm.updated_at = vm.last_touched_at = Now();
  vm.state = vm.runtime.state = VMState::kCreated;
  vm.runtime.dns_name = vm.name + ".vm";
  // Serialized: two creates must not pick the same address.
  std::unique_lock<std::mutex> ip_lock(create_mu_);
  if (d_.network) {
    BANGER_ASSIGN_OR_RETURN(auto all, d_.store->ListVMs());
    std::set<std::string> in_use;
    for (const auto& other : all) {
      if (!other.runtime.guest_ip.empty()) in_use.insert(other.runtime.guest_ip);
    }
    BANGER_ASSIGN_OR_RETURN(vm.runtime.guest_ip, d_.network->AllocateIp(in_use));
  }
  FillRuntimePaths(vm);
  if (vm.runtime.vsock_path.size() + kVsockSuffixRoom > kMaxSocketPath ||
      vm.runtime.api_sock_path.size() > kMaxSocketPath) {
    return Error::Invalid("home directory path " + d_.home.root + " is too long for Unix socket paths");
  }

  // Files first, then the row: a crash in between leaves an orphan
  // directory, which Reconcile removes; never a row without its files.
  auto lock = LockFor(vm.id);
  std::lock_guard<std::mutex> lk(*lock);
  ScopeGuard undo_dir([&] { RemoveAll(vm.runtime.vm_dir).ok(); });
  BANGER_RETURN_IF_ERROR(Annotate(EnsureDisks(vm, *img), "creating disks for vm " + vm.name));
  if (!d_.config.file_sync.empty()) {
    std::vector<SyncEntry> entries;
    for (const auto& e : d_.config.file_sync) entries.push_back({e.host, e.guest, e.mode});
    const char* home = std::getenv("HOME");
    auto warnings = SyncIntoExt4(vm.runtime.work_disk_path, entries, home ? home : "/root");
    if (!warnings.ok()) return std::move(warnings).error().Wrap("vm " + vm.name);
    for (const auto& w : *warnings) spdlog::warn("vm {}: {}", vm.name, w);
  }
  auto ins = d_.store->InsertVM(vm);
  if (!ins.ok()) {
    if (ins.error().kind() == ErrorKind::kConflict && !req.request_id.empty()) {
      // A concurrent create with the same key won the race: answer with its VM.
      auto prior = d_.store->FindVMByRequestID(req.request_id);
      if (prior.ok() && *prior) return CreateResult{ViewOf(**prior), false};
    }
    return std::move(ins).error();
  }
  undo_dir.Dismiss();
  ip_lock.unlock();  // the address is recorded now
  EmitVM("vm.created", vm, Json{{"image_id", vm.image_id}});
  spdlog::info("created vm {} ({})", vm.name, vm.id);
  if (req.no_start) return CreateResult{ViewOf(vm), true};
  BANGER_ASSIGN_OR_RETURN(vm, StartLocked(std::move(vm)));
  return CreateResult{ViewOf(vm), true};
}

Status VmService::SaveState(VMRecord& vm, VMState to, const std::string& reason) {
  VMState from = vm.state;
  vm.state = vm.runtime.state = to;
  vm.updated_at = Now();
  BANGER_RETURN_IF_ERROR(d_.store->UpdateVM(vm));
  if (from != to) {
    Json data{{"from", VMStateName(from)}, {"to", VMStateName(to)}};
    if (!vm.runtime.boot_id.empty()) data["boot_id"] = vm.runtime.boot_id;
    if (!reason.empty()) data["reason"] = reason;
    EmitVM("vm.state", vm, std::move(data));
  }
  return OkStatus();
}

Result<VMRecord> VmService::StartLocked(VMRecord vm) {
  if (vm.state == VMState::kRunning && VmAlive(vm)) return vm;
  VmmBackend* backend = BackendFor(vm.spec.backend);
  auto fail = [&](Error e) -> Result<VMRecord> {
    vm.runtime.last_error = e.message();
    if (auto st = SaveState(vm, VMState::kError, e.message()); !st.ok()) {
      spdlog::error("vm {}: recording start failure: {}", vm.name, st.error().message());
    }
    spdlog::warn("vm {}: start failed: {}", vm.name, e.message());
    return std::move(e).Wrap("starting vm " + vm.name);
  };
  if (!backend) return fail(Error::Unavailable(std::string("backend ") + BackendName(vm.spec.backend) + " is not configured"));
  auto img = d_.store->GetImage(vm.image_id);
  if (!img.ok()) return fail(std::move(img).error().Wrap("image of vm"));
  for (const auto& [what, path] : {std::pair<const char*, std::string>{"kernel", img->kernel_path},
                                   {"rootfs", img->rootfs_path}, {"initrd", img->initrd_path}}) {
    if (!path.empty() && !IsRegularFile(path)) {
      return fail(Error::Unavailable(std::string("image ") + img->name + ": " + what + " " + path + " is missing"));
    }
  }
  if (auto st = backend->CheckAvailable(); !st.ok()) return fail(std::move(st).error());
  const bool dm_mode = d_.config.cow_mode == kCowModeDmSnapshot;
  if (dm_mode) {
    Status avail = d_.dm ? d_.dm->Available() : Status(Error::Unavailable("device-mapper support is not configured"));
    if (!avail.ok()) {
      return fail(Error::Unavailable("cow_mode = dm-snapshot but device-mapper is not available on this host (" +
                                     avail.error().message() + "); use cow_mode = \"overlay\""));
    }
  }
  // Leftovers of an earlier run (a crash mid-start) must not confuse this one.
  CleanupRuntime(vm, cache_.Get(vm.id));
  if (auto st = EnsureDisks(vm, *img); !st.ok()) return fail(std::move(st).error());

  VMHandles h;  // what this boot holds: transient, never in the store
  std::optional<ScopeGuard> undo_dm;
  if (dm_mode) {
    auto dm = SetUpDmRoot(*d_.dm, vm.id, img->rootfs_path, vm.runtime.system_overlay_path);
    if (!dm.ok()) return fail(std::move(dm).error().Wrap("setting up the dm-snapshot root"));
    h = *dm;
    undo_dm.emplace([this, &vm, &h] {
      VMHandles left = ReleaseDmRoot(vm, h);
      cache_.Erase(vm.id);
      if (left.empty()) RemoveHandlesFile(vm.runtime.vm_dir).ok();
      else WriteHandlesFile(vm.runtime.vm_dir, left).ok();
    });
    // Recorded before the VMM runs: should the daemon die from here on, the
    // scratch file names the devices and Reconcile tears them down.
    cache_.Set(vm.id, h);
    if (auto st = WriteHandlesFile(vm.runtime.vm_dir, h); !st.ok()) return fail(std::move(st).error());
  }

  std::optional<ScopeGuard> undo_nic;
  if (d_.network) {
    auto nic = d_.network->Attach(vm);
    if (!nic.ok()) return fail(std::move(nic).error().Wrap("network"));
    h.tap_device = nic->tap;
    undo_nic.emplace([this, &vm, tap = nic->tap] { d_.network->Detach(vm, tap); });
    // Recorded before the VMM runs, so a crash from here on leaves the tap named.
    cache_.Set(vm.id, h);
    if (auto st = WriteHandlesFile(vm.runtime.vm_dir, h); !st.ok()) return fail(std::move(st).error());
  }

  LaunchSpec ls;
  ls.vm_id = vm.id;
  ls.vm_name = vm.name;
  ls.vcpu_count = vm.spec.vcpu_count;
  ls.memory_mib = vm.spec.memory_mib;
  ls.kernel_path = img->kernel_path;
  ls.initrd_path = img->initrd_path;
  // The contract with the guest init (guest/init/init.sh).
  ls.kernel_cmdline = "console=ttyS0 reboot=k panic=1 banger.hostname=" + vm.name + " banger.vm_id=" + vm.id +
                      " banger.agent=" + (vm.spec.backend == BackendKind::kFirecracker ? "vsock" : "serial");
  if (dm_mode) {
    // The snapshot is the VM's private root: the guest mounts it read-write.
    ls.kernel_cmdline += " banger.cow=dm";
    ls.drives = {{"rootfs", h.dm_dev, false}, {"work", vm.runtime.work_disk_path, false}};
  } else {
    ls.drives = {{"rootfs", img->rootfs_path, true},
                 {"overlay", vm.runtime.system_overlay_path, false},
                 {"work", vm.runtime.work_disk_path, false}};
  }
  if (d_.network) {
    ls.tap_device = h.tap_device;
    ls.guest_mac = MacForIp(vm.runtime.guest_ip);
    ls.kernel_cmdline += d_.network->KernelArgs(vm);
  }
  ls.vm_dir = vm.runtime.vm_dir;
  ls.control_sock_path = vm.runtime.api_sock_path;
  ls.vsock_path = vm.runtime.vsock_path;
  ls.vsock_cid = vm.runtime.vsock_cid;
  if (vm.spec.backend == BackendKind::kQemu) ls.agent_sock_path = vm.runtime.vm_dir + "/" + kAgentSock;
  ls.console_log_path = vm.runtime.log_path;
  ls.vmm_log_path = vm.runtime.vm_dir + "/" + kVmmLog;
  ls.metrics_path = vm.runtime.metrics_path;

  spdlog::info("vm {}: starting ({})", vm.name, BackendName(vm.spec.backend));
  auto proc = backend->Launch(ls, d_.launch_timeout);
  if (!proc.ok()) return fail(std::move(proc).error());

  h.pid = proc->pid;
  cache_.Set(vm.id, h);
  if (auto st = WriteHandlesFile(vm.runtime.vm_dir, h); !st.ok()) {
    // Without the scratch file a crashed daemon could not tear this down; refuse to run so.
    backend->Shutdown(*proc, std::chrono::milliseconds(0)).ok();
    cache_.Erase(vm.id);
    return fail(std::move(st).error());
  }
  vm.runtime.boot_id = NewID().substr(0, 32);
  vm.runtime.started_at = Now();
  vm.runtime.last_error.clear();
  vm.last_touched_at = Now();
  if (auto st = SaveState(vm, VMState::kRunning, "started"); !st.ok()) {
    backend->Shutdown(*proc, std::chrono::milliseconds(0)).ok();
    if (undo_dm) undo_dm->Dismiss();  // CleanupRuntime tears the dm root down
    if (undo_nic) undo_nic->Dismiss();  // and gives the tap back
    CleanupRuntime(vm, h);
    return std::move(st).error().Wrap("starting vm " + vm.name);
  }
  if (undo_dm) undo_dm->Dismiss();
  if (undo_nic) undo_nic->Dismiss();
  spdlog::info("vm {}: running, pid {}, boot {}", vm.name, h.pid, vm.runtime.boot_id);
  return vm;
}

Result<VMRecord> VmService::StopLocked(VMRecord vm, std::chrono::milliseconds graceful, const std::string& reason) {
  auto handles = cache_.Get(vm.id);
  if (handles && handles->pid > 0 && VmAlive(vm)) {
    VmmBackend* backend = BackendFor(vm.spec.backend);
    if (!backend) return Error::Unavailable(std::string("backend ") + BackendName(vm.spec.backend) + " is not configured");
    spdlog::info("vm {}: stopping pid {} (graceful {}ms)", vm.name, handles->pid, graceful.count());
    auto st = backend->Shutdown(VmmProcess{handles->pid, vm.runtime.api_sock_path}, graceful);
    if (!st.ok()) return std::move(st).error().Wrap("stopping vm " + vm.name);
  }
  CleanupRuntime(vm, handles);
  if (vm.state != VMState::kStopped && vm.state != VMState::kCreated) {
    BANGER_RETURN_IF_ERROR(SaveState(vm, VMState::kStopped, reason));
  }
  return vm;
}

void VmService::CleanupRuntime(const VMRecord& vm, const std::optional<VMHandles>& handles) {
  const std::string& sock = vm.runtime.api_sock_path;
  std::set<pid_t> pids;
  if (handles && handles->pid > 0 && d_.procs->Alive(handles->pid) &&
      CmdlineMentions(d_.procs->Cmdline(handles->pid), sock)) {
    pids.insert(handles->pid);
  }
  for (pid_t p : d_.procs->FindByArg(sock)) pids.insert(p);
  for (pid_t p : pids) {
    spdlog::warn("vm {}: killing leftover vmm process {}", vm.name, p);
    d_.procs->Signal(p, SIGKILL).ok();
  }
  for (int i = 0; i < 250 && !pids.empty(); ++i) {
    std::erase_if(pids, [&](pid_t p) { return !d_.procs->Alive(p); });
    if (!pids.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (d_.agents) d_.agents->Drop(vm.id);
  if (d_.network && handles && !handles->tap_device.empty()) d_.network->Detach(vm, handles->tap_device);
  // The VMM is gone, so the dm root is closed and can go.
  VMHandles dm_left = ReleaseDmRoot(vm, handles);
  if (!vm.runtime.vm_dir.empty()) {
    for (const char* f : {kControlSock, kAgentSock, kVsockSock}) RemoveFile(vm.runtime.vm_dir + "/" + f).ok();
    RemoveHandlesFile(vm.runtime.vm_dir).ok();
    if (!dm_left.empty()) {
      // Keep naming what is still there, so a later cleanup (or Reconcile) retries.
      spdlog::warn("vm {}: dm-snapshot devices left behind ({} {} {}); will retry", vm.name, dm_left.dm_name,
                   dm_left.cow_loop, dm_left.base_loop);
      WriteHandlesFile(vm.runtime.vm_dir, dm_left).ok();
    }
  }
  cache_.Erase(vm.id);
}

VMHandles VmService::ReleaseDmRoot(const VMRecord& vm, const std::optional<VMHandles>& handles) {
  VMHandles h;
  if (handles) {
    h.base_loop = handles->base_loop;
    h.cow_loop = handles->cow_loop;
    h.dm_name = handles->dm_name;
    h.dm_dev = handles->dm_dev;
  }
  const bool dm_mode = d_.config.cow_mode == kCowModeDmSnapshot;
  // The overlay mode never touches device-mapper unless handles name some.
  if (!d_.dm || (!dm_mode && h.empty())) return h;
  const std::string& cow = vm.runtime.system_overlay_path;
  std::vector<std::string> extra_cow_loops;
  if (dm_mode) {
    // Rediscovery, for handles lost with a crash: the dm name is derived
    // from the id and the COW file is private to this VM.
    if (h.dm_name.empty() && !vm.id.empty()) h.dm_name = DmNameFor(vm.id);
    if (!cow.empty() && PathExists(cow)) {
      if (auto loops = d_.dm->LoopsBackedBy(cow); loops.ok()) {
        for (const auto& l : *loops) {
          if (h.cow_loop.empty()) h.cow_loop = l;
          else if (l != h.cow_loop) extra_cow_loops.push_back(l);
        }
      }
    }
  }
  DmBackingFiles expect;
  expect.cow_file = cow;
  if (!h.base_loop.empty() && !vm.image_id.empty()) {
    if (auto img = d_.store->GetImage(vm.image_id); img.ok()) expect.base_rootfs = img->rootfs_path;
  }
  if (auto st = TearDownDm(*d_.dm, h, expect); !st.ok()) {
    spdlog::warn("vm {}: tearing down its dm-snapshot root: {}", vm.name, st.error().message());
  }
  for (const auto& l : extra_cow_loops) {
    if (auto st = d_.dm->DetachLoop(l); !st.ok()) spdlog::warn("vm {}: {}", vm.name, st.error().message());
  }
  return h;
}

Result<VMView> VmService::WithVmLocked(const std::string& ref,
                                       const std::function<Result<VMRecord>(VMRecord)>& op) {
  BANGER_ASSIGN_OR_RETURN(VMRecord vm, d_.store->GetVM(ref));
  auto lock = LockFor(vm.id);
  std::lock_guard<std::mutex> lk(*lock);
  // Re-read under the lock: the operation before us may have changed it.
  BANGER_ASSIGN_OR_RETURN(vm, d_.store->GetVM(vm.id));
  BANGER_ASSIGN_OR_RETURN(vm, op(std::move(vm)));
  return ViewOf(vm);
}

Result<VMView> VmService::Start(const std::string& ref) {
  return WithVmLocked(ref, [this](VMRecord vm) { return StartLocked(std::move(vm)); });
}

Result<VMView> VmService::Stop(const std::string& ref, std::optional<std::chrono::milliseconds> graceful) {
  return WithVmLocked(ref, [&](VMRecord vm) {
    return StopLocked(std::move(vm), graceful.value_or(d_.config.stop_timeout), "stopped");
  });
}

Result<bool> VmService::StopIfIdle(const std::string& id, Timestamp cutoff, const std::string& reason) {
  bool stopped = false;
  auto r = WithVmLocked(id, [&](VMRecord vm) -> Result<VMRecord> {
    if (vm.state != VMState::kRunning || vm.last_touched_at >= cutoff) return vm;
    stopped = true;
    return StopLocked(std::move(vm), d_.config.stop_timeout, reason);
  });
  if (!r.ok()) return std::move(r).error();
  return stopped;
}

Result<VMView> VmService::Restart(const std::string& ref, std::optional<std::chrono::milliseconds> graceful) {
  return WithVmLocked(ref, [&](VMRecord vm) -> Result<VMRecord> {
    BANGER_ASSIGN_OR_RETURN(vm, StopLocked(std::move(vm), graceful.value_or(d_.config.stop_timeout), "restarting"));
    return StartLocked(std::move(vm));
  });
}

Result<std::string> VmService::Delete(const std::string& ref, bool missing_ok) {
  auto found = d_.store->GetVM(ref);
  if (!found.ok()) {
    if (missing_ok && found.error().kind() == ErrorKind::kNotFound) return std::string();
    return std::move(found).error();
  }
  VMRecord vm = std::move(*found);
  auto lock = LockFor(vm.id);
  {
    std::lock_guard<std::mutex> lk(*lock);
    auto again = d_.store->GetVM(vm.id);
    if (!again.ok()) {
      if (again.error().kind() == ErrorKind::kNotFound && missing_ok) return std::string();
      return std::move(again).error();
    }
    vm = std::move(*again);
    BANGER_ASSIGN_OR_RETURN(vm, StopLocked(std::move(vm), std::chrono::milliseconds(0), "deleting"));
    // Row first: a crash after it leaves an orphan dir that Reconcile removes.
    BANGER_RETURN_IF_ERROR(d_.store->DeleteVM(vm.id));
    if (auto st = RemoveAll(vm.runtime.vm_dir); !st.ok()) {
      spdlog::warn("vm {}: removing {}: {}", vm.name, vm.runtime.vm_dir, st.error().message());
    }
    EmitVM("vm.deleted", vm);
  }
  DropLock(vm.id);
  spdlog::info("deleted vm {} ({})", vm.name, vm.id);
  return vm.id;
}

Result<VMView> VmService::Set(const std::string& ref, const SetVMRequest& req) {
  return WithVmLocked(ref, [&](VMRecord vm) { return SetLocked(std::move(vm), req); });
}

Result<VMRecord> VmService::SetLocked(VMRecord vm, const SetVMRequest& req) {
  DemoteIfDeadLocked(vm);
  bool running = vm.state == VMState::kRunning;
  VMSpec next = vm.spec;
  std::vector<std::string> needs_stop;
  if (req.vcpu_count && *req.vcpu_count != vm.spec.vcpu_count) {
    next.vcpu_count = *req.vcpu_count;
    needs_stop.push_back("vcpus");
  }
  if (req.memory_mib && *req.memory_mib != vm.spec.memory_mib) {
    next.memory_mib = *req.memory_mib;
    needs_stop.push_back("memory");
  }
  if (req.work_disk_size_bytes && *req.work_disk_size_bytes != vm.spec.work_disk_size_bytes) {
    if (*req.work_disk_size_bytes < vm.spec.work_disk_size_bytes) {
      return Error::Invalid("work disk of vm " + vm.name + " cannot shrink (" +
                            FormatSizeBytes(vm.spec.work_disk_size_bytes) + " -> " +
                            FormatSizeBytes(*req.work_disk_size_bytes) + "); only growing is supported");
    }
    next.work_disk_size_bytes = *req.work_disk_size_bytes;
    needs_stop.push_back("work disk size");
  }
  if (req.nat_enabled) next.nat_enabled = *req.nat_enabled;
  BANGER_RETURN_IF_ERROR(CheckNatRequest(req.nat_enabled));
  BANGER_RETURN_IF_ERROR(ValidateSpec(next));
  if (running && !needs_stop.empty()) {
    std::string what;
    for (const auto& n : needs_stop) what += (what.empty() ? "" : ", ") + n;
    return Error::Conflict("vm " + vm.name + " is running: changing " + what +
                           " needs it stopped first (banger vm stop " + vm.name + ")");
  }
  if (next.work_disk_size_bytes != vm.spec.work_disk_size_bytes && PathExists(vm.runtime.work_disk_path)) {
    BANGER_RETURN_IF_ERROR(Annotate(d_.disks->GrowExt4(vm.runtime.work_disk_path, next.work_disk_size_bytes),
                                    "growing work disk of vm " + vm.name));
  }
  if (running && d_.network && next.nat_enabled != vm.spec.nat_enabled) {
    // NAT changes live: the rules follow the flag at once.
    BANGER_RETURN_IF_ERROR(Annotate(d_.network->SetNat(vm, next.nat_enabled), "NAT for vm " + vm.name));
  }
  vm.spec = next;
  vm.updated_at = Now();
  BANGER_RETURN_IF_ERROR(d_.store->UpdateVM(vm));
  EmitVM("vm.updated", vm, Json{{"spec", ToJson(vm.spec)}});
  return vm;
}

void VmService::DemoteIfDeadLocked(VMRecord& vm) {
  if (vm.state != VMState::kRunning || VmAlive(vm)) return;
  spdlog::info("vm {}: vmm process is gone; marking stopped", vm.name);
  CleanupRuntime(vm, cache_.Get(vm.id));
  if (auto st = SaveState(vm, VMState::kStopped, "vmm exited"); !st.ok()) {
    spdlog::error("vm {}: {}", vm.name, st.error().message());
  }
}

Result<VMView> VmService::Get(const std::string& ref) {
  BANGER_ASSIGN_OR_RETURN(VMRecord vm, d_.store->GetVM(ref));
  if (vm.state == VMState::kRunning && !VmAlive(vm)) {
    auto lock = LockFor(vm.id);
    // Never block a read behind a long operation: if busy, show what is stored.
    if (lock->try_lock()) {
      std::lock_guard<std::mutex> lk(*lock, std::adopt_lock);
      BANGER_ASSIGN_OR_RETURN(vm, d_.store->GetVM(vm.id));
      DemoteIfDeadLocked(vm);
    }
  }
  return ViewOf(vm);
}

Result<std::vector<VMView>> VmService::List(const Labels& selector) {
  BANGER_ASSIGN_OR_RETURN(auto vms, d_.store->ListVMs(selector));
  std::vector<VMView> out;
  out.reserve(vms.size());
  for (const auto& vm : vms) out.push_back(ViewOf(vm));
  return out;
}

Result<LogChunk> VmService::ReadLogs(const std::string& ref, int64_t offset, size_t max_bytes,
                                     std::chrono::milliseconds wait) {
  if (offset < 0) return Error::Invalid("offset must not be negative");
  BANGER_ASSIGN_OR_RETURN(VMRecord vm, d_.store->GetVM(ref));
  auto deadline = std::chrono::steady_clock::now() + wait;
  for (;;) {
    LogChunk c;
    c.state = vm.state;
    c.next_offset = offset;
    struct stat st {};
    if (::stat(vm.runtime.log_path.c_str(), &st) == 0 && st.st_size > offset) {
      size_t n = std::min<size_t>(max_bytes, static_cast<size_t>(st.st_size - offset));
      UniqueFd fd(::open(vm.runtime.log_path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd.valid()) return Error::FromErrno("open " + vm.runtime.log_path);
      c.data.resize(n);
      ssize_t r = ::pread(fd.get(), c.data.data(), n, offset);
      if (r < 0) return Error::FromErrno("read " + vm.runtime.log_path);
      c.data.resize(static_cast<size_t>(r));
      c.next_offset = offset + r;
      return c;
    }
    if (stopping_ || std::chrono::steady_clock::now() >= deadline) return c;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto fresh = d_.store->GetVM(vm.id);
    if (!fresh.ok()) return std::move(fresh).error();
    vm = std::move(*fresh);
  }
}

bool VmService::VmAlive(const VMRecord& vm) {
  auto h = cache_.Get(vm.id);
  if (!h || h->pid <= 0) return false;
  return d_.procs->Alive(h->pid) && CmdlineMentions(d_.procs->Cmdline(h->pid), vm.runtime.api_sock_path);
}

int VmService::CountRunning() {
  auto vms = d_.store->ListVMs();
  if (!vms.ok()) return 0;
  int n = 0;
  for (const auto& vm : *vms) n += vm.state == VMState::kRunning ? 1 : 0;
  return n;
}

Status VmService::CheckNatRequest(std::optional<bool> nat) const {
  if (nat.value_or(false) && !d_.network) {
    return Error::Invalid(
        "NAT needs host networking, which is off: set network = \"on\" in the daemon's config.toml and "
        "restart it (banger daemon stop)");
  }
  return OkStatus();
}

Status VmService::Reconcile() {
  BANGER_ASSIGN_OR_RETURN(auto vms, d_.store->ListVMs());
  std::set<std::string> known_dirs;
  for (auto& vm : vms) {
    known_dirs.insert(vm.runtime.vm_dir);
    auto lock = LockFor(vm.id);
    std::lock_guard<std::mutex> lk(*lock);
    auto scratch = ReadHandlesFile(vm.runtime.vm_dir);
    std::optional<VMHandles> handles;
    if (scratch.ok()) {
      handles = *scratch;
    } else {
      spdlog::warn("vm {}: ignoring unreadable scratch file: {}", vm.name, scratch.error().message());
    }
    if (vm.state == VMState::kRunning) {
      // Prefer what the OS says (a process naming our control socket) over the scratch file.
      auto pids = d_.procs->FindByArg(vm.runtime.api_sock_path);
      if (!pids.empty()) {
        VMHandles h = handles.value_or(VMHandles{});
        if (h.pid != pids.front()) {
          h.pid = pids.front();
          WriteHandlesFile(vm.runtime.vm_dir, h).ok();
        }
        cache_.Set(vm.id, h);
        spdlog::info("reconcile: vm {} is alive (pid {}), re-adopted", vm.name, h.pid);
        continue;
      }
      spdlog::info("reconcile: vm {} was running but its vmm is gone; cleaning up", vm.name);
      CleanupRuntime(vm, handles);
      vm.runtime.last_error.clear();
      if (auto st = SaveState(vm, VMState::kStopped, "vmm exited while the daemon was down"); !st.ok()) {
        spdlog::error("reconcile: vm {}: {}", vm.name, st.error().message());
      }
      continue;
    }
    // Not running: anything left from an interrupted start goes.
    if (handles || !d_.procs->FindByArg(vm.runtime.api_sock_path).empty()) {
      spdlog::info("reconcile: vm {} ({}): removing leftovers of an interrupted operation", vm.name,
                   VMStateName(vm.state));
      CleanupRuntime(vm, handles);
    }
  }
  std::error_code ec;
  // Artifact directories of image builds that were interrupted (named like
  // ours: 16 hex digits) and that no image owns.
  if (auto images = d_.store->ListImages(); images.ok()) {
    std::set<std::string> owned;
    for (const auto& img : *images) owned.insert(img.artifact_dir);
    for (const auto& entry : std::filesystem::directory_iterator(d_.home.ImagesDir(), ec)) {
      std::string n = entry.path().filename().string();
      bool ours = n.size() == 16 && n.find_first_not_of("0123456789abcdef") == std::string::npos;
      if (!ours || owned.count(entry.path().string())) continue;
      spdlog::info("reconcile: removing artifacts of an interrupted image build {}", entry.path().string());
      RemoveAll(entry.path().string()).ok();
    }
  }
  // Orphan VM directories: files of a create or delete that was interrupted.
  for (const auto& entry : std::filesystem::directory_iterator(d_.home.VMsDir(), ec)) {
    if (known_dirs.count(entry.path().string()) || !entry.is_directory()) continue;
    VMRecord ghost;
    ghost.id = entry.path().filename().string();
    ghost.name = ghost.id;
    ghost.runtime.vm_dir = entry.path().string();
    ghost.runtime.api_sock_path = ghost.runtime.vm_dir + "/" + kControlSock;
    ghost.runtime.system_overlay_path = ghost.runtime.vm_dir + "/" + kOverlayDisk;
    auto handles = ReadHandlesFile(ghost.runtime.vm_dir);
    CleanupRuntime(ghost, handles.ok() ? *handles : std::nullopt);
    spdlog::info("reconcile: removing orphan vm directory {}", ghost.runtime.vm_dir);
    RemoveAll(ghost.runtime.vm_dir).ok();
  }
  if (d_.network) {
    // Taps of live VMs stay theirs; everything else goes back to the pool,
    // and NAT rules and DNS records follow the live VMs.
    std::vector<VMRecord> live;
    std::set<std::string> live_taps;
    BANGER_ASSIGN_OR_RETURN(auto now, d_.store->ListVMs());
    for (const auto& vm : now) {
      auto h = cache_.Get(vm.id);
      if (vm.state != VMState::kRunning || !h) continue;
      live.push_back(vm);
      if (!h->tap_device.empty()) live_taps.insert(h->tap_device);
    }
    if (auto st = d_.network->Reconcile(live, live_taps); !st.ok()) {
      spdlog::warn("reconcile: network: {}", st.error().message());
    }
  }
  return OkStatus();
}

void VmService::SweepDead() {
  auto vms = d_.store->ListVMs();
  if (!vms.ok()) return;
  for (auto& vm : *vms) {
    if (vm.state != VMState::kRunning || VmAlive(vm)) continue;
    auto lock = LockFor(vm.id);
    if (!lock->try_lock()) continue;  // an operation is under way; it owns the state
    std::lock_guard<std::mutex> lk(*lock, std::adopt_lock);
    auto fresh = d_.store->GetVM(vm.id);
    if (fresh.ok()) DemoteIfDeadLocked(*fresh);
  }
}

}  // namespace banger

#include "daemon/template_service.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <utility>

#include "base/fault.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/scope_guard.h"
#include "daemon/guest_exec.h"
#include "daemon/guest_fixup.h"

namespace banger {
namespace {

// At most this many entries of a file_sync directory count towards a
// template's inputs (a larger tree still works: its first entries decide).
constexpr int kMaxSyncEntries = 10000;

constexpr const char* kTemplateSnapshotName = "__template";

int64_t ApparentSize(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

// FNV-1a: a stable digest of the file_sync sources' names, sizes and times.
class Digest {
 public:
  void Add(const std::string& s) {
    for (unsigned char c : s) {
      h_ ^= c;
      h_ *= 1099511628211ULL;
    }
    h_ ^= 0xff;
    h_ *= 1099511628211ULL;
  }
  std::string Hex() const {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h_));
    return buf;
  }

 private:
  uint64_t h_ = 14695981039346656037ULL;
};

std::string StatLine(const std::filesystem::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) return p.string() + ":missing";
  int64_t mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return p.string() + ":" + std::to_string(st.st_mode) + ":" + std::to_string(st.st_size) + ":" +
         std::to_string(mtime_ns);
}

std::string SyncSourcesIdentity(const std::vector<FileSyncEntry>& entries) {
  if (entries.empty()) return "";
  Digest d;
  const char* home = std::getenv("HOME");
  for (const auto& e : entries) {
    d.Add(e.host + "\n" + e.guest + "\n" + e.mode);
    std::string host = e.host;
    if (host.rfind("~/", 0) == 0) host = std::string(home ? home : "/root") + host.substr(1);
    d.Add(StatLine(host));
    std::error_code ec;
    if (!std::filesystem::is_directory(host, ec)) continue;
    int n = 0;
    for (std::filesystem::recursive_directory_iterator
             it(host, std::filesystem::directory_options::skip_permission_denied, ec),
         end;
         !ec && it != end && n < kMaxSyncEntries; it.increment(ec), ++n) {
      d.Add(StatLine(it->path()));
    }
  }
  return d.Hex();
}

// Run in the template's guest once its agent answers (the agent starts in
// the initramfs, before the image's init): waits, bounded, until the image's
// init has finished booting, so the saved guest is not mid-boot (an init
// still running would redo what a warm VM's fixup set: the /run mount, the
// hostname). First PID 1 must be the image's init (not the initramfs's
// /init); then systemd: is-system-running --wait; else the minimal image's
// rcS marker /run/banger/booted, or, for other inits, 1.5 s without an rc
// script running (the [S] keeps this script's own argv from matching).
// Then the page cache is written back.
constexpr const char* kSettleScript =
    "i=0\n"
    "while [ $i -lt 600 ] && [ \"$(tr '\\0' ' ' </proc/1/cmdline)\" = '/init ' ]; do sleep 0.1; i=$((i+1)); "
    "done\n"
    "if readlink /proc/1/exe | grep -q systemd; then\n"
    "  timeout 90 systemctl is-system-running --wait >/dev/null 2>&1\n"
    "else\n"
    "  q=0\n"
    "  while [ $i -lt 900 ] && [ ! -e /run/banger/booted ] && [ $q -lt 15 ]; do\n"
    "    if grep -qs 'init.d/rc[S]' /proc/[0-9]*/cmdline; then q=0; else q=$((q+1)); fi\n"
    "    sleep 0.1; i=$((i+1))\n"
    "  done\n"
    "fi\n"
    "sync\n";

// An OCI image's guest has no init of its own to wait for (the agent is
// PID 1 once it answers) and perhaps no shell: only the write-back is done,
// by the agent.
Status SettleGuest(AgentConn& conn, std::chrono::milliseconds deadline, bool oci_image) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  ExecRequest req;
  req.argv = {"/bin/sh", "-c", kSettleScript};
  if (oci_image) req.argv = {kGuestAgentPath, "sync"};
  req.cwd = "/";
  req.open_timeout = deadline;
  BANGER_ASSIGN_OR_RETURN(auto ch, conn.Exec(req));
  BANGER_RETURN_IF_ERROR(ch->CloseStdin());
  for (;;) {
    auto ev = ch->NextUntil(until);
    if (!ev.ok()) {
      ch->Abort("template settle: past its deadline");
      return std::move(ev).error().Wrap("waiting for the guest's init to finish booting");
    }
    if (ev->kind == ExecEvent::kExit) return OkStatus();  // output and exit code are informative only
  }
}

}  // namespace

TemplateService::TemplateService(TemplateServiceDeps deps) : d_(std::move(deps)) {
  d_.vms->SetWarmStart([this](const VmRecord& vm, const Image& img) { return WarmStart(vm, img); });
}

std::string TemplateService::DirOf(const VmTemplate& t) const {
  return d_.home.TemplatesDir() + "/" + t.id.substr(0, 16);
}

std::string TemplateService::InputsIdentity(const Image& img, const std::vector<FileSyncEntry>& file_sync) {
  return SnapshotService::KernelIdentity(img.kernel_path) + "|" +
         SnapshotService::KernelIdentity(img.initrd_path) + "|" +
         SnapshotService::KernelIdentity(img.rootfs_path) + "|" + SyncSourcesIdentity(file_sync);
}

bool TemplateService::Fits(const VmTemplate& t, const VmRecord& vm, bool nic) {
  return t.complete && t.image_id == vm.image_id && t.backend == vm.spec.backend &&
         t.vcpu_count == vm.spec.vcpu_count && t.memory_mib == vm.spec.memory_mib &&
         t.system_overlay_size_bytes == vm.spec.system_overlay_size_bytes &&
         t.work_disk_size_bytes == vm.spec.work_disk_size_bytes && t.nic == nic;
}

void TemplateService::Emit(const std::string& type, const VmTemplate& t, Json data) {
  Event ev;
  ev.type = type;
  data["template"] = t.id;
  data["image_id"] = t.image_id;
  ev.data = std::move(data);
  d_.events->Emit(std::move(ev));
}

void TemplateService::Remove(const VmTemplate& t, const std::string& why) {
  // Row first: a crash after it leaves a directory Reconcile removes.
  if (auto st = d_.store->DeleteTemplate(t.id); !st.ok() && st.error().kind() != ErrorKind::kNotFound) {
    spdlog::warn("template {}: removing its row: {}", t.id.substr(0, 12), st.error().message());
    return;
  }
  if (auto st = RemoveAll(DirOf(t)); !st.ok()) {
    spdlog::warn("template {}: removing its files: {}", t.id.substr(0, 12), st.error().message());
  }
  if (t.complete) {
    spdlog::info("template {} of image {} removed: {}", t.id.substr(0, 12), t.image_name, why);
    Emit("template.deleted", t, Json{{"reason", why}});
  }
}

std::string TemplateService::StaleReason(const VmTemplate& t, const Image& img) const {
  if (InputsIdentity(img, d_.file_sync) != t.inputs_identity) {
    return "image " + img.name + " or the config's file_sync sources changed since it was made";
  }
  if (!t.files.is_object() || t.files.empty()) return "it records no files";
  for (const auto& [name, size] : t.files.items()) {
    const std::string path = DirOf(t) + "/" + name;
    int64_t have = ApparentSize(path);
    if (have < 0) return path + " is missing";
    if (!size.is_number_integer() || have != size.get<int64_t>()) {
      return path + " is " + std::to_string(have) + " bytes, " + SafeDump(size) + " were saved";
    }
  }
  return "";
}

Status TemplateService::WaitAgent(const VmRecord& vm) {
  if (d_.wait_agent) return d_.wait_agent(vm, d_.agent_timeout);
  const auto until = std::chrono::steady_clock::now() + d_.agent_timeout;
  GuestExec exec(*d_.vms);
  BANGER_ASSIGN_OR_RETURN(auto conn, exec.WaitForAgent(vm.id, d_.agent_timeout));
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
  if (left <= std::chrono::milliseconds(0)) return Error::Timeout("no time left after the agent answered");
  auto img = d_.store->GetImage(vm.image_id);
  return SettleGuest(*conn, left, img.ok() && (img->source.kind == "oci" || img->source.kind == "rootfs"));
}

Result<VmTemplate> TemplateService::Create(const CreateTemplateRequest& req) {
  VmService& vms = *d_.vms;
  BANGER_ASSIGN_OR_RETURN(Image img, vms.ResolveImage(req.image));
  VmTemplate t;
  t.id = NewId();
  CreateVmRequest cr;
  cr.name = "tmpl-" + t.id.substr(0, 8);
  cr.image = img.id;
  cr.vcpu_count = req.vcpu_count;
  cr.memory_mib = req.memory_mib;
  cr.system_overlay_size_bytes = req.system_overlay_size_bytes;
  cr.work_disk_size_bytes = req.work_disk_size_bytes;
  cr.backend = req.backend;
  cr.labels = {{kTemplateLabel, t.id}};
  cr.cold = true;
  // The VM lives only while the template is made: no idle suspend, no ttl.
  cr.idle_suspend = std::chrono::milliseconds(0);
  cr.ttl = std::chrono::milliseconds(0);
  // The spec the VM gets is the template's key: validated here, before anything is made.
  BANGER_ASSIGN_OR_RETURN(VmRecord spec, vms.NewRecord(cr));
  t.image_id = img.id;
  t.image_name = img.name;
  t.backend = spec.spec.backend;
  t.vcpu_count = spec.spec.vcpu_count;
  t.memory_mib = spec.spec.memory_mib;
  t.system_overlay_size_bytes = spec.spec.system_overlay_size_bytes;
  t.work_disk_size_bytes = spec.spec.work_disk_size_bytes;
  t.nic = vms.d_.network != nullptr;
  t.inputs_identity = InputsIdentity(img, d_.file_sync);
  t.created_at = Now();

  // The row first (complete = 0): Reconcile finds what a dead daemon left.
  BANGER_RETURN_IF_ERROR(d_.store->PutTemplate(t));
  BANGER_FAULT_POINT("vm.template.row_written");
  std::string vm_id;
  ScopeGuard undo([&] {
    if (!vm_id.empty()) {
      if (auto st = vms.Delete(vm_id, true); !st.ok())
        spdlog::warn("template {}: deleting its vm: {}", t.id.substr(0, 12), st.error().message());
    }
    Remove(t, "its making failed");
  });
  spdlog::info("template {}: booting vm {} of image {}", t.id.substr(0, 12), cr.name, img.name);
  BANGER_ASSIGN_OR_RETURN(CreateResult made, vms.Create(cr));
  vm_id = made.view.vm.id;
  BANGER_FAULT_POINT("vm.template.vm_booted");
  BANGER_RETURN_IF_ERROR(Annotate(WaitAgent(made.view.vm), "template vm " + cr.name));
  BANGER_RETURN_IF_ERROR(MakeDirs(d_.home.TemplatesDir(), 0700));
  VmSnapshot snap;
  auto saved = vms.WithVmLocked(vm_id, [&](VmRecord vm) -> Result<VmRecord> {
    vms.DemoteIfDeadLocked(vm);
    if (vm.state != VmState::kRunning) {
      return Error::Conflict("template vm " + vm.name + " is " + VmStateName(vm.state) + " (" +
                             vm.runtime.last_error + ")");
    }
    // The VM stays paused after the save: it is deleted next.
    BANGER_ASSIGN_OR_RETURN(snap, d_.snapshots->TakeLocked(vm, kTemplateSnapshotName, false));
    BANGER_FAULT_POINT("vm.template.saved");
    BANGER_RETURN_IF_ERROR(RenameDurable(SnapshotService::DirOf(vm, snap), DirOf(t)));
    return vm;
  });
  if (!saved.ok()) return std::move(saved).error().Wrap("saving the template of image " + img.name);
  BANGER_FAULT_POINT("vm.template.moved");
  t.files = snap.files;
  t.bytes_on_disk = snap.bytes_on_disk;
  t.complete = true;
  BANGER_RETURN_IF_ERROR(d_.store->PutTemplate(t));
  BANGER_FAULT_POINT("vm.template.complete");
  undo.Dismiss();
  if (auto st = vms.Delete(vm_id, true); !st.ok()) {
    // Reconcile deletes it at the next start; the template is made.
    spdlog::warn("template {}: deleting its vm {}: {}", t.id.substr(0, 12), cr.name, st.error().message());
  }
  // The newest template of an image and spec replaces the older ones.
  VmRecord key = spec;
  key.image_id = img.id;
  if (auto all = d_.store->ListTemplates(); all.ok()) {
    std::lock_guard<std::mutex> lk(mu_);
    for (const auto& old : *all) {
      if (old.id != t.id && Fits(old, key, t.nic)) Remove(old, "replaced by template " + t.id.substr(0, 12));
    }
  }
  spdlog::info("template {} of image {} made ({} bytes on disk)", t.id.substr(0, 12), img.name,
               t.bytes_on_disk);
  Emit("template.created", t, Json{{"bytes_on_disk", t.bytes_on_disk}});
  return t;
}

Result<std::vector<VmTemplate>> TemplateService::List(const std::string& image_ref) {
  std::string image_id;
  if (!image_ref.empty()) {
    BANGER_ASSIGN_OR_RETURN(Image img, d_.vms->ResolveImage(image_ref));
    image_id = img.id;
  }
  BANGER_ASSIGN_OR_RETURN(auto all, d_.store->ListTemplates());
  std::erase_if(
      all, [&](const VmTemplate& t) { return !t.complete || (!image_id.empty() && t.image_id != image_id); });
  return all;
}

Status TemplateService::Delete(const std::string& id) {
  if (id.size() < 4) return Error::Invalid("a template id needs at least 4 characters");
  BANGER_ASSIGN_OR_RETURN(auto all, d_.store->ListTemplates());
  std::vector<VmTemplate> found;
  for (const auto& t : all) {
    if (t.complete && t.id.rfind(id, 0) == 0) found.push_back(t);
  }
  if (found.empty())
    return Error::NotFound("template \"" + id + "\" not found (see `banger image template list`)");
  if (found.size() > 1) return Error::Conflict("template id \"" + id + "\" is ambiguous: give more of it");
  std::lock_guard<std::mutex> lk(mu_);
  Remove(found.front(), "deleted");
  return OkStatus();
}

std::optional<Result<VmRecord>> TemplateService::WarmStart(const VmRecord& vm, const Image& img) {
  const bool nic = d_.vms->d_.network != nullptr;
  VmTemplate pick;
  {
    std::lock_guard<std::mutex> lk(mu_);
    auto all = d_.store->ListTemplates();
    if (!all.ok()) return std::nullopt;
    for (auto it = all->rbegin(); it != all->rend(); ++it) {  // newest first
      if (!Fits(*it, vm, nic)) continue;
      if (std::string why = StaleReason(*it, img); !why.empty()) {
        Remove(*it, "stale: " + why);
        continue;
      }
      pick = *it;
      break;
    }
    if (pick.id.empty()) return std::nullopt;
    pick.last_used_at = Now();
    pick.uses++;
    if (auto st = d_.store->PutTemplate(pick); !st.ok()) {
      spdlog::warn("template {}: recording its use: {}", pick.id.substr(0, 12), st.error().message());
    }
  }
  const std::string dir = DirOf(pick);
  std::vector<VmRecord> made;
  auto r = d_.snapshots->ContinueAsNew(vm, img, dir, SnapshotPathsIn(pick.backend, dir),
                                       Json{{"template", pick.id}}, made);
  if (!r.ok()) {
    for (auto& m : made) {
      if (auto st = d_.vms->Delete(m.id, true); !st.ok()) {
        spdlog::warn("warm start: removing vm {}: {}", m.name, st.error().message());
      }
    }
    return Result<VmRecord>(std::move(r).error().Wrap("continuing template " + pick.id.substr(0, 12)));
  }
  spdlog::info("vm {}: warm start from template {}", r->name, pick.id.substr(0, 12));
  return r;
}

void TemplateService::Reconcile() {
  if (auto vms = d_.store->ListVms(); vms.ok()) {
    for (const auto& vm : *vms) {
      if (!vm.labels.count(kTemplateLabel)) continue;
      spdlog::info("reconcile: deleting vm {}, left by an unfinished template", vm.name);
      if (auto st = d_.vms->Delete(vm.id, true); !st.ok()) {
        spdlog::warn("reconcile: deleting template vm {}: {}", vm.name, st.error().message());
      }
    }
  }
  auto all = d_.store->ListTemplates();
  if (!all.ok()) {
    spdlog::warn("reconcile: listing templates: {}", all.error().message());
    return;
  }
  for (const auto& t : *all) {
    if (!t.complete) {
      spdlog::info("reconcile: removing template {}, its making was interrupted", t.id.substr(0, 12));
      Remove(t, "interrupted");
    } else if (!PathExists(DirOf(t))) {
      Remove(t, "its files are gone");
    }
  }
  RemoveOrphanDirs();
}

void TemplateService::RemoveOrphanDirs() {
  std::lock_guard<std::mutex> lk(mu_);
  auto all = d_.store->ListTemplates();
  if (!all.ok()) return;
  std::set<std::string> keep;
  for (const auto& t : *all) keep.insert(t.id.substr(0, 16));
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(d_.home.TemplatesDir(), ec)) {
    if (keep.count(e.path().filename().string())) continue;
    spdlog::info("removing {}, no template names it", e.path().string());
    if (auto st = RemoveAll(e.path().string()); !st.ok()) spdlog::warn("{}", st.error().message());
  }
}

}  // namespace banger

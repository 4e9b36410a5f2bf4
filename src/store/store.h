// Store: banger's durable intent in one SQLite database (<home>/banger.db).
//
// Holds images, VMs (spec/runtime/stats as in the seed, plus labels and the
// create idempotency key), guest sessions, workspaces and the events log.
// Never holds transient kernel/process handles (pid, tap, loop, dm names):
// those live in the daemon's HandleCache and per-VM handles.json.
//
// Thread-safety: all methods are safe to call concurrently; one connection
// guarded by an internal mutex (WAL mode, so other processes may read).
// Errors: kNotFound for a missing id/name, kConflict for a duplicate name or
// request id, kInternal for SQLite failures (message includes sqlite's text).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "model/port.h"
#include "model/types.h"

namespace banger {

class Store {
 public:
  // Opens (creating if needed) the database at `path` and applies pending
  // migrations in one transaction each. ":memory:" gives a private in-memory
  // store (tests). Fails if the file's schema is newer than this binary knows.
  static Result<std::unique_ptr<Store>> Open(const std::string& path);
  virtual ~Store() = default;

  // The applied schema version (the number of the last migration).
  virtual Result<int> SchemaVersion() = 0;

  // ---- images ----
  virtual Status InsertImage(const Image& image) = 0;  // kConflict on duplicate id/name
  virtual Status UpdateImage(const Image& image) = 0;  // kNotFound if id missing
  // By exact id, exact name, or unambiguous id prefix (>= 8 chars).
  virtual Result<Image> GetImage(const std::string& id_or_name) = 0;
  virtual Result<std::vector<Image>> ListImages() = 0;    // ordered by name
  virtual Status DeleteImage(const std::string& id) = 0;  // kNotFound if missing
  // Number of VMs whose image_id is `image_id`.
  virtual Result<int> CountVmsUsingImage(const std::string& image_id) = 0;

  // ---- vms ----
  // kConflict (message names the clash) on duplicate id, name or non-empty request_id.
  virtual Status InsertVm(const VmRecord& vm) = 0;
  // Replaces the whole row (by id). kNotFound if missing, kConflict on rename clash.
  virtual Status UpdateVm(const VmRecord& vm) = 0;
  // Sets only last_touched_at (exec, ssh and sessions touch a VM without
  // taking its operation lock, so they must not rewrite the whole row).
  virtual Status TouchVm(const std::string& id, Timestamp at) = 0;
  // Sets only stats (the pollers run beside operations that own the row).
  virtual Status UpdateVmStats(const std::string& id, const VmStats& stats) = 0;
  // By exact id, exact name, or unambiguous id prefix (>= 8 chars).
  virtual Result<VmRecord> GetVm(const std::string& id_or_name) = 0;
  virtual Result<std::optional<VmRecord>> FindVmByRequestId(const std::string& request_id) = 0;
  // All VMs carrying every label in `selector` (empty = all), ordered by created_at, name.
  virtual Result<std::vector<VmRecord>> ListVms(const Labels& selector = {}) = 0;
  // Deletes the VM row and its sessions and workspaces. kNotFound if missing.
  virtual Status DeleteVm(const std::string& id) = 0;

  // ---- guest sessions ----
  virtual Status UpsertSession(const GuestSession& s) = 0;  // kConflict on duplicate (vm_id, name)
  // By id, id prefix (>= 8) or name (names are unique per VM; a name that
  // matches sessions of several VMs is kConflict unless vm_id narrows it).
  virtual Result<GuestSession> GetSession(const std::string& id_or_name, const std::string& vm_id = "") = 0;
  virtual Result<std::vector<GuestSession>> ListSessions(const std::string& vm_id = "") = 0;
  virtual Status DeleteSession(const std::string& id) = 0;

  // ---- workspaces (one row per (vm_id, guest_path)) ----
  virtual Status UpsertWorkspace(const WorkspacePrepareResult& w) = 0;
  virtual Result<std::vector<WorkspacePrepareResult>> ListWorkspaces(const std::string& vm_id) = 0;

  // ---- snapshots (one row per snapshot; files under the VM's directory) ----
  // kConflict on a duplicate (vm_id, name), kNotFound if the VM is gone.
  virtual Status InsertSnapshot(const VmSnapshot& s) = 0;
  // Replaces the row (by id); kNotFound if missing.
  virtual Status UpdateSnapshot(const VmSnapshot& s) = 0;
  // By exact id or name within `vm_id`.
  virtual Result<VmSnapshot> GetSnapshot(const std::string& vm_id, const std::string& id_or_name) = 0;
  // Snapshots of `vm_id` ("" = all VMs), complete and not, oldest first.
  virtual Result<std::vector<VmSnapshot>> ListSnapshots(const std::string& vm_id) = 0;
  virtual Status DeleteSnapshot(const std::string& id) = 0;  // kNotFound if missing

  // ---- templates (one row per template snapshot; files under <home>/templates) ----
  // Inserts or replaces the row (by id); kNotFound if the image is gone.
  virtual Status PutTemplate(const VmTemplate& t) = 0;
  // All templates, complete and not, oldest first.
  virtual Result<std::vector<VmTemplate>> ListTemplates() = 0;
  virtual Status DeleteTemplate(const std::string& id) = 0;  // kNotFound if missing

  // ---- published ports (one row per host address; model/port.h) ----
  // kConflict when the host address is taken (the message names its VM),
  // kNotFound if the VM is gone.
  virtual Status InsertPort(const PortMapping& p) = 0;
  // By VM and host address; kNotFound if there is no such row.
  virtual Status DeletePort(const PortMapping& p) = 0;
  // Ports of `vm_id` ("" = all VMs), by host address.
  virtual Result<std::vector<PortMapping>> ListPorts(const std::string& vm_id) = 0;

  // ---- events (append-only, resumable by seq) ----
  // Assigns ev.seq (strictly increasing, never reused) and ev.at if unset.
  virtual Result<int64_t> AppendEvent(Event& ev) = 0;
  // Events with seq > after, oldest first, at most `limit`.
  virtual Result<std::vector<Event>> EventsAfter(int64_t after, int limit) = 0;
  virtual Result<int64_t> LastEventSeq() = 0;
  // Deletes all but the newest `keep` events.
  virtual Status TrimEvents(int64_t keep) = 0;
};

}  // namespace banger

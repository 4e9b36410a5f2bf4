// Row codecs of the store, internal to src/store: how each model type maps
// to its table's columns (SELECT column lists, Decode* for a row, Bind* for
// an INSERT/UPDATE in the same column order) and how a failed write becomes
// kConflict/kNotFound with a precise message. The queries themselves live in
// store.cc.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "model/json.h"
#include "model/types.h"
#include "store/sqlite.h"

namespace banger::rows {

// `s` in double quotes, for names and ids in messages.
std::string Quoted(const std::string& s);

// nlohmann's dump() throws on invalid UTF-8; this replaces invalid bytes,
// keeping exceptions out of the store while every valid string round-trips.
std::string DumpJson(const Json& j);

// Ids are lowercase hex, so only a hex key of at least 8 characters can be an
// id prefix (a short typo must not silently pick some VM).
bool IsIdPrefix(const std::string& key);
std::string ToLower(std::string s);

// True when `labels` carries every key=value of `selector`.
bool HasLabels(const Labels& labels, const Labels& selector);

// ---- row decoding: a row that does not decode is kInternal naming its key ----

template <typename T>
using Decoder = Result<T> (*)(const sql::Statement&);

// Steps `st` to the end, decoding every row.
template <typename T>
Result<std::vector<T>> Collect(sql::Statement& st, Decoder<T> decode) {
  std::vector<T> out;
  while (true) {
    BANGER_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return out;
    BANGER_ASSIGN_OR_RETURN(T value, decode(st));
    out.push_back(std::move(value));
  }
}

// ---- images ----
inline constexpr std::string_view kSelectImage =
    "SELECT id, name, managed, artifact_dir, rootfs_path, work_seed_path, kernel_path, initrd_path, "
    "modules_dir, build_size, seeded_ssh_public_key_fingerprint, docker, created_at, updated_at, "
    "source_json, "
    "size_bytes FROM images";
Result<Image> DecodeImage(const sql::Statement& st);
// Binds ?1..?16 in kSelectImage's column order.
void BindImage(sql::Statement& st, const Image& img);
Error ImageWriteError(const sql::Statement& st, const Image& img, Error err);

// ---- vms ----
inline constexpr std::string_view kSelectVm =
    "SELECT id, name, image_id, state, created_at, updated_at, last_touched_at, spec_json, runtime_json, "
    "stats_json, labels_json, request_id FROM vms";
Result<VmRecord> DecodeVm(const sql::Statement& st);
// Binds ?1..?12 in kSelectVm's column order. The state column mirrors
// vm.state so it can be queried without decoding runtime_json.
void BindVm(sql::Statement& st, const VmRecord& vm);
Error VmWriteError(const sql::Statement& st, const VmRecord& vm, Error err);

// ---- sessions, workspaces, events ----
inline constexpr std::string_view kSelectSession = "SELECT id, body_json FROM guest_sessions";
Result<GuestSession> DecodeSession(const sql::Statement& st);
// Binds (id, vm_id, name, status, created_at, updated_at, body_json).
void BindSession(sql::Statement& st, const GuestSession& s);
Error SessionWriteError(const sql::Statement& st, const GuestSession& s, Error err);
// Reads (vm_id, guest_path, body_json).
Result<WorkspacePrepareResult> DecodeWorkspace(const sql::Statement& st);

inline constexpr std::string_view kSelectSnapshot =
    "SELECT id, vm_id, name, backend, image_id, kernel_identity, vcpu_count, memory_mib, files_json, "
    "bytes_on_disk, suspend, complete, created_at FROM snapshots";
Result<VmSnapshot> DecodeSnapshot(const sql::Statement& st);
void BindSnapshot(sql::Statement& st, const VmSnapshot& s);
Error SnapshotWriteError(const sql::Statement& st, const VmSnapshot& s, Error err);
// Binds (vm_id, guest_path, body_json, prepared_at).
void BindWorkspace(sql::Statement& st, const WorkspacePrepareResult& w);
Error WorkspaceWriteError(const sql::Statement& st, const WorkspacePrepareResult& w, Error err);
// templates: SELECT id, body_json; binds id, image_id, complete, created_at, body_json.
Result<VmTemplate> DecodeTemplate(const sql::Statement& st);
void BindTemplate(sql::Statement& st, const VmTemplate& t);
Error TemplateWriteError(const sql::Statement& st, const VmTemplate& t, Error err);
// Reads (seq, at, type, vm_id, vm_name, data_json).
Result<Event> DecodeEvent(const sql::Statement& st);

}  // namespace banger::rows

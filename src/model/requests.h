// The API's request bodies (and the small response shapes the CLI reads),
// one struct each, shared by the CLI (which encodes them) and the daemon
// (whose use cases take them). Their JSON forms (model/json_fields.h) go
// through model/json.h's ToJson and Decode<T>: strict, so an unknown key or
// a wrong type is an invalid-argument error naming the key, then
// ValidateRequest checks required fields and ranges (docs/api.md lists the
// wire forms).
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/port.h"
#include "model/types.h"

namespace banger {

inline constexpr std::chrono::milliseconds kDefaultAgentTimeout{std::chrono::seconds(120)};

// POST /v1/vms
struct CreateVmRequest {
  std::string name;   // "" = generated
  std::string image;  // "" = config default_image_name
  std::optional<int> vcpu_count;
  std::optional<int> memory_mib;
  std::optional<int64_t> system_overlay_size_bytes;
  std::optional<int64_t> work_disk_size_bytes;
  std::optional<bool> nat_enabled;
  std::optional<std::string> backend;
  bool no_start = false;
  Labels labels;
  std::string request_id;    // idempotency key, "" = none
  bool auto_remove = false;  // `vm run --rm`: the daemon deletes the VM when its run command ends
  // Rate limits (0 = unlimited; unset = unlimited at create).
  std::optional<int64_t> disk_bw_bytes_per_sec;
  std::optional<int64_t> disk_iops;
  std::optional<int64_t> net_bw_bytes_per_sec;
  // Idle suspend, ttl and what the ttl does (unset = the config's vm_defaults).
  std::optional<std::chrono::milliseconds> idle_suspend;
  std::optional<std::string> idle_suspend_to;  // "ram" | "disk"
  std::optional<std::chrono::milliseconds> ttl;
  std::optional<std::string> ttl_action;  // "stop" | "delete"
  // extension: boot even when a template snapshot of this image and spec
  // exists (daemon/template_service.h); unset: continue the template.
  bool cold = false;
  // extension: host folders to share (QEMU only; model/mounts.h). host_path
  // must be absolute; the daemon resolves it and checks the caller may
  // read it (and write it, unless read_only).
  std::vector<VmMount> mounts;
  // extension: published ports, each [HOST_IP:]HOST_PORT:GUEST_PORT[/tcp|udp]
  // (model/port.h); the daemon binds them all before it makes anything.
  std::vector<std::string> ports;
};

// A guest user as exec and sessions take it: "name", "uid", "uid:gid",
// "name:group" (resolved in the guest); at most 256 bytes, no NUL, space
// or '/', at most one ':' with something on both sides.
Status ValidateGuestUser(const std::string& user);

// `vm cp --chown` / the archive and files routes' chown: "UID:GID", two
// numbers 0..4294967294.
Status ValidateChown(const std::string& spec);
// archive upload's chown=keep: every entry keeps the archive's owner and
// whole mode (a container's root filesystem; the containerd shim).
inline constexpr const char* kChownKeep = "keep";

// POST /v1/vms/{ref}/ports: one port spec as in CreateVmRequest::ports.
struct AddPortRequest {
  std::string port;
};

// PATCH /v1/vms/{ref}
struct SetVmRequest {
  std::optional<int> vcpu_count;
  std::optional<int> memory_mib;
  std::optional<int64_t> work_disk_size_bytes;
  std::optional<bool> nat_enabled;
  // Rate limits, applied live to a running VM where its VMM allows it.
  std::optional<int64_t> disk_bw_bytes_per_sec;
  std::optional<int64_t> disk_iops;
  std::optional<int64_t> net_bw_bytes_per_sec;
  // 0 = off. A ttl given sets a new deadline: now + ttl.
  std::optional<std::chrono::milliseconds> idle_suspend;
  std::optional<std::string> idle_suspend_to;  // "ram" | "disk"
  std::optional<std::chrono::milliseconds> ttl;
  std::optional<std::string> ttl_action;  // "stop" | "delete"
};

// The rate limits of `current` with those a request gives replaced.
template <typename Req>
RateLimits MergeRateLimits(RateLimits current, const Req& req) {
  if (req.disk_bw_bytes_per_sec) current.disk_bytes_per_sec = *req.disk_bw_bytes_per_sec;
  if (req.disk_iops) current.disk_iops = *req.disk_iops;
  if (req.net_bw_bytes_per_sec) current.net_bytes_per_sec = *req.net_bw_bytes_per_sec;
  return current;
}

// POST /v1/vms/{ref}/stop and /restart
struct StopVmRequest {
  std::optional<std::chrono::milliseconds> timeout;  // graceful shutdown time; unset = the daemon's
  bool save = false;  // extension (`vm stop --save`): save to disk, the next start resumes
};

// POST /v1/sessions/{s}/signal (extension: the containerd shim's Kill)
struct SignalSessionRequest {
  int signal = 0;  // 1..64
};

// POST /v1/vms/{ref}/snapshots (extension)
struct CreateSnapshotRequest {
  std::string name;  // "" = "snap-<UTC time>"
};

// POST /v1/vms/{ref}/restore (extension)
struct RestoreVmRequest {
  std::string snapshot;  // "" = the newest
};

// POST /v1/templates (extension): a template snapshot of `image` ("" =
// the default image) with this spec (unset fields: the config's vm_defaults).
struct CreateTemplateRequest {
  std::string image;
  std::optional<int> vcpu_count;
  std::optional<int> memory_mib;
  std::optional<int64_t> system_overlay_size_bytes;
  std::optional<int64_t> work_disk_size_bytes;
  std::optional<std::string> backend;
};

// POST /v1/vms/{ref}/fork (extension)
struct ForkVmRequest {
  std::string name;          // the fork's name; with count > 1 the forks are <name>-1 .. <name>-<count>
  std::optional<int> count;  // unset: 1
};

// POST /v1/vms/{ref}/exec (upgraded)
struct ExecVmRequest {
  // Empty: the image's Entrypoint + Cmd (model/image_defaults.h); an image
  // with neither refuses it.
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
  std::string cwd;  // "" = the image's working dir (OCI images), else /root
  // "" = the image's user (OCI images), else root; "name", "uid",
  // "uid:gid", "name:group" (resolved in the guest's /etc/passwd, /etc/group).
  std::string user;
  // The image's env (OCI images) applies first unless this is set; env
  // above overrides it key by key.
  bool no_image_env = false;
  bool tty = false;
  int rows = 24, cols = 80;
  std::chrono::milliseconds agent_timeout = kDefaultAgentTimeout;
};

// POST /v1/images/build (upgraded)
struct BuildImageRequest {
  std::string name;
  std::string profile = "minimal";  // minimal | debian
  bool docker = false;
  int64_t size_bytes = 0;                // rootfs size; 0 = the profile's default
  std::string kernel_flavour = "cloud";  // cloud | generic (generic has 9p: --mount)
  // Instead of a profile: an OCI image from the host, offline (absolute path
  // of an OCI layout directory, an OCI archive or a `docker save` tar).
  std::string from_oci;
  // Or a root filesystem tree on this host (absolute path of a directory,
  // e.g. a container's mounted rootfs): copied into the image as it is and
  // left untouched. Goes with neither a profile nor from_oci.
  std::string from_rootfs;
};

// Registry credentials for a pull: username + password, or docker's "auth"
// (base64 of "user:password"). Never logged nor put on a command line.
struct RegistryAuth {
  std::string username;
  std::string password;
  std::string auth;
};

// POST /v1/images/pull (upgraded)
struct PullImageRequest {
  std::string ref;        // "busybox:1.36", "ghcr.io/o/app@sha256:...", "localhost:5000/t:1"
  std::string name;       // "" = repository's last component + "-" + tag
  bool insecure = false;  // plain HTTP / unverified TLS (implied for loopback registries)
  std::optional<RegistryAuth> auth;
  std::string kernel_flavour = "cloud";
  int64_t size_bytes = 0;  // rootfs size; 0 = fitted to the image
};

// POST /v1/images/prune
struct PruneImagesResponse {
  int64_t bytes_freed = 0;
};

// POST /v1/images
struct ImportImageRequest {
  std::string name;
  std::string kernel_path;
  std::string rootfs_path;
  std::string initrd_path;
  std::string modules_dir;
  std::string work_seed_path;
};

// POST /v1/vms/{ref}/sessions
struct StartSessionRequest {
  std::string vm;                 // ref, from the path (not in the body)
  std::string name;               // "" = derived from the command
  std::vector<std::string> argv;  // as ExecVmRequest::argv
  std::map<std::string, std::string> env;
  std::string cwd;            // as ExecVmRequest::cwd
  std::string user;           // as ExecVmRequest::user
  bool no_image_env = false;  // as ExecVmRequest::no_image_env
  std::map<std::string, std::string> tags;
  bool stdin_pipe = false;
  std::chrono::milliseconds agent_timeout = kDefaultAgentTimeout;
};

// POST /v1/sessions/{s}/logs and /attach (upgraded)
struct SessionStreamRequest {
  bool follow = false;
};

// POST /v1/vms/{ref}/workspaces (upgraded)
struct PrepareWorkspaceRequest {
  std::string source_path;  // absolute host path inside a git work tree
  std::string guest_path;   // "" = /root/<repo name>
  std::string mode;         // "" = shallow_overlay
  bool readonly = false;
  std::string branch;  // "" = stay on the current branch (or detached HEAD)
  std::chrono::milliseconds agent_timeout = kDefaultAgentTimeout;
};

// POST /v1/vms/{ref}/workspaces/export: the guest's changes to a prepared
// workspace as commits in the host repository (docs/adr/0021).
struct ExportWorkspaceRequest {
  std::string source_path;     // absolute host path inside the prepared repository
  std::string guest_path;      // "" = the only workspace of that repository in the VM
  std::string branch;          // "" = no branch (the commits stay unreferenced: diff, patch)
  bool force = false;          // overwrite an existing branch (never the checked-out one)
  std::string commit_message;  // for the uncommitted changes; "" = a default
  int64_t max_bytes = 0;       // cap on what comes back from the guest; 0 = 1 GiB
  std::chrono::milliseconds agent_timeout = kDefaultAgentTimeout;
};

// DELETE /v1/vms/{ref} and /v1/images/{ref}
struct DeleteResponse {
  bool deleted = false;
  std::string id;  // "" when nothing was deleted
};

// Each request's checks beyond its JSON types (required fields, ranges),
// run by Decode after the strict decoding.
// Create/set: the rate limits given are within 0..kMaxRateLimit.
Status ValidateRequest(const CreateVmRequest& v);
Status ValidateRequest(const AddPortRequest& v);
Status ValidateRequest(const SetVmRequest& v);
Status ValidateRequest(const StopVmRequest& v);
Status ValidateRequest(const SignalSessionRequest& v);
Status ValidateRequest(const ExecVmRequest& v);
Status ValidateRequest(const StartSessionRequest& v);
Status ValidateRequest(const PrepareWorkspaceRequest& v);
Status ValidateRequest(const ExportWorkspaceRequest& v);

}  // namespace banger

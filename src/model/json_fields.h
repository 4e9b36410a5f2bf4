// Every JSON form's fields, in one place: a JsonFields<T> specialization
// per type names each field once, and model/json.h's ToJson/Decode walk it
// (JsonWriter to encode, JsonReader to decode). Omit::kEmpty marks fields a
// form leaves out when empty; the store's columns and the API share these
// forms. Included by model/json.h; include that.
#pragma once

#include "model/requests.h"
#include "model/types.h"

namespace banger {

template <>
struct JsonFields<OciImageConfig> {
  static constexpr const char* kWhat = "image config";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.StrList("env", v.env, Omit::kEmpty);
    io.Str("working_dir", v.working_dir, Omit::kEmpty);
    io.Str("user", v.user, Omit::kEmpty);
    io.StrList("entrypoint", v.entrypoint, Omit::kEmpty);
    io.StrList("cmd", v.cmd, Omit::kEmpty);
    io.StrList("exposed_ports", v.exposed_ports, Omit::kEmpty);
  }
};

template <>
struct JsonFields<ImageSource> {
  static constexpr const char* kWhat = "image source";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Str("kind", v.kind, Omit::kEmpty);
    io.Str("profile", v.profile, Omit::kEmpty);
    io.Str("ref", v.ref, Omit::kEmpty);
    io.Str("digest", v.digest, Omit::kEmpty);
    io.StrList("layers", v.layers, Omit::kEmpty);
    io.OptObject("config", v.config);
  }
};

template <>
struct JsonFields<Image> {
  static constexpr const char* kWhat = "image";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Str("id", v.id);
    io.Str("name", v.name);
    io.Bool("managed", v.managed);
    io.Str("artifact_dir", v.artifact_dir, Omit::kEmpty);
    io.Str("rootfs_path", v.rootfs_path);
    io.Str("work_seed_path", v.work_seed_path, Omit::kEmpty);
    io.Str("kernel_path", v.kernel_path);
    io.Str("initrd_path", v.initrd_path, Omit::kEmpty);
    io.Str("modules_dir", v.modules_dir, Omit::kEmpty);
    io.Str("build_size", v.build_size, Omit::kEmpty);
    io.Str("seeded_ssh_public_key_fingerprint", v.seeded_ssh_public_key_fingerprint, Omit::kEmpty);
    io.Bool("docker", v.docker);
    io.Time("created_at", v.created_at);
    io.Time("updated_at", v.updated_at);
    io.Str("kernel_flavour", v.kernel_flavour, Omit::kEmpty);
    io.Bool("kernel_9p", v.kernel_9p, Omit::kEmpty);
    io.Object("source", v.source);
    io.Int64("size_bytes", v.size_bytes, Omit::kEmpty);
  }
};

template <>
struct JsonFields<VmMount> {
  static constexpr const char* kWhat = "mount";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Str("host_path", v.host_path);
    io.Str("guest_path", v.guest_path);
    io.Bool("read_only", v.read_only);
  }
};

template <>
struct JsonFields<VmSpec> {
  static constexpr const char* kWhat = "spec";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Int("vcpu_count", v.vcpu_count);
    io.Int("memory_mib", v.memory_mib);
    io.Int64("system_overlay_size_bytes", v.system_overlay_size_bytes);
    io.Int64("work_disk_size_bytes", v.work_disk_size_bytes);
    io.Bool("nat_enabled", v.nat_enabled);
    io.Enum("backend", v.backend, BackendName, ParseBackend);
    io.Bool("auto_remove", v.auto_remove);
    io.Int64("disk_bw_bytes_per_sec", v.limits.disk_bytes_per_sec);
    io.Int64("disk_iops", v.limits.disk_iops);
    io.Int64("net_bw_bytes_per_sec", v.limits.net_bytes_per_sec);
    io.Millis("idle_suspend_ms", v.idle_suspend);
    io.Enum("idle_suspend_to", v.idle_suspend_to, SuspendTargetName, ParseSuspendTarget);
    io.Millis("ttl_ms", v.ttl);
    io.Enum("ttl_action", v.ttl_action, TtlActionName, ParseTtlAction);
    io.ObjectList("mounts", v.mounts, Omit::kEmpty);
  }
};

template <>
struct JsonFields<VmRuntime> {
  static constexpr const char* kWhat = "runtime";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Enum("state", v.state, VmStateName, ParseVmState);
    io.Str("guest_ip", v.guest_ip);
    io.Str("api_sock_path", v.api_sock_path, Omit::kEmpty);
    io.Str("vsock_path", v.vsock_path, Omit::kEmpty);
    io.UInt32("vsock_cid", v.vsock_cid, Omit::kEmpty);
    io.Str("log_path", v.log_path, Omit::kEmpty);
    io.Str("metrics_path", v.metrics_path, Omit::kEmpty);
    io.Str("dns_name", v.dns_name, Omit::kEmpty);
    io.Str("vm_dir", v.vm_dir);
    io.Str("system_overlay_path", v.system_overlay_path);
    io.Str("work_disk_path", v.work_disk_path);
    io.Str("last_error", v.last_error, Omit::kEmpty);
    io.Str("boot_id", v.boot_id, Omit::kEmpty);
    io.Time("started_at", v.started_at, Omit::kEmpty);
    io.Time("paused_at", v.paused_at, Omit::kEmpty);
    io.Time("expires_at", v.expires_at, Omit::kEmpty);
    io.Str("saved_snapshot", v.saved_snapshot, Omit::kEmpty);
    io.Bool("idle_saved", v.idle_saved, Omit::kEmpty);
  }
};

template <>
struct JsonFields<VmSnapshot> {
  static constexpr const char* kWhat = "snapshot";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Str("id", v.id);
    io.Str("vm_id", v.vm_id);
    io.Str("name", v.name);
    io.Enum("backend", v.backend, BackendName, ParseBackend);
    io.Str("image_id", v.image_id);
    io.Str("kernel_identity", v.kernel_identity);
    io.Int("vcpu_count", v.vcpu_count);
    io.Int("memory_mib", v.memory_mib);
    io.Raw("files", v.files);
    io.Int64("bytes_on_disk", v.bytes_on_disk);
    io.Bool("suspend", v.suspend);
    io.Bool("complete", v.complete);
    io.Time("created_at", v.created_at);
  }
};

template <>
struct JsonFields<VmTemplate> {
  static constexpr const char* kWhat = "template";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Str("id", v.id);
    io.Str("image_id", v.image_id);
    io.Str("image_name", v.image_name, Omit::kEmpty);
    io.Enum("backend", v.backend, BackendName, ParseBackend);
    io.Int("vcpu_count", v.vcpu_count);
    io.Int("memory_mib", v.memory_mib);
    io.Int64("system_overlay_size_bytes", v.system_overlay_size_bytes);
    io.Int64("work_disk_size_bytes", v.work_disk_size_bytes);
    io.Bool("nic", v.nic);
    io.Str("inputs_identity", v.inputs_identity);
    io.Raw("files", v.files);
    io.Int64("bytes_on_disk", v.bytes_on_disk);
    io.Bool("complete", v.complete);
    io.Time("created_at", v.created_at);
    io.Time("last_used_at", v.last_used_at, Omit::kEmpty);
    io.Int64("uses", v.uses, Omit::kEmpty);
  }
};

template <>
struct JsonFields<VmStats> {
  static constexpr const char* kWhat = "stats";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Time("collected_at", v.collected_at, Omit::kEmpty);
    io.Double("cpu_percent", v.cpu_percent, Omit::kEmpty);
    io.Int64("rss_bytes", v.rss_bytes, Omit::kEmpty);
    io.Int64("vsz_bytes", v.vsz_bytes, Omit::kEmpty);
    io.Int64("system_overlay_bytes", v.system_overlay_bytes, Omit::kEmpty);
    io.Int64("work_disk_bytes", v.work_disk_bytes, Omit::kEmpty);
    io.Raw("metrics_raw", v.metrics_raw, Omit::kEmpty);
  }
};

template <>
struct JsonFields<VmRecord> {
  static constexpr const char* kWhat = "vm";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Str("id", v.id);
    io.Str("name", v.name);
    io.Str("image_id", v.image_id);
    io.Enum("state", v.state, VmStateName, ParseVmState);
    io.Time("created_at", v.created_at);
    io.Time("updated_at", v.updated_at);
    io.Time("last_touched_at", v.last_touched_at);
    io.Object("spec", v.spec);
    io.Object("runtime", v.runtime);
    io.Object("stats", v.stats);
    io.StrMap("labels", v.labels);
    io.Str("request_id", v.request_id, Omit::kEmpty);
  }
};

template <>
struct JsonFields<VmHandles> {
  static constexpr const char* kWhat = "handles";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Int("pid", v.pid);
    io.Int64("vmm_uid", v.vmm_uid, Omit::kEmpty);
    io.Int64("vmm_start_time", v.vmm_start_time, Omit::kEmpty);
    io.Int64("vmm_exe_dev", v.vmm_exe_dev, Omit::kEmpty);
    io.Int64("vmm_exe_ino", v.vmm_exe_ino, Omit::kEmpty);
    io.Str("tap_device", v.tap_device, Omit::kEmpty);
    io.Str("base_loop", v.base_loop, Omit::kEmpty);
    io.Str("cow_loop", v.cow_loop, Omit::kEmpty);
    io.Str("dm_name", v.dm_name, Omit::kEmpty);
    io.Str("dm_dev", v.dm_dev, Omit::kEmpty);
  }
};

template <>
struct JsonFields<GuestSession> {
  static constexpr const char* kWhat = "session";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Str("id", v.id);
    io.Str("vm_id", v.vm_id);
    io.Str("name", v.name);
    io.Str("backend", v.backend);
    io.Str("attach_backend", v.attach_backend, Omit::kEmpty);
    io.Str("attach_mode", v.attach_mode, Omit::kEmpty);
    io.Str("command", v.command);
    io.StrList("args", v.args, Omit::kEmpty);
    io.Str("cwd", v.cwd, Omit::kEmpty);
    io.StrMap("env", v.env, Omit::kEmpty);
    io.Str("stdin_mode", v.stdin_mode, Omit::kEmpty);
    io.Enum("status", v.status, GuestSessionStatusName, ParseGuestSessionStatus);
    io.Opt("exit_code", v.exit_code);
    io.Int("guest_pid", v.guest_pid, Omit::kEmpty);
    io.Str("guest_state_dir", v.guest_state_dir, Omit::kEmpty);
    io.Str("stdout_log_path", v.stdout_log_path, Omit::kEmpty);
    io.Str("stderr_log_path", v.stderr_log_path, Omit::kEmpty);
    io.StrMap("tags", v.tags, Omit::kEmpty);
    io.Str("last_error", v.last_error, Omit::kEmpty);
    io.Bool("attachable", v.attachable);
    io.Bool("reattachable", v.reattachable);
    io.Str("launch_stage", v.launch_stage, Omit::kEmpty);
    io.Str("launch_message", v.launch_message, Omit::kEmpty);
    io.Str("launch_raw_log", v.launch_raw_log, Omit::kEmpty);
    io.Time("created_at", v.created_at);
    io.Time("started_at", v.started_at, Omit::kEmpty);
    io.Time("updated_at", v.updated_at);
    io.Time("ended_at", v.ended_at, Omit::kEmpty);
  }
};

template <>
struct JsonFields<WorkspacePrepareResult> {
  static constexpr const char* kWhat = "workspace";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Str("vm_id", v.vm_id);
    io.Str("source_path", v.source_path);
    io.Str("repo_root", v.repo_root);
    io.Str("repo_name", v.repo_name);
    io.Str("guest_path", v.guest_path);
    io.Enum("mode", v.mode, WorkspacePrepareModeName, ParseWorkspacePrepareMode);
    io.Bool("readonly", v.readonly);
    io.Str("head_commit", v.head_commit, Omit::kEmpty);
    io.Str("current_branch", v.current_branch, Omit::kEmpty);
    io.Str("branch_name", v.branch_name, Omit::kEmpty);
    io.Str("base_commit", v.base_commit, Omit::kEmpty);
    io.Time("prepared_at", v.prepared_at);
  }
};

template <>
struct JsonFields<WorkspaceExportResult> {
  static constexpr const char* kWhat = "workspace export";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Str("vm_id", v.vm_id);
    io.Str("repo_root", v.repo_root);
    io.Str("guest_path", v.guest_path);
    io.Str("base_commit", v.base_commit);
    io.Str("guest_head", v.guest_head, Omit::kEmpty);
    io.Str("commit", v.commit);
    io.Int64("commits", v.commits);
    io.Bool("uncommitted", v.uncommitted);
    io.Str("branch", v.branch, Omit::kEmpty);
    io.Int64("bytes", v.bytes);
  }
};

template <>
struct JsonFields<Event> {
  static constexpr const char* kWhat = "event";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Int64("seq", v.seq);
    io.Time("at", v.at);
    io.Str("type", v.type);
    io.Str("vm_id", v.vm_id, Omit::kEmpty);
    io.Str("vm_name", v.vm_name, Omit::kEmpty);
    io.Raw("data", v.data);
  }
};

template <>
struct JsonFields<CreateVmRequest> {
  static constexpr const char* kWhat = "create request";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Str("name", v.name, Omit::kEmpty);
    io.Str("image", v.image, Omit::kEmpty);
    io.Opt("vcpu_count", v.vcpu_count);
    io.Opt("memory_mib", v.memory_mib);
    io.Opt("system_overlay_size_bytes", v.system_overlay_size_bytes);
    io.Opt("work_disk_size_bytes", v.work_disk_size_bytes);
    io.Opt("nat_enabled", v.nat_enabled);
    io.Opt("backend", v.backend);
    io.Bool("no_start", v.no_start, Omit::kEmpty);
    io.StrMap("labels", v.labels, Omit::kEmpty);
    io.Str("request_id", v.request_id, Omit::kEmpty);
    io.Bool("auto_remove", v.auto_remove, Omit::kEmpty);
    io.Opt("disk_bw_bytes_per_sec", v.disk_bw_bytes_per_sec);
    io.Opt("disk_iops", v.disk_iops);
    io.Opt("net_bw_bytes_per_sec", v.net_bw_bytes_per_sec);
    io.Opt("idle_suspend_ms", v.idle_suspend);
    io.Opt("idle_suspend_to", v.idle_suspend_to);
    io.Opt("ttl_ms", v.ttl);
    io.Opt("ttl_action", v.ttl_action);
    io.Bool("cold", v.cold, Omit::kEmpty);
    io.StrList("ports", v.ports, Omit::kEmpty);
    io.ObjectList("mounts", v.mounts, Omit::kEmpty);
  }
  static Status Check(const CreateVmRequest& v) { return ValidateRequest(v); }
};

template <>
struct JsonFields<AddPortRequest> {
  static constexpr const char* kWhat = "port request";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Str("port", v.port);
  }
  static Status Check(const AddPortRequest& v) { return ValidateRequest(v); }
};

template <>
struct JsonFields<PortMapping> {
  static constexpr const char* kWhat = "port";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Str("vm_id", v.vm_id, Omit::kEmpty);
    io.Str("host_ip", v.host_ip);
    io.Int("host_port", v.host_port);
    io.Int("guest_port", v.guest_port);
    io.Str("protocol", v.protocol);
  }
};

template <>
struct JsonFields<SetVmRequest> {
  static constexpr const char* kWhat = "set request";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Opt("vcpu_count", v.vcpu_count);
    io.Opt("memory_mib", v.memory_mib);
    io.Opt("work_disk_size_bytes", v.work_disk_size_bytes);
    io.Opt("nat_enabled", v.nat_enabled);
    io.Opt("disk_bw_bytes_per_sec", v.disk_bw_bytes_per_sec);
    io.Opt("disk_iops", v.disk_iops);
    io.Opt("net_bw_bytes_per_sec", v.net_bw_bytes_per_sec);
    io.Opt("idle_suspend_ms", v.idle_suspend);
    io.Opt("idle_suspend_to", v.idle_suspend_to);
    io.Opt("ttl_ms", v.ttl);
    io.Opt("ttl_action", v.ttl_action);
  }
  static Status Check(const SetVmRequest& v) { return ValidateRequest(v); }
};

template <>
struct JsonFields<StopVmRequest> {
  static constexpr const char* kWhat = "stop request";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Opt("timeout_ms", v.timeout);
    io.Bool("save", v.save, Omit::kEmpty);
  }
  static Status Check(const StopVmRequest& v) { return ValidateRequest(v); }
};

template <>
struct JsonFields<SignalSessionRequest> {
  static constexpr const char* kWhat = "signal request";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Int("signal", v.signal);
  }
  static Status Check(const SignalSessionRequest& v) { return ValidateRequest(v); }
};

template <>
struct JsonFields<CreateSnapshotRequest> {
  static constexpr const char* kWhat = "snapshot request";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Str("name", v.name, Omit::kEmpty);
  }
};

template <>
struct JsonFields<RestoreVmRequest> {
  static constexpr const char* kWhat = "restore request";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Str("snapshot", v.snapshot, Omit::kEmpty);
  }
};

template <>
struct JsonFields<CreateTemplateRequest> {
  static constexpr const char* kWhat = "template request";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Str("image", v.image, Omit::kEmpty);
    io.Opt("vcpu_count", v.vcpu_count);
    io.Opt("memory_mib", v.memory_mib);
    io.Opt("system_overlay_size_bytes", v.system_overlay_size_bytes);
    io.Opt("work_disk_size_bytes", v.work_disk_size_bytes);
    io.Opt("backend", v.backend);
  }
};

template <>
struct JsonFields<ForkVmRequest> {
  static constexpr const char* kWhat = "fork request";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Str("name", v.name);
    io.Opt("count", v.count);
  }
};

template <>
struct JsonFields<ExecVmRequest> {
  static constexpr const char* kWhat = "exec request";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.StrList("argv", v.argv);
    io.StrMap("env", v.env, Omit::kEmpty);
    io.Str("cwd", v.cwd, Omit::kEmpty);
    io.Str("user", v.user, Omit::kEmpty);
    io.Bool("no_image_env", v.no_image_env, Omit::kEmpty);
    io.Bool("tty", v.tty);
    io.Int("rows", v.rows);
    io.Int("cols", v.cols);
    io.Millis("timeout_ms", v.agent_timeout);
  }
  static Status Check(const ExecVmRequest& v) { return ValidateRequest(v); }
};

template <>
struct JsonFields<BuildImageRequest> {
  static constexpr const char* kWhat = "image build request";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Str("name", v.name);
    io.Str("profile", v.profile);
    io.Bool("docker", v.docker);
    io.Int64("size_bytes", v.size_bytes, Omit::kEmpty);
    io.Str("kernel_flavour", v.kernel_flavour);
    io.Str("from_oci", v.from_oci, Omit::kEmpty);
    io.Str("from_rootfs", v.from_rootfs, Omit::kEmpty);
  }
};

template <>
struct JsonFields<RegistryAuth> {
  static constexpr const char* kWhat = "registry credentials";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Str("username", v.username, Omit::kEmpty);
    io.Str("password", v.password, Omit::kEmpty);
    io.Str("auth", v.auth, Omit::kEmpty);
  }
};

template <>
struct JsonFields<PullImageRequest> {
  static constexpr const char* kWhat = "image pull request";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Str("ref", v.ref);
    io.Str("name", v.name, Omit::kEmpty);
    io.Bool("insecure", v.insecure, Omit::kEmpty);
    io.OptObject("auth", v.auth);
    io.Str("kernel_flavour", v.kernel_flavour, Omit::kEmpty);
    io.Int64("size_bytes", v.size_bytes, Omit::kEmpty);
  }
};

template <>
struct JsonFields<PruneImagesResponse> {
  static constexpr const char* kWhat = "image prune result";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Int64("bytes_freed", v.bytes_freed);
  }
};

template <>
struct JsonFields<ImportImageRequest> {
  static constexpr const char* kWhat = "image import request";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Str("name", v.name);
    io.Str("kernel_path", v.kernel_path);
    io.Str("rootfs_path", v.rootfs_path);
    io.Str("initrd_path", v.initrd_path);
    io.Str("modules_dir", v.modules_dir);
    io.Str("work_seed_path", v.work_seed_path);
  }
};

template <>
struct JsonFields<StartSessionRequest> {
  static constexpr const char* kWhat = "session start request";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Str("name", v.name, Omit::kEmpty);
    io.StrList("argv", v.argv);
    io.StrMap("env", v.env, Omit::kEmpty);
    io.Str("cwd", v.cwd, Omit::kEmpty);
    io.Str("user", v.user, Omit::kEmpty);
    io.Bool("no_image_env", v.no_image_env, Omit::kEmpty);
    io.StrMap("tags", v.tags, Omit::kEmpty);
    io.Bool("stdin", v.stdin_pipe);
    io.Millis("timeout_ms", v.agent_timeout);
  }
  static Status Check(const StartSessionRequest& v) { return ValidateRequest(v); }
};

template <>
struct JsonFields<SessionStreamRequest> {
  static constexpr const char* kWhat = "session stream request";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Bool("follow", v.follow);
  }
};

template <>
struct JsonFields<PrepareWorkspaceRequest> {
  static constexpr const char* kWhat = "workspace prepare request";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Str("source_path", v.source_path);
    io.Str("guest_path", v.guest_path, Omit::kEmpty);
    io.Str("mode", v.mode, Omit::kEmpty);
    io.Bool("readonly", v.readonly);
    io.Str("branch", v.branch, Omit::kEmpty);
    io.Millis("timeout_ms", v.agent_timeout);
  }
  static Status Check(const PrepareWorkspaceRequest& v) { return ValidateRequest(v); }
};

template <>
struct JsonFields<ExportWorkspaceRequest> {
  static constexpr const char* kWhat = "workspace export request";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Str("source_path", v.source_path);
    io.Str("guest_path", v.guest_path, Omit::kEmpty);
    io.Str("branch", v.branch, Omit::kEmpty);
    io.Bool("force", v.force);
    io.Str("commit_message", v.commit_message, Omit::kEmpty);
    io.Int64("max_bytes", v.max_bytes, Omit::kEmpty);
    io.Millis("timeout_ms", v.agent_timeout);
  }
  static Status Check(const ExportWorkspaceRequest& v) { return ValidateRequest(v); }
};

template <>
struct JsonFields<DeleteResponse> {
  static constexpr const char* kWhat = "delete response";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Bool("deleted", v.deleted);
    io.Str("id", v.id, Omit::kEmpty);
  }
};

}  // namespace banger

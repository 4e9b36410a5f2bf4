// The daemon's configuration: <home>/config.toml (or --config / BANGER_CONFIG).
// Keys are the snake_case names of the seed's DaemonConfig fields plus
// backend, qemu_bin, qemu_accel, stop_timeout, cow_mode, vmm_user, jailer_bin. An unknown key or a
// bad value is an error naming the key. Also: where the home is and what
// lives in it.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/account.h"
#include "base/result.h"
#include "model/types.h"

namespace banger {

inline constexpr const char* kCowModeOverlay = "overlay";
inline constexpr const char* kCowModeDmSnapshot = "dm-snapshot";

struct FileSyncEntry {
  std::string host;
  std::string guest;
  std::string mode;  // octal string, "" = default (0600 files, 0755 dirs)
};

struct VmDefaults {
  int vcpu_count = kDefaultVCPUCount;
  int memory_mib = kDefaultMemoryMiB;
  int64_t system_overlay_size_bytes = kDefaultSystemOverlaySize;
  int64_t work_disk_size_bytes = kDefaultWorkDiskSize;
  bool nat_enabled = false;
  // Per-VM idle suspend, ttl and ttl action given to VMs created without
  // their own (0 = off); stored in each VM's spec at create.
  std::chrono::milliseconds idle_suspend{0};
  SuspendTarget idle_suspend_to = SuspendTarget::kRam;
  std::chrono::milliseconds ttl{0};
  TtlAction ttl_action = TtlAction::kStop;
};

inline constexpr const char* kDefaultVmmUser = "banger-vmm";

struct DaemonConfig {
  std::string log_level = "info";
  // bangerd.log is rotated when a write would take it past log_max_bytes:
  // bangerd.log.1 .. bangerd.log.<log_max_files> keep the older ones.
  int64_t log_max_bytes = 16LL << 20;
  int log_max_files = 3;
  // A VM's console.log (the guest's serial output, written by its VMM) is
  // moved to console.log.1 once it passes this size (checked every second
  // by upkeep; see docs/security.md "Files on the host").
  int64_t console_log_max_bytes = 8LL << 20;
  // The events table keeps its newest events_max_rows rows (trimmed by upkeep).
  int events_max_rows = 10000;
  std::string web_listen_addr;  // "" = web UI off
  // "" = the API socket is 0600 (its owner only); a group name or number =
  // 0660 owned by that group (like docker's socket and the docker group).
  std::string socket_group;
  std::string firecracker_bin = "firecracker";
  std::string ssh_key_path;
  std::chrono::milliseconds auto_stop_stale_after{0};  // 0 = never
  std::chrono::milliseconds stats_poll_interval{std::chrono::seconds(10)};
  std::chrono::milliseconds metrics_poll_interval{std::chrono::seconds(15)};
  std::string bridge_name = kDefaultBridgeName;
  std::string bridge_ip = kDefaultBridgeIP;
  std::string cidr = kDefaultCIDR;
  int tap_pool_size = 4;
  std::string default_dns = kDefaultDNS;
  std::string default_image_name = "default";
  std::vector<FileSyncEntry> file_sync;
  VmDefaults vm_defaults;
  // "" = auto: firecracker when its binary is found and KVM can run guests, else qemu.
  std::string backend;
  std::string qemu_bin = "qemu-system-x86_64";
  // "" = auto: kvm when /dev/kvm is usable and we are not ourselves a guest, else tcg.
  std::string qemu_accel;
  // Seconds a graceful stop waits before forcing.
  std::chrono::milliseconds stop_timeout{std::chrono::seconds(10)};
  // How a VM's root gets copy-on-write over the shared image rootfs:
  //  "overlay"     (default) overlayfs in the guest: vda = image rootfs
  //                read-only, vdb = the VM's ext4 system overlay, vdc = work.
  //  "dm-snapshot" the seed's scheme, on the host: the image rootfs and the
  //                VM's raw COW file are loop-attached and joined by a
  //                device-mapper snapshot; vda = that snapshot (read-write),
  //                vdb = work. Needs /dev/mapper/control and dm_snapshot
  //                (src/storage/devmapper.h).
  std::string cow_mode = kCowModeOverlay;
  // Host networking for VMs (bridge, taps, an IP and DNS name each, NAT on
  // demand): "on" or "off". Off by default until the daemon's networking has
  // its end-to-end tests (issue 5).
  std::string network = "off";
  // What clients may hold of the API socket and the web listener
  // (docs/security.md): connections served at once (one more gets 503),
  // the time to send a request head, a keep-alive connection's idle time,
  // the largest request body (413 beyond).
  int api_max_connections = 256;
  int web_max_connections = 32;
  std::chrono::milliseconds http_header_timeout{std::chrono::seconds(10)};
  std::chrono::milliseconds http_idle_timeout{std::chrono::seconds(60)};
  // A WebSocket stream whose client takes no message for this long is
  // dropped (the operation sees the client gone; docs/api.md "Streams").
  std::chrono::milliseconds ws_write_timeout{std::chrono::seconds(30)};
  int64_t http_max_body_bytes = int64_t{8} * 1024 * 1024;
  // How long a web UI login (`banger web open`) lasts.
  std::chrono::milliseconds web_session_ttl{std::chrono::hours(12)};
  // The unprivileged system user VMMs run as when the daemon is root (QEMU
  // -runas, firecracker setuid), and e2fsprogs on guest-written disks.
  // "root" opts out (no isolation; `banger doctor` warns). Ignored when the
  // daemon is not root: its VMMs then run as its own user.
  std::string vmm_user = kDefaultVmmUser;
  // Per-VM cgroups (vmm/cgroup.h): "auto" puts each VMM in its own group
  // banger/<vm short id> with memory and pids limits when this host's
  // cgroups (v2, or v1 memory+pids) are writable, and runs without them
  // otherwise (a container); "off" never uses them.
  std::string vm_cgroups = "auto";
  // Firecracker's jailer ("" = off): when set (a name in PATH or a path, the
  // jailer of the same release as firecracker_bin), firecracker is started
  // through it, chrooted in the VM's directory as vmm_user (or root when
  // vmm_user = "root"). Needs a root daemon. See vmm/firecracker/jailer.h.
  std::string jailer_bin;
};

// The account VMMs run as for a daemon of effective uid `daemon_euid`:
// nullopt = the daemon's own user (it is not root, or vmm_user = "root"). A
// missing vmm_user is one error line naming the fix.
Result<std::optional<UserAccount>> ResolveVmmUser(const DaemonConfig& c, uid_t daemon_euid);

// Parses TOML text. `source` names the file in error messages.
Result<DaemonConfig> ParseConfig(const std::string& toml_text, const std::string& source);
// Reads `path`; a missing file gives the defaults.
Result<DaemonConfig> LoadConfig(const std::string& path);

// What backend/accelerator auto-detection asks of the host, as functions so
// that tests can answer for every kind of host (detect_test.cc).
struct HostProbes {
  // Whether `bin` (a name looked up on PATH, or a path) is an executable:
  // asked for firecracker_bin (and by doctor for qemu_bin).
  std::function<bool(const std::string& bin)> executable_found;
  // /dev/kvm opens read-write.
  std::function<bool()> kvm_usable;
  // This host is itself a VM, where nested KVM often cannot boot Linux guests.
  std::function<bool()> under_hypervisor;
};
// The probes of this host: FindExecutable, KvmUsable, RunningUnderHypervisor.
const HostProbes& RealHostProbes();

// Resolves auto values (backend, qemu_accel) against a host. A value set in
// the config wins without probing. Auto backend: firecracker when its binary
// is found and KVM is usable on a host that is not itself a VM, else qemu
// (whether qemu_bin exists does not change the choice: qemu is the only
// other backend; a missing one is reported by doctor and at VM start). Auto
// accelerator: kvm when KVM is usable and the host is not a VM, else tcg.
BackendKind ResolveBackend(const DaemonConfig& c, const HostProbes& probes = RealHostProbes());
std::string ResolveQemuAccel(const DaemonConfig& c, const HostProbes& probes = RealHostProbes());
// True when /dev/kvm opens read-write.
bool KvmUsable();
// True when this host is itself a VM (cpuinfo "hypervisor" flag): nested KVM
// often cannot boot Linux guests there (KVM internal errors, or a crawl).
bool RunningUnderHypervisor();

// Layout of a banger home. All paths absolute.
// What a bangerd that finds its home's lock taken says (its last line); the
// CLI's auto-start recognises it and tries again once the holder is gone.
inline constexpr const char* kHomeLockedMessage = "another bangerd is already running for home ";

struct HomeLayout {
  std::string root;
  std::string Socket() const { return root + "/bangerd.sock"; }
  std::string LockFile() const { return root + "/bangerd.lock"; }
  std::string DaemonLog() const { return root + "/bangerd.log"; }
  std::string DaemonOut() const { return root + "/bangerd.out"; }  // early stdout/stderr
  std::string Database() const { return root + "/banger.db"; }
  // Scrape tokens' hashes (GET /metrics on the web listener, api/web_auth.h).
  std::string WebMetricsTokens() const { return root + "/web-metrics-tokens"; }
  std::string DefaultConfig() const { return root + "/config.toml"; }
  std::string ImagesDir() const { return root + "/images"; }
  std::string VmsDir() const { return root + "/vms"; }
  std::string TemplatesDir() const { return root + "/templates"; }  // template snapshots (warm start)
  std::string OciLayoutDir() const { return root + "/oci"; }  // OCI layer cache (image pull), lock oci.lock
  // Named by the id's first 16 hex digits (64 bits) so that socket paths
  // inside it, plus Firecracker's "_<port>" suffixes, fit in sun_path.
  std::string VmDir(const std::string& vm_id) const { return VmsDir() + "/" + vm_id.substr(0, 16); }
};

// The system daemon's home (root's default; the Debian package's
// bangerd.service) and the package's config file, used for that home when
// the home has no config.toml of its own (docs/adr/0031).
inline constexpr const char* kSystemHome = "/var/lib/banger";
inline constexpr const char* kSystemConfig = "/etc/banger/bangerd.toml";

// --home value, else $BANGER_HOME, else /var/lib/banger for root and
// ~/.local/share/banger otherwise. The result is absolute.
std::string ResolveHome(const std::string& flag_value);
// The CLI's home: ResolveHome's, except that a user other than root with
// neither --home nor $BANGER_HOME who may use the system daemon's socket
// (`system_home`/bangerd.sock writable: a member of its socket_group) talks
// to the system daemon rather than starting one of their own.
std::string ResolveClientHome(const std::string& flag_value, const std::string& system_home = kSystemHome);
// --config value, else $BANGER_CONFIG, else <home>/config.toml; for the
// system home without a config.toml, `system_config` when that exists.
std::string ResolveConfigPath(const std::string& flag_value, const HomeLayout& home,
                              const std::string& system_config = kSystemConfig,
                              const std::string& system_home = kSystemHome);

}  // namespace banger

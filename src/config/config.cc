#include "config/config.h"

#include <fcntl.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <cstdlib>
#include <set>
#include <sstream>

#include "base/account.h"
#include "base/fs.h"
#include "base/process.h"
#include "base/time.h"

namespace banger {
namespace {

// Reads typed values out of a TOML table, recording the first error with
// the key's dotted name, and rejecting keys nobody asked for.
class TableReader {
 public:
  TableReader(const toml::table& t, std::string prefix, std::string source)
      : t_(t), prefix_(std::move(prefix)), source_(std::move(source)) {}

  void Str(const char* key, std::string& out) {
    if (auto* n = Node(key)) {
      if (auto v = n->value<std::string>())
        out = *v;
      else
        Fail(key, "must be a string");
    }
  }
  void Int(const char* key, int& out, int lo, int hi) {
    if (auto* n = Node(key)) {
      auto v = n->value<int64_t>();
      if (!v || !n->is_integer()) return Fail(key, "must be an integer");
      if (*v < lo || *v > hi)
        return Fail(key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
      out = static_cast<int>(*v);
    }
  }
  void Bool(const char* key, bool& out) {
    if (auto* n = Node(key)) {
      if (auto v = n->value<bool>())
        out = *v;
      else
        Fail(key, "must be true or false");
    }
  }
  void Duration(const char* key, std::chrono::milliseconds& out) {
    std::string s;
    if (!Node(key)) return;
    Str(key, s);
    if (err_) return;
    auto d = ParseDuration(s);
    if (!d.ok()) return Fail(key, d.error().message());
    out = *d;
  }
  void Size(const char* key, int64_t& out) {
    auto* n = Node(key);
    if (!n) return;
    std::string s;
    if (auto i = n->value<int64_t>(); i && n->is_integer())
      s = std::to_string(*i);
    else if (auto v = n->value<std::string>())
      s = *v;
    else
      return Fail(key, "must be a size like \"8G\"");
    auto sz = ParseSize(s);
    if (!sz.ok()) return Fail(key, sz.error().message());
    out = *sz;
  }
  const toml::node* Node(const char* key) {
    seen_.insert(key);
    return t_.get(key);
  }
  void Fail(const std::string& key, const std::string& msg) {
    if (!err_) err_ = Error::Invalid(source_ + ": " + prefix_ + key + ": " + msg);
  }
  Status Finish() {
    if (!err_) {
      for (const auto& [k, v] : t_) {
        if (!seen_.count(std::string(k.str()))) {
          Fail(std::string(k.str()), "unknown key");
          break;
        }
      }
    }
    if (err_) return *err_;
    return OkStatus();
  }

 private:
  const toml::table& t_;
  std::string prefix_, source_;
  std::set<std::string> seen_;
  std::optional<Error> err_;
};

bool IsAllowed(const std::string& v, std::initializer_list<const char*> allowed) {
  for (const char* a : allowed) {
    if (v == a) return true;
  }
  return false;
}

}  // namespace

Result<DaemonConfig> ParseConfig(const std::string& text, const std::string& source) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    return Error::Invalid(source + ":" + std::to_string(b.line) + ":" + std::to_string(b.column) + ": " +
                          std::string(e.description()));
  }
  DaemonConfig c;
  TableReader r(root, "", source);
  r.Str("log_level", c.log_level);
  r.Size("log_max_bytes", c.log_max_bytes);
  r.Int("log_max_files", c.log_max_files, 0, 100);
  r.Size("console_log_max_bytes", c.console_log_max_bytes);
  r.Int("events_max_rows", c.events_max_rows, 1, 100'000'000);
  r.Str("web_listen_addr", c.web_listen_addr);
  r.Str("socket_group", c.socket_group);
  r.Str("firecracker_bin", c.firecracker_bin);
  r.Str("ssh_key_path", c.ssh_key_path);
  r.Duration("auto_stop_stale_after", c.auto_stop_stale_after);
  r.Duration("stats_poll_interval", c.stats_poll_interval);
  r.Duration("metrics_poll_interval", c.metrics_poll_interval);
  r.Duration("stop_timeout", c.stop_timeout);
  r.Str("bridge_name", c.bridge_name);
  r.Str("bridge_ip", c.bridge_ip);
  r.Str("cidr", c.cidr);
  r.Int("tap_pool_size", c.tap_pool_size, 0, 1024);
  r.Str("default_dns", c.default_dns);
  r.Str("default_image_name", c.default_image_name);
  r.Str("backend", c.backend);
  r.Str("qemu_bin", c.qemu_bin);
  r.Str("qemu_accel", c.qemu_accel);
  r.Str("cow_mode", c.cow_mode);
  r.Str("vm_cgroups", c.vm_cgroups);
  r.Str("network", c.network);
  r.Int("api_max_connections", c.api_max_connections, 1, 65536);
  r.Int("web_max_connections", c.web_max_connections, 1, 65536);
  r.Duration("http_header_timeout", c.http_header_timeout);
  r.Duration("http_idle_timeout", c.http_idle_timeout);
  r.Duration("ws_write_timeout", c.ws_write_timeout);
  r.Size("http_max_body_bytes", c.http_max_body_bytes);
  r.Duration("web_session_ttl", c.web_session_ttl);
  r.Str("vmm_user", c.vmm_user);
  r.Str("jailer_bin", c.jailer_bin);
  if (auto* fs = r.Node("file_sync")) {
    auto* arr = fs->as_array();
    if (!arr) {
      r.Fail("file_sync", "must be an array of tables ([[file_sync]])");
    } else {
      for (size_t i = 0; i < arr->size(); ++i) {
        auto* t = (*arr)[i].as_table();
        std::string prefix = "file_sync[" + std::to_string(i) + "].";
        if (!t) {
          r.Fail(prefix, "must be a table");
          break;
        }
        FileSyncEntry e;
        TableReader tr(*t, prefix, source);
        tr.Str("host", e.host);
        tr.Str("guest", e.guest);
        tr.Str("mode", e.mode);
        BANGER_RETURN_IF_ERROR(tr.Finish());
        if (e.host.empty() || e.guest.empty()) {
          return Error::Invalid(source + ": " + prefix + "host and guest are required");
        }
        if (!e.mode.empty() && e.mode.find_first_not_of("01234567") != std::string::npos) {
          return Error::Invalid(source + ": " + prefix + "mode: must be octal like \"0644\"");
        }
        c.file_sync.push_back(e);
      }
    }
  }
  if (auto* vd = r.Node("vm_defaults")) {
    auto* t = vd->as_table();
    if (!t) {
      r.Fail("vm_defaults", "must be a table");
    } else {
      TableReader tr(*t, "vm_defaults.", source);
      tr.Int("vcpu_count", c.vm_defaults.vcpu_count, 1, kMaxVCPUCount);
      tr.Int("memory_mib", c.vm_defaults.memory_mib, kMinMemoryMiB, kMaxMemoryMiB);
      tr.Size("system_overlay_size", c.vm_defaults.system_overlay_size_bytes);
      tr.Size("work_disk_size", c.vm_defaults.work_disk_size_bytes);
      tr.Bool("nat_enabled", c.vm_defaults.nat_enabled);
      tr.Duration("idle_suspend", c.vm_defaults.idle_suspend);
      std::string idle_to = SuspendTargetName(c.vm_defaults.idle_suspend_to);
      tr.Str("idle_suspend_to", idle_to);
      if (auto t = ParseSuspendTarget(idle_to); t.ok()) {
        c.vm_defaults.idle_suspend_to = *t;
      } else {
        tr.Fail("idle_suspend_to", "must be \"ram\" or \"disk\"");
      }
      tr.Duration("ttl", c.vm_defaults.ttl);
      std::string ttl_action = TtlActionName(c.vm_defaults.ttl_action);
      tr.Str("ttl_action", ttl_action);
      if (auto a = ParseTtlAction(ttl_action); a.ok()) {
        c.vm_defaults.ttl_action = *a;
      } else {
        tr.Fail("ttl_action", "must be \"stop\" or \"delete\"");
      }
      BANGER_RETURN_IF_ERROR(tr.Finish());
    }
  }
  BANGER_RETURN_IF_ERROR(r.Finish());

  auto bad = [&](const std::string& key, const std::string& msg) {
    return Error::Invalid(source + ": " + key + ": " + msg);
  };
  if (!IsAllowed(c.log_level, {"trace", "debug", "info", "warn", "error", "off"})) {
    return bad("log_level", "must be one of trace, debug, info, warn, error, off");
  }
  if (!c.backend.empty() && !IsAllowed(c.backend, {"firecracker", "qemu"})) {
    return bad("backend", "must be \"firecracker\" or \"qemu\"");
  }
  if (!c.qemu_accel.empty() && !IsAllowed(c.qemu_accel, {"kvm", "tcg"})) {
    return bad("qemu_accel", "must be \"kvm\" or \"tcg\"");
  }
  if (!IsAllowed(c.network, {"on", "off"})) return bad("network", "must be \"on\" or \"off\"");
  for (const auto& [key, d] :
       {std::pair<const char*, std::chrono::milliseconds>{"http_header_timeout", c.http_header_timeout},
        {"http_idle_timeout", c.http_idle_timeout},
        {"ws_write_timeout", c.ws_write_timeout},
        {"web_session_ttl", c.web_session_ttl}}) {
    if (d.count() <= 0) return bad(key, "must be more than 0");
  }
  if (c.http_max_body_bytes < 4096 || c.http_max_body_bytes > (int64_t{1} << 30)) {
    return bad("http_max_body_bytes", "must be between 4K and 1G");
  }
  if (!IsAllowed(c.vm_cgroups, {"auto", "off"})) return bad("vm_cgroups", "must be \"auto\" or \"off\"");
  if (!IsAllowed(c.cow_mode, {kCowModeOverlay, kCowModeDmSnapshot})) {
    return bad("cow_mode", "must be \"overlay\" or \"dm-snapshot\"");
  }
  // Smaller caps would rotate on every few lines.
  if (c.log_max_bytes < (64 << 10)) return bad("log_max_bytes", "must be at least 64K");
  if (c.console_log_max_bytes < (64 << 10)) return bad("console_log_max_bytes", "must be at least 64K");
  for (const auto& [key, d] : {std::pair<const char*, std::chrono::milliseconds>{"vm_defaults.idle_suspend",
                                                                                 c.vm_defaults.idle_suspend},
                               {"vm_defaults.ttl", c.vm_defaults.ttl}}) {
    if (auto st = CheckLifetimeDuration("value", d); !st.ok()) return bad(key, st.error().message());
  }
  if (c.stats_poll_interval.count() <= 0) return bad("stats_poll_interval", "must be positive");
  if (c.metrics_poll_interval.count() <= 0) return bad("metrics_poll_interval", "must be positive");
  if (c.firecracker_bin.empty()) return bad("firecracker_bin", "must not be empty");
  if (!c.socket_group.empty()) {
    if (auto g = LookupGroup(c.socket_group); !g.ok()) return bad("socket_group", g.error().message());
  }
  if (c.qemu_bin.empty()) return bad("qemu_bin", "must not be empty");
  if (c.vmm_user.empty() || c.vmm_user.find_first_of(",:/ \t\n") != std::string::npos) {
    return bad("vmm_user", "must be a user name (\"root\" to run VMMs as root)");
  }
  if (!c.default_image_name.empty()) {
    if (auto st = ValidateImageName(c.default_image_name); !st.ok())
      return bad("default_image_name", st.error().message());
  }
  return c;
}

Result<std::optional<UserAccount>> ResolveVmmUser(const DaemonConfig& c, uid_t daemon_euid) {
  if (daemon_euid != 0 || c.vmm_user == "root") return std::optional<UserAccount>();
  auto user = LookupUser(c.vmm_user);
  if (!user.ok()) {
    if (user.error().kind() != ErrorKind::kNotFound) return std::move(user).error();
    return Error::Unavailable("vmm_user \"" + c.vmm_user +
                              "\" does not exist: run scripts/install-deps.sh (it creates it with useradd "
                              "--system), or set vmm_user = \"root\" in config.toml to run VMMs as root");
  }
  if (user->uid == 0) return std::optional<UserAccount>();
  return std::optional<UserAccount>(std::move(*user));
}

Result<DaemonConfig> LoadConfig(const std::string& path) {
  if (!PathExists(path)) return DaemonConfig{};
  BANGER_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return ParseConfig(text, path);
}

bool KvmUsable() {
  int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

bool RunningUnderHypervisor() {
  // ReadFile opens O_CLOEXEC (an ifstream does not).
  auto text = ReadFile("/proc/cpuinfo");
  std::istringstream f(text.ok() ? *text : std::string());
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("flags", 0) == 0) return line.find(" hypervisor") != std::string::npos;
  }
  return false;
}

const HostProbes& RealHostProbes() {
  static const HostProbes probes{
      .executable_found = [](const std::string& bin) { return FindExecutable(bin).ok(); },
      .kvm_usable = [] { return KvmUsable(); },
      .under_hypervisor = [] { return RunningUnderHypervisor(); },
  };
  return probes;
}

namespace {
// KVM that can boot a Linux guest: usable, and not nested in another VM.
bool GuestCapableKvm(const HostProbes& p) { return p.kvm_usable() && !p.under_hypervisor(); }
}  // namespace

BackendKind ResolveBackend(const DaemonConfig& c, const HostProbes& probes) {
  if (!c.backend.empty()) return ParseBackend(c.backend).value();
  bool fc = probes.executable_found(c.firecracker_bin);
  return fc && GuestCapableKvm(probes) ? BackendKind::kFirecracker : BackendKind::kQemu;
}

std::string ResolveQemuAccel(const DaemonConfig& c, const HostProbes& probes) {
  if (!c.qemu_accel.empty()) return c.qemu_accel;
  return GuestCapableKvm(probes) ? "kvm" : "tcg";
}

std::string ResolveHome(const std::string& flag_value) {
  if (!flag_value.empty()) return AbsolutePath(flag_value);
  if (const char* env = std::getenv("BANGER_HOME"); env && *env) return AbsolutePath(env);
  if (::geteuid() == 0) return "/var/lib/banger";
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : "/tmp") + "/.local/share/banger";
}

std::string ResolveClientHome(const std::string& flag_value, const std::string& system_home) {
  const char* env = std::getenv("BANGER_HOME");
  if (flag_value.empty() && (env == nullptr || *env == '\0') && ::geteuid() != 0 &&
      ::access(HomeLayout{system_home}.Socket().c_str(), W_OK) == 0) {
    return system_home;
  }
  return ResolveHome(flag_value);
}

std::string ResolveConfigPath(const std::string& flag_value, const HomeLayout& home,
                              const std::string& system_config, const std::string& system_home) {
  if (!flag_value.empty()) return AbsolutePath(flag_value);
  if (const char* env = std::getenv("BANGER_CONFIG"); env && *env) return AbsolutePath(env);
  if (home.root == system_home && !PathExists(home.DefaultConfig()) && PathExists(system_config)) {
    return system_config;
  }
  return home.DefaultConfig();
}

}  // namespace banger

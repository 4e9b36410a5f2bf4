#include "cli/output.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "model/types.h"

namespace banger {
namespace {

constexpr const char* kColumnGap = "   ";

std::string OrDash(const std::string& s) { return s.empty() ? "-" : s; }

std::string Plural(int64_t n, const char* unit) {
  return std::to_string(n) + " " + unit + (n == 1 ? "" : "s") + " ago";
}

std::string FormatTimeField(const Json& j, const std::string& pointer, Timestamp now) {
  auto t = ParseRfc3339(JsonText(j, pointer));
  return t.ok() ? FormatAge(*t, now) : "";
}

std::string MemoryText(const Json& vm) {
  int64_t mib = JsonInt(vm, "/spec/memory_mib");
  return mib > 0 ? FormatSizeBytes(mib * kMiB) : "";
}

std::string DiskText(const Json& vm, const std::string& pointer) {
  int64_t bytes = JsonInt(vm, pointer);
  return bytes > 0 ? FormatSizeBytes(bytes) : "";
}

// "10.0 MiB/s, 500 iops per disk", "unlimited".
std::string DiskLimitText(const Json& vm) {
  int64_t bw = JsonInt(vm, "/spec/disk_bw_bytes_per_sec");
  int64_t iops = JsonInt(vm, "/spec/disk_iops");
  if (bw <= 0 && iops <= 0) return "unlimited";
  std::string out;
  if (bw > 0) out = HumanBytes(bw) + "/s";
  if (iops > 0) out += (out.empty() ? "" : ", ") + std::to_string(iops) + " iops";
  return out + " per disk";
}

std::string NetLimitText(const Json& vm) {
  int64_t bw = JsonInt(vm, "/spec/net_bw_bytes_per_sec");
  return bw > 0 ? HumanBytes(bw) + "/s each way" : "unlimited";
}

std::string LabelsText(const Json& vm) {
  auto it = vm.find("labels");
  if (it == vm.end() || !it->is_object()) return "";
  std::string out;
  for (const auto& [k, v] : it->items()) {
    if (!out.empty()) out += ", ";
    out += k + "=" + (v.is_string() ? v.get<std::string>() : SafeDump(v));
  }
  return out;
}

// Published ports as "127.0.0.1:18080->8080/tcp, ..." ("" when none).
std::string PortsText(const Json& vm) {
  auto it = vm.find("ports");
  if (it == vm.end() || !it->is_array()) return "";
  std::string out;
  for (const auto& p : *it) {
    if (!p.is_string()) continue;
    std::string spec = p.get<std::string>();  // HOST_IP:HOST_PORT:GUEST_PORT/PROTO
    size_t colon = spec.rfind(':');
    if (colon != std::string::npos) spec.replace(colon, 1, "->");
    out += (out.empty() ? "" : ", ") + spec;
  }
  return out;
}

bool JsonTrue(const Json& j, const std::string& pointer) {
  Json::json_pointer p(pointer);
  return j.contains(p) && j.at(p).is_boolean() && j.at(p).get<bool>();
}

const Json& ArrayOrEmpty(const Json& j) {
  static const Json empty = Json::array();
  return j.is_array() ? j : empty;
}

}  // namespace

std::string RenderTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths(header.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i)
      widths[i] = std::max(widths[i], row[i].size());
  };
  measure(header);
  for (const auto& r : rows) measure(r);
  std::string out;
  auto emit = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t i = 0; i < widths.size(); ++i) {
      const std::string cell = i < row.size() ? row[i] : "";
      line += cell;
      if (i + 1 < widths.size()) line += std::string(widths[i] - cell.size(), ' ') + kColumnGap;
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  };
  emit(header);
  for (const auto& r : rows) emit(r);
  return out;
}

std::string RenderKeyValues(const KeyValues& kv) {
  size_t width = 0;
  for (const auto& [k, v] : kv) width = std::max(width, k.size());
  std::string out;
  for (const auto& [k, v] : kv) out += k + ":" + std::string(width - k.size() + 1, ' ') + v + "\n";
  return out;
}

std::string RenderJson(const Json& j) { return SafeDump(j, 2) + "\n"; }

std::string FormatAge(Timestamp t, Timestamp now) {
  if (t == Timestamp{}) return "";
  int64_t s = (now - t).count();
  if (s < 2) return "just now";
  if (s < 60) return Plural(s, "second");
  if (s < 3600) return Plural(s / 60, "minute");
  if (s < 48 * 3600) return Plural(s / 3600, "hour");
  return Plural(s / 86400, "day");
}

std::string ShortId(const std::string& id) { return id.substr(0, 12); }

std::string JsonText(const Json& j, const std::string& pointer) {
  Json::json_pointer p(pointer);
  if (!j.contains(p)) return "";
  const Json& v = j.at(p);
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number()) return SafeDump(v);
  return "";
}

int64_t JsonInt(const Json& j, const std::string& pointer) {
  Json::json_pointer p(pointer);
  if (!j.contains(p)) return 0;
  const Json& v = j.at(p);
  return v.is_number_integer() ? v.get<int64_t>() : 0;
}

std::map<std::string, std::string> ImageNamesById(const Json& images) {
  std::map<std::string, std::string> out;
  for (const Json& img : ArrayOrEmpty(images)) out[JsonText(img, "/id")] = JsonText(img, "/name");
  return out;
}

// "stopped (saved)" for a VM `vm stop --save` left with a saved state.
static std::string StateText(const Json& vm) {
  std::string state = JsonText(vm, "/state");
  if (JsonText(vm, "/runtime/saved_snapshot").empty()) return state;
  const Json::json_pointer idle("/runtime/idle_saved");
  bool by_idle = vm.contains(idle) && vm.at(idle).is_boolean() && vm.at(idle).get<bool>();
  return state + (by_idle ? " (suspended)" : " (saved)");
}

std::string RenderVmTable(const Json& vms, const std::map<std::string, std::string>& image_names,
                          Timestamp now) {
  std::vector<std::vector<std::string>> rows;
  for (const Json& vm : ArrayOrEmpty(vms)) {
    std::string image_id = JsonText(vm, "/image_id");
    auto name = image_names.find(image_id);
    rows.push_back({
        ShortId(JsonText(vm, "/id")),
        JsonText(vm, "/name"),
        StateText(vm),
        OrDash(name != image_names.end() ? name->second : ShortId(image_id)),
        JsonText(vm, "/spec/vcpu_count"),
        MemoryText(vm),
        OrDash(JsonText(vm, "/runtime/guest_ip")),
        JsonText(vm, "/spec/backend"),
        FormatTimeField(vm, "/created_at", now),
        OrDash(PortsText(vm)),
    });
  }
  return RenderTable({"ID", "NAME", "STATE", "IMAGE", "VCPUS", "MEMORY", "IP", "BACKEND", "CREATED", "PORTS"},
                     rows);
}

namespace {

// The VM's host folders as "HOST:GUEST:ro, ...", "" for none.
std::string MountsText(const Json& vm) {
  const Json* mounts = nullptr;
  if (vm.contains("spec") && vm["spec"].is_object() && vm["spec"].contains("mounts"))
    mounts = &vm["spec"]["mounts"];
  if (!mounts || !mounts->is_array()) return "";
  std::string out;
  for (const Json& m : *mounts) {
    if (!out.empty()) out += ", ";
    out += JsonText(m, "/host_path") + ":" + JsonText(m, "/guest_path") +
           (JsonTrue(m, "/read_only") ? ":ro" : ":rw");
  }
  return out;
}

// A duration field in milliseconds as "10m", "off" when 0 or absent.
std::string MillisText(const Json& vm, const std::string& pointer) {
  int64_t ms = JsonInt(vm, pointer);
  return ms > 0 ? FormatDuration(std::chrono::milliseconds(ms)) : "off";
}

}  // namespace

KeyValues VmDetails(const Json& vm, const std::string& image_name) {
  KeyValues kv = {
      {"name", JsonText(vm, "/name")},
      {"id", JsonText(vm, "/id")},
      {"state", StateText(vm)},
      {"image", OrDash(image_name.empty() ? JsonText(vm, "/image_id") : image_name)},
      {"backend", JsonText(vm, "/spec/backend")},
      {"vcpus", JsonText(vm, "/spec/vcpu_count")},
      {"memory", MemoryText(vm)},
      {"system overlay", DiskText(vm, "/spec/system_overlay_size_bytes")},
      {"work disk", DiskText(vm, "/spec/work_disk_size_bytes")},
      {"nat", JsonTrue(vm, "/spec/nat_enabled") ? "enabled" : "disabled"},
      {"disk limit", DiskLimitText(vm)},
      {"net limit", NetLimitText(vm)},
      {"ip", OrDash(JsonText(vm, "/runtime/guest_ip"))},
  };
  // Present only while there is something to say.
  auto optional = [&](const char* key, const std::string& value) {
    if (!value.empty()) kv.emplace_back(key, value);
  };
  optional("dns name", JsonText(vm, "/runtime/dns_name"));
  int64_t pid = JsonInt(vm, "/handles/pid");
  optional("pid", pid > 0 ? std::to_string(pid) : "");
  optional("boot id", JsonText(vm, "/runtime/boot_id"));
  optional("started", JsonText(vm, "/runtime/started_at"));
  optional("paused", JsonText(vm, "/runtime/paused_at"));
  std::string idle = MillisText(vm, "/spec/idle_suspend_ms");
  if (idle != "off" && JsonText(vm, "/spec/idle_suspend_to") == "disk") idle += ", to disk";
  kv.emplace_back("idle suspend", idle);
  std::string ttl = MillisText(vm, "/spec/ttl_ms");
  if (ttl != "off") ttl += ", then " + OrDash(JsonText(vm, "/spec/ttl_action"));
  kv.emplace_back("ttl", ttl);
  optional("expires", JsonText(vm, "/runtime/expires_at"));
  optional("mounts", MountsText(vm));
  kv.emplace_back("created", JsonText(vm, "/created_at"));
  kv.emplace_back("vm dir", JsonText(vm, "/runtime/vm_dir"));
  kv.emplace_back("log", JsonText(vm, "/runtime/log_path"));
  optional("last error", JsonText(vm, "/runtime/last_error"));
  kv.emplace_back("labels", OrDash(LabelsText(vm)));
  kv.emplace_back("ports", OrDash(PortsText(vm)));
  return kv;
}

std::string ImageSourceText(const Json& image) {
  const std::string kind = JsonText(image, "/source/kind");
  if (kind == "profile") {
    return OrDash(JsonText(image, "/source/profile")) + (JsonTrue(image, "/docker") ? "+docker" : "");
  }
  if (kind == "oci") {
    std::string ref = JsonText(image, "/source/ref");
    ref = ref.substr(0, ref.find('@'));
    const std::string digest = JsonText(image, "/source/digest");
    return digest.empty() ? ref : ref + "@" + digest.substr(0, std::min<size_t>(digest.size(), 19));
  }
  if (kind == "rootfs") return "rootfs:" + JsonText(image, "/source/ref");
  return OrDash(kind);
}

std::string RenderImageTable(const Json& images, Timestamp now) {
  std::vector<std::vector<std::string>> rows;
  for (const Json& img : ArrayOrEmpty(images)) {
    const int64_t size = JsonInt(img, "/size_bytes");
    rows.push_back({
        JsonText(img, "/name"),
        ShortId(JsonText(img, "/id")),
        ImageSourceText(img),
        size > 0 ? HumanBytes(size) : "-",
        OrDash(JsonText(img, "/kernel_flavour")),
        FormatTimeField(img, "/created_at", now),
    });
  }
  return RenderTable({"NAME", "ID", "SOURCE", "SIZE", "FLAVOUR", "CREATED"}, rows);
}

KeyValues ImageDetails(const Json& image) {
  KeyValues kv = {
      {"name", JsonText(image, "/name")},
      {"id", JsonText(image, "/id")},
      {"kernel", JsonText(image, "/kernel_path")},
  };
  if (std::string flavour = JsonText(image, "/kernel_flavour"); !flavour.empty()) {
    kv.emplace_back("kernel flavour", flavour + (JsonTrue(image, "/kernel_9p") ? " (has 9p: --mount works)"
                                                                               : " (no 9p: no --mount)"));
  }
  auto optional = [&](const char* key, const std::string& pointer) {
    std::string v = JsonText(image, pointer);
    if (!v.empty()) kv.emplace_back(key, v);
  };
  optional("initrd", "/initrd_path");
  kv.emplace_back("rootfs", JsonText(image, "/rootfs_path"));
  optional("modules", "/modules_dir");
  optional("work seed", "/work_seed_path");
  optional("artifact dir", "/artifact_dir");
  optional("build size", "/build_size");
  optional("ssh key", "/seeded_ssh_public_key_fingerprint");
  kv.emplace_back("managed", JsonTrue(image, "/managed") ? "yes (files owned by banger)"
                                                         : "no (files referenced in place)");
  kv.emplace_back("source", ImageSourceText(image));
  if (const int64_t size = JsonInt(image, "/size_bytes"); size > 0) kv.emplace_back("size", HumanBytes(size));
  if (JsonText(image, "/source/kind") == "oci") {
    kv.emplace_back("ref", JsonText(image, "/source/ref"));
    optional("digest", "/source/digest");
    const Json layers = image.value(Json::json_pointer("/source/layers"), Json::array());
    std::string text = std::to_string(layers.size());
    for (const Json& l : layers) text += (l.is_string() ? "\n  " + l.get<std::string>() : "");
    kv.emplace_back("layers", text);
    auto list = [&](const char* key, const std::string& pointer) {
      const Json v = image.value(Json::json_pointer(pointer), Json());
      if (v.is_array() && !v.empty()) kv.emplace_back(key, SafeDump(v));
    };
    list("env", "/source/config/env");
    optional("workdir", "/source/config/working_dir");
    optional("user", "/source/config/user");
    list("entrypoint", "/source/config/entrypoint");
    list("cmd", "/source/config/cmd");
    list("exposed ports", "/source/config/exposed_ports");
  }
  kv.emplace_back("created", JsonText(image, "/created_at"));
  return kv;
}

KeyValues DaemonDetails(const Json& ping, const std::string& socket) {
  KeyValues kv = {
      {"status", "running (pid " + JsonText(ping, "/pid") + ")"},
      {"version", JsonText(ping, "/version")},
      {"api", JsonText(ping, "/api")},
      {"home", JsonText(ping, "/home")},
      {"socket", socket},
      {"started", JsonText(ping, "/started_at")},
  };
  std::string backend = JsonText(ping, "/backend");
  std::string accel = JsonText(ping, "/qemu_accel");
  if (backend == "qemu" && !accel.empty()) backend += " (" + accel + ")";
  kv.emplace_back("backend", backend);
  kv.emplace_back("vms",
                  JsonText(ping, "/vms_running") + " running, " + JsonText(ping, "/vms_total") + " total");
  if (std::string web = JsonText(ping, "/web_url"); !web.empty()) kv.emplace_back("web ui", web);
  return kv;
}

std::string HumanBytes(int64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes < 0 ? 0 : bytes) + " B";
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = -1;
  while (v >= 1024 && u < 3) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

KeyValues VmStatsDetails(const Json& a, Timestamp now) {
  KeyValues kv{{"name", JsonText(a, "/name")}, {"state", JsonText(a, "/state")}};
  const Json* st = a.contains("stats") && a["stats"].is_object() ? &a["stats"] : nullptr;
  std::string collected = st ? JsonText(*st, "/collected_at") : "";
  if (collected.empty()) {
    kv.push_back(
        {"stats", a.value("state", "") == "running" ? "not collected yet" : "none (the VM is not running)"});
    return kv;
  }
  double cpu = st->contains("cpu_percent") && (*st)["cpu_percent"].is_number()
                   ? (*st)["cpu_percent"].get<double>()
                   : 0;
  char cpu_text[32];
  std::snprintf(cpu_text, sizeof cpu_text, "%.1f%%", cpu);
  kv.push_back({"cpu", cpu_text});
  kv.push_back({"memory (rss)", HumanBytes(JsonInt(*st, "/rss_bytes"))});
  kv.push_back({"virtual size", HumanBytes(JsonInt(*st, "/vsz_bytes"))});
  kv.push_back({"system overlay", HumanBytes(JsonInt(*st, "/system_overlay_bytes")) + " on the host"});
  kv.push_back({"work disk", HumanBytes(JsonInt(*st, "/work_disk_bytes")) + " on the host"});
  auto m = st->find("metrics_raw");
  if (m != st->end() && m->is_object() && !m->empty()) {
    kv.push_back({"vmm metrics", std::to_string(m->size()) + " groups (see --json)"});
  }
  auto t = ParseRfc3339(collected);
  kv.push_back({"collected", t.ok() ? FormatAge(*t, now) : collected});
  return kv;
}

std::string LastLines(const std::string& text, size_t n) {
  if (n == 0) return "";
  size_t end = text.size();
  // A final newline ends the last line; it does not start another.
  size_t pos = end > 0 && text[end - 1] == '\n' ? end - 1 : end;
  size_t lines = 0;
  while (pos > 0) {
    if (text[pos - 1] == '\n' && ++lines == n) return text.substr(pos);
    --pos;
  }
  return text;
}

Result<std::optional<int64_t>> ParseTailFlag(const std::string& raw) {
  if (raw == "all") return std::optional<int64_t>();
  if (raw.empty() || raw.size() > 9 || raw.find_first_not_of("0123456789") != std::string::npos) {
    return Error::Invalid("--tail wants a number of lines or \"all\", got \"" + raw + "\"");
  }
  return std::optional<int64_t>(std::stoll(raw));
}

namespace {

// digits, then optionally '.' and digits; returns where it stopped (`at` when none).
size_t SkipDecimal(const std::string& s, size_t at) {
  size_t i = at;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  if (i == at) return at;
  if (i < s.size() && s[i] == '.') {
    size_t frac = i + 1;
    size_t j = frac;
    while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
    if (j == frac) return at;  // "1." is not a number
    i = j;
  }
  return i;
}

// h, m, s, ms terms; each at most 9 whole digits and 32 characters in all,
// so the milliseconds never overflow.
bool IsGoDuration(const std::string& s) {
  if (s.size() > 32) return false;
  size_t i = 0;
  while (i < s.size()) {
    size_t num = SkipDecimal(s, i);
    if (num == i || std::min(s.find('.', i), num) - i > 9) return false;
    size_t unit = num;
    while (unit < s.size() && std::isalpha(static_cast<unsigned char>(s[unit]))) ++unit;
    const std::string u = s.substr(num, unit - num);
    if (u != "h" && u != "m" && u != "s" && u != "ms") return false;
    i = unit;
  }
  return !s.empty();
}

}  // namespace

Result<int64_t> ParseSinceFlag(const std::string& raw, int64_t now_ms) {
  const auto bad = [&raw] {
    return Error::Invalid(
        "--since wants a duration (10m, 1h30m, 2s), an RFC 3339 UTC time (2026-11-30T16:00:00Z) or unix "
        "seconds, got \"" +
        raw + "\"");
  };
  // Unix seconds: at most 11 digits (year 5138), then an optional fraction.
  if (!raw.empty() && SkipDecimal(raw, 0) == raw.size()) {
    const size_t dot = raw.find('.');
    const std::string whole = raw.substr(0, dot);
    if (whole.size() > 11) return bad();
    std::string frac = dot == std::string::npos ? "" : raw.substr(dot + 1);
    frac = (frac + "000").substr(0, 3);  // whole ms, the rest dropped (rounded down)
    return std::stoll(whole) * 1000 + std::stoll(frac);
  }
  if (IsGoDuration(raw)) {
    auto d = ParseDuration(raw);
    if (!d.ok()) return bad();
    return std::max<int64_t>(0, now_ms - d->count());
  }
  if (raw.size() == 20 && raw.back() == 'Z' && raw[10] == 'T') {
    auto t = ParseRfc3339(raw);
    if (t.ok() && t->time_since_epoch().count() >= 0) return int64_t{t->time_since_epoch().count()} * 1000;
  }
  return bad();
}

std::string UnixSecondsText(int64_t unix_ms) {
  std::string frac = std::to_string(unix_ms % 1000);
  return std::to_string(unix_ms / 1000) + "." + std::string(3 - frac.size(), '0') + frac;
}

}  // namespace banger

#include "image/modules.h"

#include <algorithm>

namespace banger {
namespace {

// Splits text into lines without their '\n'; a trailing empty line is dropped.
std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    out.push_back(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> Words(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    size_t start = i;
    while (i < s.size() && s[i] != ' ' && s[i] != '\t') ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

}  // namespace

const std::vector<std::string>& InitramfsModuleRoots() {
  // button + evdev turn QEMU's ACPI power button (system_powerdown) into an
  // input event that the image's acpid or systemd-logind acts on. ext4 and
  // crc32c (ext4's soft dependency, absent from modules.dep) are built into
  // the cloud kernel but modules in the generic one.
  static const std::vector<std::string> roots = {
      "virtio_mmio", "virtio_blk", "virtio_net", "virtio_console", "vmw_vsock_virtio_transport",
      "overlay",     "button",     "evdev",      "crc32c_generic", "ext4",
  };
  return roots;
}

const std::vector<std::string>& DockerModuleRoots() {
  // Debian's docker.io programs iptables through the nft back end
  // (nft_compat runs the xt_* matches), with legacy ip_tables as fallback.
  static const std::vector<std::string> roots = {
      "overlay",   "bridge",     "br_netfilter",  "veth",          "nf_conntrack",   "nf_nat",
      "nf_tables", "nft_compat", "nft_chain_nat", "xt_MASQUERADE", "xt_conntrack",   "xt_addrtype",
      "xt_tcpudp", "xt_nat",     "ip_tables",     "iptable_nat",   "iptable_filter",
  };
  return roots;
}

std::string ModuleName(std::string_view path_or_name) {
  size_t slash = path_or_name.rfind('/');
  if (slash != std::string_view::npos) path_or_name.remove_prefix(slash + 1);
  for (std::string_view suffix : {".ko.xz", ".ko.zst", ".ko.gz", ".ko"}) {
    if (path_or_name.size() > suffix.size() &&
        path_or_name.substr(path_or_name.size() - suffix.size()) == suffix) {
      path_or_name.remove_suffix(suffix.size());
      break;
    }
  }
  std::string name(path_or_name);
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

Result<ModuleIndex> ModuleIndex::Parse(std::string_view modules_dep, std::string_view modules_builtin) {
  ModuleIndex index;
  int line_no = 0;
  for (std::string_view line : Lines(modules_dep)) {
    ++line_no;
    line = Trim(line);
    if (line.empty() || line.front() == '#') continue;
    size_t colon = line.find(':');
    std::string_view path = colon == std::string_view::npos ? line : Trim(line.substr(0, colon));
    if (colon == std::string_view::npos || path.empty()) {
      return Error::Invalid("modules.dep line " + std::to_string(line_no) + ": expected \"path: deps\"");
    }
    Entry entry{std::string(path), {}};
    for (std::string_view dep : Words(line.substr(colon + 1))) entry.deps.push_back(ModuleName(dep));
    index.modules_[ModuleName(path)] = std::move(entry);
  }
  for (std::string_view line : Lines(modules_builtin)) {
    line = Trim(line);
    if (!line.empty() && line.front() != '#') index.builtin_.insert(ModuleName(line));
  }
  return index;
}

Status ModuleIndex::Visit(const std::string& name, std::set<std::string>& done,
                          std::set<std::string>& in_progress, std::vector<ModuleFile>& out) const {
  if (done.count(name)) return OkStatus();
  auto it = modules_.find(name);
  if (it == modules_.end()) {
    if (builtin_.count(name)) return OkStatus();
    return Error::NotFound("module " + name + " is neither in modules.dep nor built into the kernel");
  }
  if (!in_progress.insert(name).second) {
    return Error::Invalid("modules.dep has a dependency cycle through " + name);
  }
  // modules.dep lists the whole transitive closure, but in no promised
  // order; recursing puts every module after its own dependencies anyway.
  for (const std::string& dep : it->second.deps) {
    BANGER_RETURN_IF_ERROR(Annotate(Visit(dep, done, in_progress, out), "needed by " + name));
  }
  in_progress.erase(name);
  done.insert(name);
  out.push_back({name, it->second.path});
  return OkStatus();
}

Result<std::vector<ModuleFile>> ModuleIndex::Resolve(const std::vector<std::string>& roots) const {
  std::vector<ModuleFile> out;
  std::set<std::string> done, in_progress;
  for (const std::string& root : roots) {
    BANGER_RETURN_IF_ERROR(Visit(ModuleName(root), done, in_progress, out));
  }
  return out;
}

}  // namespace banger

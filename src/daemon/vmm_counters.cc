#include "daemon/vmm_counters.h"

namespace banger {
namespace {

// A VM has a few drives; a VMM answer naming more is not believed past this.
constexpr size_t kMaxDrives = 32;
// Drive ids are banger's own ("rootfs", "work", "mount0"...); anything longer is not.
constexpr size_t kMaxDriveIdLength = 64;

// The value at `key` when it is a non-negative number, else nullopt.
std::optional<double> Count(const Json& obj, const char* key) {
  if (!obj.is_object()) return std::nullopt;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number()) return std::nullopt;
  double v = it->get<double>();
  if (!(v >= 0)) return std::nullopt;  // negative or NaN
  return v;
}

bool Acceptable(const VmmBlockTotals& totals, const std::string& drive) {
  if (drive.empty() || drive.size() > kMaxDriveIdLength) return false;
  return totals.count(drive) > 0 || totals.size() < kMaxDrives;
}

// QEMU: {"blockstats": [{"device": "rootfs", "stats": {"rd_bytes": ..}}, ..]}, cumulative.
void AddQemu(const Json& raw, VmmBlockTotals& totals) {
  if (!raw.is_object()) return;
  auto list = raw.find("blockstats");
  if (list == raw.end() || !list->is_array()) return;
  for (const auto& dev : *list) {
    if (!dev.is_object()) continue;
    auto name = dev.find("device");
    auto stats = dev.find("stats");
    if (name == dev.end() || !name->is_string() || stats == dev.end()) continue;
    std::string drive = name->get<std::string>();
    if (!Acceptable(totals, drive)) continue;
    BlockCounters& c = totals[drive];
    if (auto v = Count(*stats, "rd_bytes")) c.read_bytes = *v;
    if (auto v = Count(*stats, "wr_bytes")) c.write_bytes = *v;
    if (auto v = Count(*stats, "rd_operations")) c.read_ops = *v;
    if (auto v = Count(*stats, "wr_operations")) c.write_ops = *v;
  }
}

// Firecracker: {"block_rootfs": {"read_bytes": .., "read_count": ..}, ..},
// deltas since the previous flush (per-drive keys since FC 1.6; before,
// only the sum over drives, "block", counted as drive "all").
void AddFirecracker(const Json& raw, VmmBlockTotals& totals) {
  if (!raw.is_object()) return;
  const std::string prefix = "block_";
  bool per_drive = false;
  auto add = [&totals](const std::string& drive, const Json& m) {
    if (!Acceptable(totals, drive)) return;
    BlockCounters& c = totals[drive];
    if (auto v = Count(m, "read_bytes")) c.read_bytes += *v;
    if (auto v = Count(m, "write_bytes")) c.write_bytes += *v;
    if (auto v = Count(m, "read_count")) c.read_ops += *v;
    if (auto v = Count(m, "write_count")) c.write_ops += *v;
  };
  for (const auto& [key, value] : raw.items()) {
    if (key.size() > prefix.size() && key.compare(0, prefix.size(), prefix) == 0 && value.is_object()) {
      per_drive = true;
      add(key.substr(prefix.size()), value);
    }
  }
  if (!per_drive) {
    if (auto all = raw.find("block"); all != raw.end() && all->is_object()) add("all", *all);
  }
}

}  // namespace

void AddVmmMetrics(BackendKind backend, const Json& raw, VmmBlockTotals& totals) {
  if (backend == BackendKind::kQemu) {
    AddQemu(raw, totals);
  } else {
    AddFirecracker(raw, totals);
  }
}

}  // namespace banger

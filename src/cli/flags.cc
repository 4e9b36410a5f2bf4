#include "cli/flags.h"

#include "base/fs.h"
#include "http/http.h"

namespace banger {
namespace {

Status PutSize(Json& body, const char* field, const std::optional<std::string>& raw) {
  if (!raw) return OkStatus();
  BANGER_ASSIGN_OR_RETURN(int64_t bytes, ParseSize(*raw));
  body[field] = bytes;
  return OkStatus();
}

Status PutCount(Json& body, const char* field, const std::string& flag, const std::optional<int>& v) {
  if (!v) return OkStatus();
  BANGER_RETURN_IF_ERROR(CheckPositive(flag, *v));
  body[field] = *v;
  return OkStatus();
}

// Optional paths stay "" (the API's "none"); given ones become absolute.
std::string AbsoluteOrEmpty(const std::string& path) { return path.empty() ? "" : AbsolutePath(path); }

}  // namespace

Status CheckPositive(const std::string& flag, int value) {
  if (value <= 0) return Error::Invalid(flag + " must be a positive integer, got " + std::to_string(value));
  return OkStatus();
}

Result<Labels> ParseLabelFlags(const std::vector<std::string>& raw) {
  Labels out;
  for (const auto& kv : raw) {
    BANGER_ASSIGN_OR_RETURN(auto label, ParseLabel(kv));
    out[label.first] = label.second;
  }
  return out;
}

std::string LabelQuery(const Labels& labels) {
  if (labels.empty()) return "";
  std::string joined;
  for (const auto& [k, v] : labels) joined += (joined.empty() ? "" : ",") + k + "=" + v;
  return "?label=" + UrlEncode(joined);
}

Result<Json> BuildCreateRequest(const CreateFlags& f) {
  Json body = Json::object();
  if (!f.name.empty()) {
    BANGER_RETURN_IF_ERROR(ValidateVMName(f.name));
    body["name"] = f.name;
  }
  if (!f.image.empty()) body["image"] = f.image;
  BANGER_RETURN_IF_ERROR(PutCount(body, "vcpu_count", "--vcpus", f.vcpus));
  BANGER_RETURN_IF_ERROR(PutCount(body, "memory_mib", "--memory", f.memory_mib));
  BANGER_RETURN_IF_ERROR(PutSize(body, "system_overlay_size_bytes", f.system_overlay_size));
  BANGER_RETURN_IF_ERROR(PutSize(body, "work_disk_size_bytes", f.work_disk_size));
  // Without --nat the daemon's vm_defaults decide.
  if (f.nat) body["nat_enabled"] = true;
  if (f.no_start) body["no_start"] = true;
  if (!f.backend.empty()) {
    BANGER_RETURN_IF_ERROR(ParseBackend(f.backend));
    body["backend"] = f.backend;
  }
  BANGER_ASSIGN_OR_RETURN(Labels labels, ParseLabelFlags(f.labels));
  if (!labels.empty()) body["labels"] = labels;
  if (!f.request_id.empty()) body["request_id"] = f.request_id;
  return body;
}

Result<Json> BuildSetRequest(const SetFlags& f) {
  Json body = Json::object();
  BANGER_RETURN_IF_ERROR(PutCount(body, "vcpu_count", "--vcpus", f.vcpus));
  BANGER_RETURN_IF_ERROR(PutCount(body, "memory_mib", "--memory", f.memory_mib));
  BANGER_RETURN_IF_ERROR(PutSize(body, "work_disk_size_bytes", f.work_disk_size));
  if (f.nat && f.no_nat) return Error::Invalid("--nat and --no-nat contradict each other");
  if (f.nat) body["nat_enabled"] = true;
  if (f.no_nat) body["nat_enabled"] = false;
  if (body.empty()) {
    return Error::Invalid("nothing to change: give --vcpus, --memory, --work-disk-size, --nat or --no-nat");
  }
  return body;
}

Result<Json> BuildImportRequest(const ImportFlags& f) {
  BANGER_RETURN_IF_ERROR(ValidateImageName(f.name));
  if (f.kernel.empty()) return Error::Invalid("--kernel is required");
  if (f.rootfs.empty()) return Error::Invalid("--rootfs is required");
  return Json{
      {"name", f.name},
      {"kernel_path", AbsolutePath(f.kernel)},
      {"rootfs_path", AbsolutePath(f.rootfs)},
      {"initrd_path", AbsoluteOrEmpty(f.initrd)},
      {"modules_dir", AbsoluteOrEmpty(f.modules)},
      {"work_seed_path", AbsoluteOrEmpty(f.work_seed)},
  };
}

Result<Json> BuildStopRequest(std::optional<int> timeout_seconds) {
  Json body = Json::object();
  if (!timeout_seconds) return body;
  if (*timeout_seconds < 0) {
    return Error::Invalid("--timeout must be zero or more seconds, got " + std::to_string(*timeout_seconds));
  }
  body["timeout_ms"] = static_cast<int64_t>(*timeout_seconds) * 1000;
  return body;
}

}  // namespace banger

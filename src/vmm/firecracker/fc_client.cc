#include "vmm/firecracker/fc_client.h"

#include <algorithm>

#include "http/http.h"
#include "vmm/rate_limits.h"

namespace banger {
namespace {

// FC answers errors with {"fault_message": "..."}; anything else is quoted raw.
std::string FaultMessage(const std::string& body) {
  auto parsed = ParseJson(body);
  if (parsed.ok() && parsed->is_object()) {
    auto it = parsed->find("fault_message");
    if (it != parsed->end() && it->is_string()) return it->get<std::string>();
  }
  return body.empty() ? "(empty body)" : body;
}

}  // namespace

Result<std::string> FcClient::Call(const std::string& method, const std::string& path, const Json* body) {
  std::chrono::milliseconds timeout = call_timeout_;
  if (deadline_) {
    timeout = std::min(timeout, deadline_->Remaining());
    if (timeout.count() == 0) return Error::Timeout(method + " " + path + ": launch deadline passed");
  }
  HttpRequest req;
  req.method = method;
  req.target = path;
  if (body) req.body = SafeDump(*body);
  auto res = UnixHttpCall(socket_path_, req, timeout);
  if (!res.ok()) return std::move(res).error().Wrap(method + " " + path);
  if (res->status < 200 || res->status > 299) {
    std::string msg =
        method + " " + path + ": HTTP " + std::to_string(res->status) + ": " + FaultMessage(res->body);
    // A 4xx means FC rejected what we asked for; anything else is FC failing.
    return res->status >= 400 && res->status < 500 ? Error::Invalid(msg) : Error::Internal(msg);
  }
  return std::move(res->body);
}

Status FcClient::Send(const std::string& method, const std::string& path, const Json& body) {
  auto res = Call(method, path, &body);
  if (!res.ok()) return std::move(res).error();
  return OkStatus();
}

Result<FcInstanceInfo> FcClient::DescribeInstance() {
  BANGER_ASSIGN_OR_RETURN(std::string body, Call("GET", "/", nullptr));
  auto parsed = ParseJson(body);
  if (!parsed.ok()) return std::move(parsed).error().Wrap("GET /");
  const Json& j = *parsed;
  if (!j.is_object() || !j.contains("state") || !j["state"].is_string()) {
    return Error::Internal("GET /: no \"state\" in " + body);
  }
  FcInstanceInfo info;
  info.state = j["state"].get<std::string>();
  if (j.contains("id") && j["id"].is_string()) info.id = j["id"].get<std::string>();
  if (j.contains("vmm_version") && j["vmm_version"].is_string()) {
    info.vmm_version = j["vmm_version"].get<std::string>();
  }
  return info;
}

Status FcClient::PutLogger(const std::string& log_path, const std::string& level) {
  return Send("PUT", "/logger", {{"log_path", log_path}, {"level", level}});
}

Status FcClient::PutMetrics(const std::string& metrics_path) {
  return Send("PUT", "/metrics", {{"metrics_path", metrics_path}});
}

Status FcClient::PutMachineConfig(int vcpu_count, int mem_size_mib) {
  return Send("PUT", "/machine-config",
              {{"vcpu_count", vcpu_count}, {"mem_size_mib", mem_size_mib}, {"smt", false}});
}

Status FcClient::PutBootSource(const std::string& kernel_image_path, const std::string& initrd_path,
                               const std::string& boot_args) {
  Json body = {{"kernel_image_path", kernel_image_path}, {"boot_args", boot_args}};
  if (!initrd_path.empty()) body["initrd_path"] = initrd_path;
  return Send("PUT", "/boot-source", body);
}

Status FcClient::PutDrive(const DriveSpec& drive, const RateLimits& limits) {
  Json body = {{"drive_id", drive.id},
               {"path_on_host", drive.path},
               {"is_root_device", false},
               {"is_read_only", drive.read_only}};
  if (limits.disk_bytes_per_sec > 0 || limits.disk_iops > 0) {
    body["rate_limiter"] = FcRateLimiter(limits.disk_bytes_per_sec, limits.disk_iops);
  }
  return Send("PUT", "/drives/" + UrlEncode(drive.id), body);
}

Status FcClient::PutNetworkInterface(const std::string& iface_id, const std::string& host_dev_name,
                                     const std::string& guest_mac, const RateLimits& limits) {
  Json body = {{"iface_id", iface_id}, {"host_dev_name", host_dev_name}, {"guest_mac", guest_mac}};
  if (limits.net_bytes_per_sec > 0) {
    body["rx_rate_limiter"] = FcRateLimiter(limits.net_bytes_per_sec, 0);
    body["tx_rate_limiter"] = FcRateLimiter(limits.net_bytes_per_sec, 0);
  }
  return Send("PUT", "/network-interfaces/" + UrlEncode(iface_id), body);
}

Status FcClient::PatchDriveRateLimiter(const std::string& drive_id, const RateLimits& limits) {
  return Send(
      "PATCH", "/drives/" + UrlEncode(drive_id),
      {{"drive_id", drive_id}, {"rate_limiter", FcRateLimiter(limits.disk_bytes_per_sec, limits.disk_iops)}});
}

Status FcClient::PatchNetworkRateLimiters(const std::string& iface_id, const RateLimits& limits) {
  return Send("PATCH", "/network-interfaces/" + UrlEncode(iface_id),
              {{"iface_id", iface_id},
               {"rx_rate_limiter", FcRateLimiter(limits.net_bytes_per_sec, 0)},
               {"tx_rate_limiter", FcRateLimiter(limits.net_bytes_per_sec, 0)}});
}

Status FcClient::PutVsock(uint32_t guest_cid, const std::string& uds_path) {
  return Send("PUT", "/vsock", {{"guest_cid", guest_cid}, {"uds_path", uds_path}});
}

Status FcClient::InstanceStart() { return Send("PUT", "/actions", {{"action_type", "InstanceStart"}}); }

Status FcClient::SendCtrlAltDel() { return Send("PUT", "/actions", {{"action_type", "SendCtrlAltDel"}}); }

Result<Json> NewestMetricsLine(const std::string& tail) {
  size_t end = tail.rfind('\n');
  while (end != std::string::npos) {
    // NULs separate too: the hole left in the file where it was emptied.
    size_t begin = end == 0 ? std::string::npos : tail.find_last_of(std::string("\n\0", 2), end - 1);
    size_t from = begin == std::string::npos ? 0 : begin + 1;
    std::string line = tail.substr(from, end - from);
    if (!line.empty()) {
      Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (!j.is_discarded() && j.is_object()) return j;
      // The first line of a tail may be cut: only then is garbage tolerated.
      if (from != 0) return Error::Internal("firecracker metrics: the newest line is not a JSON object");
    }
    if (begin == std::string::npos) break;
    end = begin;
  }
  return Error::Unavailable("firecracker has written no metrics yet");
}

Status FcClient::FlushMetrics() { return Send("PUT", "/actions", {{"action_type", "FlushMetrics"}}); }

Status FcClient::PauseVm() { return Send("PATCH", "/vm", {{"state", "Paused"}}); }

Status FcClient::ResumeVm() { return Send("PATCH", "/vm", {{"state", "Resumed"}}); }

Status FcClient::CreateSnapshot(const std::string& snapshot_path, const std::string& mem_file_path) {
  return Send(
      "PUT", "/snapshot/create",
      {{"snapshot_type", "Full"}, {"snapshot_path", snapshot_path}, {"mem_file_path", mem_file_path}});
}

Status FcClient::LoadSnapshot(const std::string& snapshot_path, const std::string& mem_file_path,
                              bool resume_vm, const std::string& iface_id, const std::string& tap_device) {
  Json body = {{"snapshot_path", snapshot_path},
               {"mem_backend", {{"backend_type", "File"}, {"backend_path", mem_file_path}}},
               {"resume_vm", resume_vm}};
  if (!tap_device.empty()) {
    body["network_overrides"] = Json::array({{{"iface_id", iface_id}, {"host_dev_name", tap_device}}});
  }
  return Send("PUT", "/snapshot/load", body);
}

Result<Json> FcClient::GetVmConfig() {
  BANGER_ASSIGN_OR_RETURN(std::string body, Call("GET", "/vm/config", nullptr));
  auto parsed = ParseJson(body);
  if (!parsed.ok()) return std::move(parsed).error().Wrap("GET /vm/config");
  if (!parsed->is_object()) return Error::Internal("GET /vm/config: not an object: " + body);
  return std::move(*parsed);
}

}  // namespace banger

#include "net/net_ops.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/fs.h"
#include "base/process.h"
#include "base/scope_guard.h"
#include "base/strings.h"
#include "base/unique_fd.h"

namespace banger {

const char* const kNetAdminHint =
    "bangerd needs CAP_NET_ADMIN for host networking: run it as root or grant the capability "
    "(setcap cap_net_admin+ep, or AmbientCapabilities=CAP_NET_ADMIN in its systemd unit)";

namespace {

using nlohmann::json;
constexpr auto kToolTimeout = std::chrono::seconds(30);
constexpr const char* kIpForwardPath = "/proc/sys/net/ipv4/ip_forward";

bool PermissionDenied(const std::string& err) {
  return err.find("Operation not permitted") != std::string::npos ||
         err.find("Permission denied") != std::string::npos;
}

// Runs a networking tool; a non-zero exit is an error quoting its stderr,
// with the CAP_NET_ADMIN hint when the kernel said no.
Result<CommandResult> RunTool(const std::vector<std::string>& argv, const std::string& package) {
  auto r = RunCommand(argv, kToolTimeout);
  if (!r.ok()) {
    if (r.error().kind() == ErrorKind::kUnavailable) {
      return Error::Unavailable(r.error().message() + " (install the Debian package " + package + ")");
    }
    return r.error();
  }
  if (r->exit_code != 0) {
    std::string cmd;
    for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
    std::string why = LastLine(r->err.empty() ? r->out : r->err);
    if (PermissionDenied(r->err)) {
      return Error::Unavailable(cmd + ": " + why + "; " + kNetAdminHint);
    }
    return Error::Internal(cmd + ": " + (why.empty() ? "exit status " + std::to_string(r->exit_code) : why));
  }
  return r;
}

Status RunIp(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"ip"};
  argv.insert(argv.end(), args.begin(), args.end());
  return ToStatus(RunTool(argv, "iproute2"));
}

namespace impl {

class RealNetOps final : public NetOps {
 public:
  Result<std::optional<LinkInfo>> GetLink(const std::string& name) override {
    BANGER_RETURN_IF_ERROR(ValidateIfName(name));
    auto r = RunCommand({"ip", "-j", "-d", "addr", "show", "dev", name}, kToolTimeout);
    if (!r.ok()) return ToolMissing(r.error());
    if (r->exit_code != 0) {
      if (r->err.find("does not exist") != std::string::npos) return std::optional<LinkInfo>();
      return Error::Internal("ip addr show dev " + name + ": " + LastLine(r->err));
    }
    BANGER_ASSIGN_OR_RETURN(auto links, ParseIpLinkJson(r->out));
    if (links.empty()) return std::optional<LinkInfo>();
    return std::optional<LinkInfo>(links.front());
  }

  Result<std::vector<LinkInfo>> ListLinks(const std::string& prefix) override {
    BANGER_ASSIGN_OR_RETURN(auto r, RunTool({"ip", "-j", "-d", "addr", "show"}, "iproute2"));
    BANGER_ASSIGN_OR_RETURN(auto links, ParseIpLinkJson(r.out));
    std::vector<LinkInfo> out;
    for (auto& l : links) {
      if (l.name.compare(0, prefix.size(), prefix) == 0) out.push_back(std::move(l));
    }
    return out;
  }

  Status CreateBridge(const std::string& name) override {
    BANGER_RETURN_IF_ERROR(ValidateIfName(name));
    return RunIp({"link", "add", "name", name, "type", "bridge"});
  }

  Status AddAddress(const std::string& dev, const std::string& addr) override {
    return RunIp({"addr", "add", addr, "dev", dev});
  }

  Status SetUp(const std::string& dev) override { return RunIp({"link", "set", "dev", dev, "up"}); }

  Status CreateTap(const std::string& name, const std::string& owner) override {
    BANGER_RETURN_IF_ERROR(ValidateIfName(name));
    if (owner.empty()) return RunIp({"tuntap", "add", "dev", name, "mode", "tap"});
    BANGER_RETURN_IF_ERROR(ValidateTapOwner(owner));
    return RunIp({"tuntap", "add", "dev", name, "mode", "tap", "user", owner});
  }

  Status SetMaster(const std::string& dev, const std::string& master) override {
    return RunIp({"link", "set", "dev", dev, "master", master});
  }

  Status SetMac(const std::string& dev, const std::string& mac) override {
    BANGER_RETURN_IF_ERROR(ValidateIfName(dev));
    BANGER_RETURN_IF_ERROR(ValidateMac(mac));
    return RunIp({"link", "set", "dev", dev, "address", mac});
  }

  Status DeleteLink(const std::string& name) override {
    BANGER_RETURN_IF_ERROR(ValidateIfName(name));
    auto r = RunCommand({"ip", "link", "del", "dev", name}, kToolTimeout);
    if (!r.ok()) return ToolMissing(r.error());
    if (r->exit_code == 0) return OkStatus();
    if (r->err.find("Cannot find device") != std::string::npos ||
        r->err.find("does not exist") != std::string::npos) {
      return OkStatus();
    }
    if (PermissionDenied(r->err)) {
      return Error::Unavailable("ip link del " + name + ": " + LastLine(r->err) + "; " + kNetAdminHint);
    }
    return Error::Internal("ip link del " + name + ": " + LastLine(r->err));
  }

  Result<std::vector<RouteInfo>> ListRoutes() override {
    BANGER_ASSIGN_OR_RETURN(auto r,
                            RunTool({"ip", "-j", "-4", "route", "show", "table", "main"}, "iproute2"));
    return ParseIpRouteJson(r.out);
  }

  Result<bool> IpForwardEnabled() override {
    BANGER_ASSIGN_OR_RETURN(std::string v, ReadFile(kIpForwardPath));
    return !v.empty() && v[0] == '1';
  }

  Status SetIpForward(bool on) override {
    // A sysctl file: plain open+write (no rename), as sysctl(8) does.
    UniqueFd fd(::open(kIpForwardPath, O_WRONLY | O_CLOEXEC));
    if (!fd.valid()) {
      int err = errno;
      Error e = Error::FromErrno(std::string("opening ") + kIpForwardPath, err);
      if (err == EACCES || err == EPERM || err == EROFS) {
        return Error::Unavailable(e.message() + "; " + kNetAdminHint);
      }
      return e;
    }
    const char* v = on ? "1\n" : "0\n";
    if (::write(fd.get(), v, 2) != 2) return Error::FromErrno(std::string("writing ") + kIpForwardPath);
    return OkStatus();
  }

  Status NftApply(const std::string& script) override {
    // nft reads the ruleset from a file (no shell, no stdin plumbing).
    char path[] = "/tmp/banger-nft-XXXXXX";
    UniqueFd fd(::mkostemp(path, O_CLOEXEC));
    if (!fd.valid()) return Error::FromErrno("creating a temp file for nft");
    ScopeGuard rm([&] { ::unlink(path); });
    size_t off = 0;
    while (off < script.size()) {
      ssize_t n = ::write(fd.get(), script.data() + off, script.size() - off);
      if (n < 0) {
        if (errno == EINTR) continue;
        return Error::FromErrno(std::string("writing ") + path);
      }
      off += static_cast<size_t>(n);
    }
    fd.Reset();
    return ToStatus(RunTool({"nft", "-f", path}, "nftables"));
  }

  Result<std::optional<std::string>> NftListTable(const std::string& family,
                                                  const std::string& table) override {
    auto r = RunCommand({"nft", "-j", "list", "table", family, table}, kToolTimeout);
    if (!r.ok()) {
      if (r.error().kind() == ErrorKind::kUnavailable) {
        return Error::Unavailable(r.error().message() + " (install the Debian package nftables)");
      }
      return r.error();
    }
    if (r->exit_code == 0) return std::optional<std::string>(r->out);
    if (r->err.find("No such file or directory") != std::string::npos) return std::optional<std::string>();
    if (PermissionDenied(r->err)) {
      return Error::Unavailable("nft list table " + family + " " + table + ": " + LastLine(r->err) + "; " +
                                kNetAdminHint);
    }
    return Error::Internal("nft list table " + family + " " + table + ": " + LastLine(r->err));
  }

 private:
  static Error ToolMissing(const Error& e) {
    if (e.kind() == ErrorKind::kUnavailable) {
      return Error::Unavailable(e.message() + " (install the Debian package iproute2)");
    }
    return e;
  }
};

}  // namespace impl
}  // namespace

NetOps& RealNetOps() {
  static impl::RealNetOps ops;
  return ops;
}

bool HaveNetAdmin() {
  // ReadFile opens O_CLOEXEC (an ifstream does not).
  auto text = ReadFile("/proc/self/status");
  std::istringstream in(text.ok() ? *text : std::string());
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("CapEff:", 0) == 0) {
      uint64_t caps = std::stoull(line.substr(7), nullptr, 16);
      return (caps >> 12) & 1;  // CAP_NET_ADMIN
    }
  }
  return false;
}

namespace {

// The entries of the JSON array `ip -j` prints that carry a string `key`,
// each made into a T by `make` (`what` names the command in errors).
template <typename T, typename Make>
Result<std::vector<T>> ParseEntries(const std::string& text, const std::string& what, const char* key,
                                    Make make) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_array()) return Error::Internal(what + ": output is not a JSON array");
  std::vector<T> out;
  for (const auto& e : j) {
    if (e.is_object() && e.contains(key) && e[key].is_string()) out.push_back(make(e));
  }
  return out;
}

}  // namespace

Result<std::vector<LinkInfo>> ParseIpLinkJson(const std::string& text) {
  return ParseEntries<LinkInfo>(text, "ip -j", "ifname", [](const json& e) {
    LinkInfo l;
    l.name = e["ifname"].get<std::string>();
    if (e.contains("master") && e["master"].is_string()) l.master = e["master"].get<std::string>();
    if (e.contains("address") && e["address"].is_string()) l.mac = e["address"].get<std::string>();
    if (e.contains("flags") && e["flags"].is_array()) {
      for (const auto& f : e["flags"]) {
        if (f.is_string() && f.get<std::string>() == "UP") l.up = true;
      }
    }
    if (e.contains("linkinfo") && e["linkinfo"].is_object()) {
      const auto& li = e["linkinfo"];
      if (li.contains("info_kind") && li["info_kind"].is_string())
        l.kind = li["info_kind"].get<std::string>();
      if (l.kind == "tun" && li.contains("info_data") && li["info_data"].is_object() &&
          li["info_data"].value("type", "") == "tap") {
        l.kind = "tap";
        const auto& d = li["info_data"];
        if (d.contains("user") && d["user"].is_string()) l.tap_user = d["user"].get<std::string>();
        if (d.contains("user") && d["user"].is_number_integer())
          l.tap_user = std::to_string(d["user"].get<int64_t>());
      }
    }
    if (e.contains("addr_info") && e["addr_info"].is_array()) {
      for (const auto& a : e["addr_info"]) {
        if (a.is_object() && a.value("family", "") == "inet" && a.contains("local") &&
            a.contains("prefixlen")) {
          l.ipv4.push_back(a["local"].get<std::string>() + "/" + std::to_string(a["prefixlen"].get<int>()));
        }
      }
    }
    return l;
  });
}

Result<std::vector<RouteInfo>> ParseIpRouteJson(const std::string& text) {
  return ParseEntries<RouteInfo>(text, "ip -j route", "dst", [](const json& e) {
    RouteInfo r;
    r.dst = e["dst"].get<std::string>();
    r.dev = e.value("dev", "");
    r.gateway = e.value("gateway", "");
    r.type = e.value("type", "");
    return r;
  });
}

Status ValidateMac(const std::string& mac) {
  auto bad = [&] { return Error::Invalid("\"" + mac + "\" is not a MAC address (xx:xx:xx:xx:xx:xx)"); };
  if (mac.size() != 17) return bad();
  for (size_t i = 0; i < mac.size(); ++i) {
    char c = mac[i];
    bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    if (i % 3 == 2 ? c != ':' : !hex) return bad();
  }
  int first = std::stoi(mac.substr(0, 2), nullptr, 16);
  if (first & 1) return Error::Invalid("\"" + mac + "\" is a multicast address, not a unicast one");
  return OkStatus();
}

Status ValidateTapOwner(const std::string& owner) {
  bool ok = !owner.empty() && owner.size() <= 32;
  bool digits = ok && owner.find_first_not_of("0123456789") == std::string::npos;
  if (ok && !digits) {
    ok = (owner[0] >= 'a' && owner[0] <= 'z') || owner[0] == '_';
    for (char c : owner)
      ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-');
  }
  if (!ok) return Error::Invalid("tap owner \"" + owner + "\" must be a uid or a user name");
  return OkStatus();
}

Status ValidateIfName(const std::string& name) {
  if (name.empty() || name.size() > 15) {
    return Error::Invalid("interface name \"" + name + "\" must be 1 to 15 characters");
  }
  if (name == "." || name == "..") return Error::Invalid("interface name \"" + name + "\" is reserved");
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_' || c == '.';
    if (!ok) {
      return Error::Invalid("interface name \"" + name +
                            "\" may hold only letters, digits, '-', '_' and '.'");
    }
  }
  return OkStatus();
}

}  // namespace banger

#include "net/testing/fake_net_ops.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "net/address.h"

namespace banger::testing {

namespace {

std::vector<std::string> Words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> w;
  std::string s;
  while (in >> s) w.push_back(s);
  return w;
}

// The text after the first `n` words of `line`.
std::string RestAfter(const std::string& line, int n) {
  size_t pos = 0;
  for (int i = 0; i < n; ++i) {
    pos = line.find_first_not_of(' ', pos);
    pos = line.find(' ', pos);
    if (pos == std::string::npos) return "";
  }
  auto start = line.find_first_not_of(' ', pos);
  return start == std::string::npos ? "" : line.substr(start);
}

std::string CommentOf(const std::string& rule) {
  auto pos = rule.find("comment \"");
  if (pos == std::string::npos) return "";
  pos += 9;
  auto end = rule.find('"', pos);
  return end == std::string::npos ? "" : rule.substr(pos, end - pos);
}

}  // namespace

std::optional<Error> FakeNetOps::Enter(const std::string& op, const std::string& arg) {
  calls_.push_back(arg.empty() ? op : op + " " + arg);
  auto it = fail_next_.find(op);
  if (it == fail_next_.end()) return std::nullopt;
  Error e = it->second;
  fail_next_.erase(it);
  return e;
}

void FakeNetOps::AddLink(LinkInfo l) {
  std::lock_guard<std::mutex> lk(mu_);
  links_[l.name] = std::move(l);
}

void FakeNetOps::AddRoute(RouteInfo r) {
  std::lock_guard<std::mutex> lk(mu_);
  routes_.push_back(std::move(r));
}

void FakeNetOps::FailNext(const std::string& op, Error e) {
  std::lock_guard<std::mutex> lk(mu_);
  fail_next_[op] = std::move(e);
}

std::optional<LinkInfo> FakeNetOps::Link(const std::string& name) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = links_.find(name);
  if (it == links_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> FakeNetOps::LinkNames() {
  std::lock_guard<std::mutex> lk(mu_);
  std::vector<std::string> out;
  for (const auto& [n, l] : links_) out.push_back(n);
  return out;
}

std::vector<std::string> FakeNetOps::Calls() {
  std::lock_guard<std::mutex> lk(mu_);
  return calls_;
}

void FakeNetOps::ClearCalls() {
  std::lock_guard<std::mutex> lk(mu_);
  calls_.clear();
}

bool FakeNetOps::ip_forward() {
  std::lock_guard<std::mutex> lk(mu_);
  return ip_forward_;
}

std::optional<FakeNetOps::NftTable> FakeNetOps::Table(const std::string& family, const std::string& name) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = tables_.find(family + " " + name);
  if (it == tables_.end()) return std::nullopt;
  return it->second;
}

Result<std::optional<LinkInfo>> FakeNetOps::GetLink(const std::string& name) {
  std::lock_guard<std::mutex> lk(mu_);
  if (auto e = Enter("GetLink", name)) return *e;
  auto it = links_.find(name);
  if (it == links_.end()) return std::optional<LinkInfo>();
  return std::optional<LinkInfo>(it->second);
}

Result<std::vector<LinkInfo>> FakeNetOps::ListLinks(const std::string& prefix) {
  std::lock_guard<std::mutex> lk(mu_);
  if (auto e = Enter("ListLinks", prefix)) return *e;
  std::vector<LinkInfo> out;
  for (const auto& [n, l] : links_) {
    if (n.compare(0, prefix.size(), prefix) == 0) out.push_back(l);
  }
  return out;
}

Status FakeNetOps::CreateLinkLocked(const std::string& name, const std::string& kind) {
  BANGER_RETURN_IF_ERROR(ValidateIfName(name));
  if (links_.count(name)) return Error::Internal("RTNETLINK answers: File exists");
  LinkInfo l;
  l.name = name;
  l.kind = kind;
  char mac[18];
  int n = next_mac_--;
  std::snprintf(mac, sizeof mac, "02:00:00:00:%02x:%02x", (n >> 8) & 0xff, n & 0xff);
  l.mac = mac;
  links_[name] = l;
  return OkStatus();
}

Status FakeNetOps::CreateBridge(const std::string& name) {
  std::lock_guard<std::mutex> lk(mu_);
  if (auto e = Enter("CreateBridge", name)) return *e;
  return CreateLinkLocked(name, "bridge");
}

Result<LinkInfo*> FakeNetOps::LinkLocked(const std::string& dev) {
  auto it = links_.find(dev);
  if (it == links_.end()) return Error::Internal("Cannot find device \"" + dev + "\"");
  return &it->second;
}

Status FakeNetOps::AddAddress(const std::string& dev, const std::string& addr) {
  std::lock_guard<std::mutex> lk(mu_);
  if (auto e = Enter("AddAddress", dev + " " + addr)) return *e;
  BANGER_ASSIGN_OR_RETURN(LinkInfo * link, LinkLocked(dev));
  auto& v = link->ipv4;
  if (std::find(v.begin(), v.end(), addr) != v.end())
    return Error::Internal("RTNETLINK answers: File exists");
  v.push_back(addr);
  // The kernel adds the subnet's route for the new address.
  BANGER_ASSIGN_OR_RETURN(Subnet s, ParseSubnet(addr));
  routes_.push_back(RouteInfo{s.ToString(), dev, "", ""});
  return OkStatus();
}

Status FakeNetOps::SetUp(const std::string& dev) {
  std::lock_guard<std::mutex> lk(mu_);
  if (auto e = Enter("SetUp", dev)) return *e;
  BANGER_ASSIGN_OR_RETURN(LinkInfo * link, LinkLocked(dev));
  link->up = true;
  return OkStatus();
}

Status FakeNetOps::CreateTap(const std::string& name, const std::string& owner) {
  std::lock_guard<std::mutex> lk(mu_);
  if (auto e = Enter("CreateTap", owner.empty() ? name : name + " user " + owner)) return *e;
  BANGER_RETURN_IF_ERROR(CreateLinkLocked(name, "tap"));
  links_[name].tap_user = owner;
  return OkStatus();
}

Status FakeNetOps::SetMaster(const std::string& dev, const std::string& master) {
  std::lock_guard<std::mutex> lk(mu_);
  if (auto e = Enter("SetMaster", dev + " " + master)) return *e;
  auto it = links_.find(dev);
  if (it == links_.end() || links_.count(master) == 0) return Error::Internal("Cannot find device");
  std::string old = it->second.master;
  it->second.master = master;
  RecalcBridgeMacLocked(master);
  if (!old.empty() && old != master) RecalcBridgeMacLocked(old);
  return OkStatus();
}

Status FakeNetOps::SetMac(const std::string& dev, const std::string& mac) {
  std::lock_guard<std::mutex> lk(mu_);
  if (auto e = Enter("SetMac", dev + " " + mac)) return *e;
  BANGER_RETURN_IF_ERROR(ValidateMac(mac));
  BANGER_ASSIGN_OR_RETURN(LinkInfo * link, LinkLocked(dev));
  link->mac = mac;
  mac_pinned_.insert(dev);
  return OkStatus();
}

void FakeNetOps::RecalcBridgeMacLocked(const std::string& bridge) {
  auto br = links_.find(bridge);
  if (br == links_.end() || br->second.kind != "bridge" || mac_pinned_.count(bridge)) return;
  std::string lowest;
  for (const auto& [n, l] : links_) {
    if (l.master == bridge && (lowest.empty() || l.mac < lowest)) lowest = l.mac;
  }
  if (!lowest.empty()) br->second.mac = lowest;
}

Status FakeNetOps::DeleteLink(const std::string& name) {
  std::lock_guard<std::mutex> lk(mu_);
  if (auto e = Enter("DeleteLink", name)) return *e;
  std::string master;
  if (auto it = links_.find(name); it != links_.end()) master = it->second.master;
  links_.erase(name);
  mac_pinned_.erase(name);
  if (!master.empty()) RecalcBridgeMacLocked(master);
  for (auto& [n, l] : links_) {
    if (l.master == name) l.master.clear();
  }
  routes_.erase(
      std::remove_if(routes_.begin(), routes_.end(), [&](const RouteInfo& r) { return r.dev == name; }),
      routes_.end());
  return OkStatus();
}

Result<std::vector<RouteInfo>> FakeNetOps::ListRoutes() {
  std::lock_guard<std::mutex> lk(mu_);
  if (auto e = Enter("ListRoutes", "")) return *e;
  return routes_;
}

Result<bool> FakeNetOps::IpForwardEnabled() {
  std::lock_guard<std::mutex> lk(mu_);
  if (auto e = Enter("IpForwardEnabled", "")) return *e;
  return ip_forward_;
}

Status FakeNetOps::SetIpForward(bool on) {
  std::lock_guard<std::mutex> lk(mu_);
  if (auto e = Enter("SetIpForward", on ? "1" : "0")) return *e;
  ip_forward_ = on;
  return OkStatus();
}

Status FakeNetOps::NftApply(const std::string& script) {
  std::lock_guard<std::mutex> lk(mu_);
  if (auto e = Enter("NftApply", "")) return *e;
  // One transaction: work on copies, commit only if every line applied.
  auto tables = tables_;
  int next = next_handle_;
  std::istringstream in(script);
  std::string line;
  while (std::getline(in, line)) {
    auto w = Words(line);
    if (w.empty() || w[0][0] == '#') continue;
    if (w.size() < 4) return Error::Internal("nft: syntax error: " + line);
    std::string key = w[2] + " " + w[3];
    if (w[0] == "add" && w[1] == "table") {
      tables[key];
    } else if (w[0] == "delete" && w[1] == "table") {
      if (!tables.erase(key)) return Error::Internal("nft: No such file or directory: " + line);
    } else if (w[0] == "add" && w[1] == "chain" && w.size() >= 5) {
      auto t = tables.find(key);
      if (t == tables.end()) return Error::Internal("nft: No such file or directory: " + line);
      auto& c = t->second.chains;
      if (std::find(c.begin(), c.end(), w[4]) == c.end()) c.push_back(w[4]);
    } else if (w[0] == "add" && w[1] == "rule" && w.size() >= 6) {
      auto t = tables.find(key);
      if (t == tables.end()) return Error::Internal("nft: No such file or directory: " + line);
      auto& c = t->second.chains;
      if (std::find(c.begin(), c.end(), w[4]) == c.end()) {
        return Error::Internal("nft: No such file or directory: " + line);
      }
      std::string text = RestAfter(line, 5);
      t->second.rules.push_back(NftRule{w[4], next++, CommentOf(text), text});
    } else if (w[0] == "delete" && w[1] == "rule" && w.size() == 7 && w[5] == "handle") {
      auto t = tables.find(key);
      if (t == tables.end()) return Error::Internal("nft: No such file or directory: " + line);
      auto& rules = t->second.rules;
      int h = std::stoi(w[6]);
      auto it = std::find_if(rules.begin(), rules.end(),
                             [&](const NftRule& r) { return r.chain == w[4] && r.handle == h; });
      if (it == rules.end()) return Error::Internal("nft: Could not process rule: No such file or directory");
      rules.erase(it);
    } else {
      return Error::Internal("nft (fake): unsupported line: " + line);
    }
  }
  tables_ = std::move(tables);
  next_handle_ = next;
  return OkStatus();
}

Result<std::optional<std::string>> FakeNetOps::NftListTable(const std::string& family,
                                                            const std::string& table) {
  std::lock_guard<std::mutex> lk(mu_);
  if (auto e = Enter("NftListTable", family + " " + table)) return *e;
  auto it = tables_.find(family + " " + table);
  if (it == tables_.end()) return std::optional<std::string>();
  using nlohmann::json;
  json items = json::array();
  items.push_back({{"metainfo", {{"json_schema_version", 1}}}});
  items.push_back({{"table", {{"family", family}, {"name", table}, {"handle", 1}}}});
  for (const auto& c : it->second.chains) {
    items.push_back({{"chain", {{"family", family}, {"table", table}, {"name", c}}}});
  }
  for (const auto& r : it->second.rules) {
    json rule = {{"family", family},
                 {"table", table},
                 {"chain", r.chain},
                 {"handle", r.handle},
                 {"expr", json::array()}};
    if (!r.comment.empty()) rule["comment"] = r.comment;
    items.push_back({{"rule", rule}});
  }
  return std::optional<std::string>(json{{"nftables", items}}.dump());
}

}  // namespace banger::testing

#include "net/nat.h"

#include <nlohmann/json.hpp>

#include "net/address.h"

namespace banger {

namespace {

// VM ids go into an nft comment between double quotes: keep them plain.
Status ValidateVmId(const std::string& id) {
  if (id.empty() || id.size() > 100) return Error::Invalid("vm id must be 1 to 100 characters");
  for (char c : id) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) return Error::Invalid("vm id \"" + id + "\" may hold only letters, digits, '-' and '_'");
  }
  return OkStatus();
}

std::string Prefix() { return std::string("ip ") + Nat::kTable + " "; }

}  // namespace

std::string Nat::EnableScript(const std::string& vm_id, const std::string& guest_ip,
                              const std::string& bridge, const std::string& subnet, bool create_table) {
  std::string t = Prefix();
  std::string c = " comment \"" + std::string(kCommentPrefix) + vm_id + "\"\n";
  std::string br = "\"" + bridge + "\"";
  std::string s;
  if (create_table) {
    s += "add table ip " + std::string(kTable) + "\n";
    s += "add chain " + t + "postrouting { type nat hook postrouting priority srcnat; policy accept; }\n";
    s += "add chain " + t + "vm_forward\n";
    s += "add chain " + t + "forward { type filter hook forward priority filter; policy accept; }\n";
    s += "add rule " + t + "forward jump vm_forward\n";
    s += "add rule " + t + "forward iifname " + br + " oifname != " + br + " drop comment \"banger:base\"\n";
  }
  s += "add rule " + t + "postrouting ip saddr " + guest_ip + " ip daddr != " + subnet + " oifname != " + br +
       " masquerade" + c;
  s += "add rule " + t + "vm_forward iifname " + br + " ip saddr " + guest_ip + " accept" + c;
  s += "add rule " + t + "vm_forward oifname " + br + " ip daddr " + guest_ip +
       " ct state established,related accept" + c;
  return s;
}

Result<std::vector<Nat::RuleRef>> Nat::ParseRules(const std::string& text) {
  using nlohmann::json;
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("nftables") || !j["nftables"].is_array()) {
    return Error::Internal("nft -j list table: unexpected output");
  }
  std::vector<RuleRef> out;
  std::string prefix = kCommentPrefix;
  for (const auto& item : j["nftables"]) {
    if (!item.is_object() || !item.contains("rule")) continue;
    const auto& r = item["rule"];
    if (!r.is_object() || !r.contains("handle") || !r["handle"].is_number_integer()) continue;
    RuleRef ref;
    ref.chain = r.value("chain", "");
    ref.handle = r["handle"].get<int64_t>();
    std::string comment =
        r.contains("comment") && r["comment"].is_string() ? r["comment"].get<std::string>() : "";
    if (comment.compare(0, prefix.size(), prefix) == 0) ref.vm_id = comment.substr(prefix.size());
    out.push_back(std::move(ref));
  }
  return out;
}

Result<std::optional<std::vector<Nat::RuleRef>>> Nat::ReadLocked() {
  BANGER_ASSIGN_OR_RETURN(auto text, ops_.NftListTable(kFamily, kTable));
  if (!text) return std::optional<std::vector<RuleRef>>();
  BANGER_ASSIGN_OR_RETURN(auto rules, ParseRules(*text));
  return std::optional<std::vector<RuleRef>>(std::move(rules));
}

Status Nat::Enable(const std::string& vm_id, const std::string& guest_ip, const std::string& bridge,
                   const std::string& cidr) {
  std::string ctx = "enabling NAT for vm " + vm_id;
  BANGER_RETURN_IF_ERROR(Annotate(ValidateVmId(vm_id), ctx));
  BANGER_RETURN_IF_ERROR(Annotate(ValidateIfName(bridge), ctx));
  auto ip = ParseIpv4(guest_ip);
  if (!ip.ok()) return ip.error().Wrap(ctx);
  auto prefix = ParsePrefix(cidr);
  if (!prefix.ok()) return prefix.error().Wrap(ctx);
  std::string subnet = SubnetOf(*ip, *prefix).ToString();

  std::lock_guard<std::mutex> lk(mu_);
  auto rules = ReadLocked();
  if (!rules.ok()) return rules.error().Wrap(ctx);
  std::string script;
  // Replace, in the same transaction, whatever this VM had (another address).
  if (*rules) {
    for (const auto& r : **rules) {
      if (r.vm_id == vm_id) {
        script += "delete rule " + Prefix() + r.chain + " handle " + std::to_string(r.handle) + "\n";
      }
    }
  }
  script += EnableScript(vm_id, FormatIpv4(*ip), bridge, subnet, !rules->has_value());
  BANGER_RETURN_IF_ERROR(Annotate(ops_.NftApply(script), ctx));

  auto fwd = ops_.IpForwardEnabled();
  if (!fwd.ok()) return fwd.error().Wrap(ctx + ": reading ip_forward");
  if (!*fwd) BANGER_RETURN_IF_ERROR(Annotate(ops_.SetIpForward(true), ctx + ": enabling ip_forward"));
  return OkStatus();
}

Status Nat::Disable(const std::string& vm_id) {
  std::string ctx = "disabling NAT for vm " + vm_id;
  BANGER_RETURN_IF_ERROR(Annotate(ValidateVmId(vm_id), ctx));
  std::lock_guard<std::mutex> lk(mu_);
  auto rules = ReadLocked();
  if (!rules.ok()) return rules.error().Wrap(ctx);
  if (!*rules) return OkStatus();
  std::string script;
  bool others = false;
  for (const auto& r : **rules) {
    if (r.vm_id == vm_id) {
      script += "delete rule " + Prefix() + r.chain + " handle " + std::to_string(r.handle) + "\n";
    } else if (!r.vm_id.empty()) {
      others = true;
    }
  }
  if (!others) script = "delete table " + Prefix() + "\n";  // the last NAT VM: no table left
  return Annotate(ops_.NftApply(script), ctx);
}

Result<std::set<std::string>> Nat::ListVmIds() {
  std::lock_guard<std::mutex> lk(mu_);
  BANGER_ASSIGN_OR_RETURN(auto rules, Annotate(ReadLocked(), "listing NAT rules"));
  std::set<std::string> ids;
  if (rules) {
    for (const auto& r : *rules) {
      if (!r.vm_id.empty()) ids.insert(r.vm_id);
    }
  }
  return ids;
}

}  // namespace banger

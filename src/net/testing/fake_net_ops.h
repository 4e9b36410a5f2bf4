// An in-memory NetOps for unit tests (of this folder and of the daemon).
// Models links, addresses, the main routing table, ip_forward and the small
// subset of nft scripts that Nat writes (add table/chain/rule, delete
// rule/table), applied as one transaction like nft -f. Thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "net/net_ops.h"

namespace banger::testing {

class FakeNetOps : public NetOps {
 public:
  struct NftRule {
    std::string chain;
    int handle = 0;
    std::string comment;
    std::string text;  // the rule as written after the chain name
  };
  struct NftTable {
    std::vector<std::string> chains;
    std::vector<NftRule> rules;
  };

  // --- test setup and inspection ---
  void AddLink(LinkInfo l);
  void AddRoute(RouteInfo r);
  // The next call of operation `op` ("CreateTap", "NftApply", ...) fails with `e`.
  void FailNext(const std::string& op, Error e);
  std::optional<LinkInfo> Link(const std::string& name);
  std::vector<std::string> LinkNames();
  std::vector<std::string> Calls();  // "CreateTap bgtap0", ...
  void ClearCalls();
  bool ip_forward();
  std::optional<NftTable> Table(const std::string& family, const std::string& name);

  // --- NetOps ---
  Result<std::optional<LinkInfo>> GetLink(const std::string& name) override;
  Result<std::vector<LinkInfo>> ListLinks(const std::string& prefix) override;
  Status CreateBridge(const std::string& name) override;
  Status AddAddress(const std::string& dev, const std::string& addr) override;
  Status SetUp(const std::string& dev) override;
  Status CreateTap(const std::string& name, const std::string& owner) override;
  Status SetMaster(const std::string& dev, const std::string& master) override;
  Status SetMac(const std::string& dev, const std::string& mac) override;
  Status DeleteLink(const std::string& name) override;
  Result<std::vector<RouteInfo>> ListRoutes() override;
  Result<bool> IpForwardEnabled() override;
  Status SetIpForward(bool on) override;
  Status NftApply(const std::string& script) override;
  Result<std::optional<std::string>> NftListTable(const std::string& family,
                                                  const std::string& table) override;

 private:
  // Records the call; returns the injected failure for `op`, if any. Holds mu_.
  std::optional<Error> Enter(const std::string& op, const std::string& arg);
  // The link named `dev`, or iproute2's "Cannot find device". Holds mu_.
  Result<LinkInfo*> LinkLocked(const std::string& dev);
  Status CreateLinkLocked(const std::string& name, const std::string& kind);
  // Like the kernel: a bridge whose address was never set takes the lowest
  // address of its ports (or keeps its own when it has none).
  void RecalcBridgeMacLocked(const std::string& bridge);

  std::mutex mu_;
  std::map<std::string, LinkInfo> links_;   // Guarded by mu_.
  std::vector<RouteInfo> routes_;           // Guarded by mu_.
  bool ip_forward_ = false;                 // Guarded by mu_.
  std::map<std::string, NftTable> tables_;  // "family name"; guarded by mu_.
  int next_handle_ = 1;                     // Guarded by mu_.
  std::map<std::string, Error> fail_next_;  // Guarded by mu_.
  std::vector<std::string> calls_;          // Guarded by mu_.
  std::set<std::string> mac_pinned_;        // Links whose address was set; guarded by mu_.
  int next_mac_ = 0xfff;                    // New links get descending addresses; guarded by mu_.
};

}  // namespace banger::testing

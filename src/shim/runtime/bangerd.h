// The shim's side of the bangerd API (docs/api.md): the few calls a
// containerd task needs, over the home's Unix socket. The shim never starts
// a daemon: a bangerd that does not answer is an error for containerd to
// report ("bangerd is not running at HOME").
//
// Thread-safety: every call opens its own connection; safe from any thread.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "api/client.h"
#include "base/result.h"
#include "http/ws.h"
#include "model/json.h"

namespace banger::shim {

// Where the shim's bangerd is: $BANGER_HOME, else the system home for root.
HomeLayout ShimHome();

class Bangerd {
 public:
  explicit Bangerd(HomeLayout home) : api_(std::move(home), "") {}
  const HomeLayout& home() const { return api_.home(); }

  Result<Json> Call(const std::string& method, const std::string& target, const Json* body = nullptr,
                    std::chrono::milliseconds timeout = kReadTimeout);
  // Opens a stream (docs/api.md "Streams") and sends its opening request
  // (when `open` is given). `timeout` bounds the connect and handshake.
  Result<std::unique_ptr<WsConn>> Stream(const std::string& target, const Json* open,
                                         std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // bangerd's version ("0.1.0"; "" when it does not answer).
  std::string Version();
  // True when image `name` exists.
  Result<bool> HasImage(const std::string& name);
  // Builds image `name` from the root filesystem tree `dir` (image build
  // --from-rootfs). An image of that name that appeared meanwhile (another
  // shim built it) counts as built.
  Status BuildImage(const std::string& name, const std::string& dir);
  // Deletes image `name`; a missing one is fine.
  Status DeleteImage(const std::string& name);
  // Deletes VM `ref` (stopping it); a missing one is fine.
  Status DeleteVm(const std::string& ref);
  // The VMs carrying every label of `labels`.
  Result<std::vector<Json>> VmsWithLabels(const std::map<std::string, std::string>& labels);

 private:
  ApiClient api_;
};

}  // namespace banger::shim

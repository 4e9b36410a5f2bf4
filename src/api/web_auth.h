// Who may use the web UI (docs/security.md, "HTTP API and web UI"). The TCP
// listener has no peer credentials, so access is by token, and tokens are
// only handed out on the Unix socket, whose permissions already decide who
// may drive bangerd:
//  1. `banger web open` asks POST /v1/web/tokens on the socket; the daemon
//     issues a one-time login token tied to the caller's uid (SO_PEERCRED)
//     and answers the URL http://ADDR/login?token=<login token>;
//  2. GET /login on the web listener redeems it (once, within login_ttl)
//     for a session token, set as an HttpOnly SameSite=Strict cookie;
//  3. every other web request needs that session (the cookie, or
//     "Authorization: Bearer <session token>" for scripts) until it expires
//     (session_ttl) or its uid's tokens are revoked (DELETE /v1/web/tokens,
//     `banger web revoke`) or the daemon restarts (tokens live in memory).
// Tokens are 256 random bits (getrandom), compared in constant time.
//
// Scrape tokens (GET /metrics on the web listener, for Prometheus): POST
// /v1/web/tokens {"scope": "metrics"} on the socket issues one for the
// caller's uid, replacing that uid's previous one. It opens GET /metrics
// and nothing else, does not expire, and survives daemon restarts: only its
// SHA-256 is kept, in `metrics_token_file` (0600), until DELETE
// /v1/web/tokens revokes it (with the uid's other tokens).
// Thread-safe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"

namespace banger {

class WebAuth {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kDefaultLoginTtl{120};
  static constexpr std::chrono::hours kDefaultSessionTtl{12};
  // At most this many live tokens; issuing more drops the oldest.
  static constexpr size_t kMaxTokens = 256;

  // `metrics_token_file`: where scrape tokens' hashes persist ("": in memory only).
  explicit WebAuth(std::chrono::milliseconds session_ttl = kDefaultSessionTtl,
                   std::chrono::milliseconds login_ttl = kDefaultLoginTtl,
                   std::string metrics_token_file = "");

  // A new one-time login token for `uid`.
  Result<std::string> IssueLogin(uid_t uid);
  // Spends a login token: a session token for its uid, or kInvalidArgument
  // when the token is unknown, spent or expired.
  Result<std::string> Redeem(const std::string& login_token);
  // The uid of a live session token.
  std::optional<uid_t> Check(const std::string& session_token);
  // A new scrape token for `uid` (its previous one no longer works), saved.
  Result<std::string> IssueMetrics(uid_t uid);
  // Whether `token` is a live scrape token.
  bool CheckMetrics(const std::string& token);
  // Forgets every token of `uid` (every token when `uid` is 0, root),
  // scrape tokens included; returns how many.
  int Revoke(uid_t uid);

  std::chrono::milliseconds session_ttl() const { return session_ttl_; }
  std::chrono::milliseconds login_ttl() const { return login_ttl_; }

 private:
  enum class Kind { kLogin, kSession };
  struct Token {
    Kind kind;
    std::string value;
    uid_t uid;
    Clock::time_point expires;
  };
  Result<std::string> Add(Kind kind, uid_t uid, std::chrono::milliseconds ttl);  // mu_ held
  // The live token of `kind` equal to `value` (constant time in its bytes).
  std::vector<Token>::iterator Find(Kind kind, const std::string& value);  // mu_ held

  Status SaveMetricsLocked();  // mu_ held

  const std::chrono::milliseconds session_ttl_, login_ttl_;
  const std::string metrics_file_;
  std::mutex mu_;
  std::vector<Token> tokens_;                 // Guarded by mu_.
  std::map<uid_t, std::string> metrics_sha_;  // scrape tokens' SHA-256 (hex) by uid. Guarded by mu_.
};

// Whether `a` equals `b`, looking at every byte of both whatever they hold.
bool ConstantTimeEquals(const std::string& a, const std::string& b);

}  // namespace banger

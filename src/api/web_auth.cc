#include "api/web_auth.h"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>

namespace banger {

bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  size_t n = std::max(a.size(), b.size());
  unsigned diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned>(x ^ y);
  }
  return diff == 0;
}

WebAuth::WebAuth(std::chrono::milliseconds session_ttl, std::chrono::milliseconds login_ttl)
    : session_ttl_(session_ttl), login_ttl_(login_ttl) {}

Result<std::string> WebAuth::Add(Kind kind, uid_t uid, std::chrono::milliseconds ttl) {
  unsigned char raw[32];
  size_t got = 0;
  while (got < sizeof raw) {
    ssize_t n = ::getrandom(raw + got, sizeof raw - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::FromErrno("getrandom");
    }
    got += static_cast<size_t>(n);
  }
  static const char* hex = "0123456789abcdef";
  std::string value;
  for (unsigned char c : raw) {
    value.push_back(hex[c >> 4]);
    value.push_back(hex[c & 15]);
  }
  auto now = Clock::now();
  std::erase_if(tokens_, [&](const Token& t) { return t.expires <= now; });
  if (tokens_.size() >= kMaxTokens) tokens_.erase(tokens_.begin());  // the oldest
  tokens_.push_back(Token{kind, value, uid, now + ttl});
  return value;
}

std::vector<WebAuth::Token>::iterator WebAuth::Find(Kind kind, const std::string& value) {
  auto now = Clock::now();
  auto found = tokens_.end();
  // Every token is compared, all the way: the time taken says nothing about which one nearly matched.
  for (auto it = tokens_.begin(); it != tokens_.end(); ++it) {
    bool eq = ConstantTimeEquals(it->value, value);
    if (eq && it->kind == kind && it->expires > now) found = it;
  }
  return found;
}

Result<std::string> WebAuth::IssueLogin(uid_t uid) {
  std::lock_guard<std::mutex> lk(mu_);
  return Add(Kind::kLogin, uid, login_ttl_);
}

Result<std::string> WebAuth::Redeem(const std::string& login_token) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = Find(Kind::kLogin, login_token);
  if (it == tokens_.end()) {
    return Error::Invalid("unknown, used or expired login token: run `banger web open` for a new one");
  }
  uid_t uid = it->uid;
  tokens_.erase(it);  // one time
  return Add(Kind::kSession, uid, session_ttl_);
}

std::optional<uid_t> WebAuth::Check(const std::string& session_token) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = Find(Kind::kSession, session_token);
  if (it == tokens_.end()) return std::nullopt;
  return it->uid;
}

int WebAuth::Revoke(uid_t uid) {
  std::lock_guard<std::mutex> lk(mu_);
  size_t before = tokens_.size();
  std::erase_if(tokens_, [uid](const Token& t) { return uid == 0 || t.uid == uid; });
  return static_cast<int>(before - tokens_.size());
}

}  // namespace banger

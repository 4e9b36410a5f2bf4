#include "api/web_auth.h"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <sstream>

#include "base/fs.h"
#include "base/log.h"
#include "base/sha256.h"

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

namespace {

// 256 random bits as 64 hex digits.
Result<std::string> RandomToken() {
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
  return value;
}

bool IsHex64(const std::string& s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

}  // namespace

WebAuth::WebAuth(std::chrono::milliseconds session_ttl, std::chrono::milliseconds login_ttl,
                 std::string metrics_token_file)
    : session_ttl_(session_ttl), login_ttl_(login_ttl), metrics_file_(std::move(metrics_token_file)) {
  if (metrics_file_.empty() || !PathExists(metrics_file_)) return;
  auto text = ReadFile(metrics_file_);
  if (!text.ok()) {
    spdlog::warn("web: reading scrape tokens: {}", text.error().message());
    return;
  }
  // One "<uid> <sha256 hex>" a line; a line of any other shape is skipped.
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    long long uid = -1;
    std::string sha, rest;
    if (fields >> uid >> sha && !(fields >> rest) && uid >= 0 && IsHex64(sha)) {
      metrics_sha_[static_cast<uid_t>(uid)] = sha;
    }
  }
}

Result<std::string> WebAuth::Add(Kind kind, uid_t uid, std::chrono::milliseconds ttl) {
  BANGER_ASSIGN_OR_RETURN(std::string value, RandomToken());
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

Status WebAuth::SaveMetricsLocked() {
  if (metrics_file_.empty()) return OkStatus();
  std::string text;
  for (const auto& [uid, sha] : metrics_sha_) text += std::to_string(uid) + " " + sha + "\n";
  return WriteFileAtomic(metrics_file_, text, 0600);
}

Result<std::string> WebAuth::IssueMetrics(uid_t uid) {
  BANGER_ASSIGN_OR_RETURN(std::string token, RandomToken());
  std::lock_guard<std::mutex> lk(mu_);
  auto old = metrics_sha_;
  metrics_sha_[uid] = Sha256::Hex(token);
  if (Status st = SaveMetricsLocked(); !st.ok()) {
    metrics_sha_ = std::move(old);
    return Annotate(st, "saving the scrape token").error();
  }
  return token;
}

bool WebAuth::CheckMetrics(const std::string& token) {
  if (token.empty()) return false;
  std::string sha = Sha256::Hex(token);
  std::lock_guard<std::mutex> lk(mu_);
  bool found = false;
  for (const auto& [uid, want] : metrics_sha_) found = ConstantTimeEquals(want, sha) || found;
  return found;
}

int WebAuth::Revoke(uid_t uid) {
  std::lock_guard<std::mutex> lk(mu_);
  size_t before = tokens_.size() + metrics_sha_.size();
  std::erase_if(tokens_, [uid](const Token& t) { return uid == 0 || t.uid == uid; });
  std::erase_if(metrics_sha_, [uid](const auto& kv) { return uid == 0 || kv.first == uid; });
  int n = static_cast<int>(before - tokens_.size() - metrics_sha_.size());
  if (Status st = SaveMetricsLocked(); !st.ok())
    spdlog::warn("web: saving scrape tokens: {}", st.error().message());
  return n;
}

}  // namespace banger

#include "oci/errors.h"

#include <algorithm>
#include <cctype>
#include <regex>

#include "base/strings.h"

namespace banger {
namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool Has(const std::string& hay, const char* needle) { return hay.find(needle) != std::string::npos; }

}  // namespace

std::string ToolMessage(std::string_view stderr_text) {
  std::string line;
  for (const std::string& l : Split(stderr_text, '\n')) {
    std::string t = Trim(l);
    if (!t.empty()) line = t;
  }
  // time="..." level=fatal msg="the message"
  static const std::regex logrus(R"re(^time="[^"]*" level=\w+ msg="(.*)"$)re");
  std::smatch m;
  if (std::regex_match(line, m, logrus)) {
    line = m[1].str();
    // Undo Go's %q escaping of quotes in the message.
    std::string out;
    for (size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '\\' && i + 1 < line.size() && (line[i + 1] == '"' || line[i + 1] == '\\')) ++i;
      out += line[i];
    }
    line = out;
  }
  if (line.size() > 300) line = line.substr(0, 300) + "...";
  return line;
}

Error SkopeoError(std::string_view stderr_text, const std::string& what) {
  const std::string msg = ToolMessage(stderr_text);
  const std::string low = Lower(msg);
  const std::string p = what + ": ";
  if (Has(low, "digest did not match") || Has(low, "digest mismatch") || Has(low, "does not match digest") ||
      Has(low, "computed digest"))
    return Error::Internal(p + "digest mismatch: a downloaded blob is not what the manifest names");
  if (Has(low, "manifest unknown") || Has(low, "name unknown") || Has(low, "not found: manifest"))
    return Error::NotFound(p + "no such image or tag (manifest unknown)");
  if (Has(low, "no image found in manifest list") || Has(low, "choosing image instance") ||
      Has(low, "no image found in image index"))
    return Error::NotFound(p + "no linux/amd64 image");
  static const std::regex status_401(R"(\b401\b)"), status_429(R"(\b429\b)");
  if (Has(low, "unauthorized") || Has(low, "authentication required") || std::regex_search(low, status_401) ||
      Has(low, "denied: requested access"))
    return Error::Invalid(p + "unauthorized (log in with `docker login`, or the image does not exist)");
  if (Has(low, "toomanyrequests") || Has(low, "too many requests") || std::regex_search(low, status_429))
    return Error::Unavailable(p + "too many requests: the registry's rate limit; try again later");
  if (Has(low, "connection refused")) return Error::Unavailable(p + "connection refused by the registry");
  if (Has(low, "server gave http response to https client"))
    return Error::Unavailable(p + "the registry speaks plain HTTP; use --insecure");
  static const std::regex server_error(
      R"(\b(50[0-9])\b|internal server error|bad gateway|service unavailable)");
  std::smatch m;
  if (std::regex_search(low, m, server_error)) {
    return Error::Unavailable(p + "registry server error" +
                              (m[1].matched ? " (HTTP " + m[1].str() + ")" : ""));
  }
  if (Has(low, "unexpected eof") || Has(low, "connection reset"))
    return Error::Unavailable(p + "download cut short (" + msg + ")");
  if (msg.empty()) return Error::Internal(p + "skopeo failed");
  return Error::Internal(p + msg);
}

}  // namespace banger

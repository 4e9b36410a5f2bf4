#include "oci/reference.h"

#include <cctype>
#include <nlohmann/json.hpp>
#include <regex>

namespace banger {
namespace {

constexpr size_t kMaxReferenceLength = 512;

bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost" || host == "[::1]") return true;
  static const std::regex v4(R"(^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$)");
  std::smatch m;
  if (!std::regex_match(host, m, v4)) return false;
  for (size_t i = 1; i < m.size(); ++i) {
    if (std::stoi(m[i].str()) > 255) return false;
  }
  return true;
}

// "host", "host:port", "[v6]:port": returns the host part or "" if invalid.
std::string RegistryHost(const std::string& registry) {
  static const std::regex re(
      R"(^((?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$)");
  std::smatch m;
  if (!std::regex_match(registry, m, re)) return "";
  return m[1].str();
}

}  // namespace

std::string OciReference::Normalized() const {
  std::string out = registry + "/" + repository;
  if (!tag.empty()) out += ":" + tag;
  if (!digest.empty()) out += "@" + digest;
  return out;
}

std::string OciReference::Pullable() const {
  return registry + "/" + repository + (digest.empty() ? ":" + tag : "@" + digest);
}

std::string OciReference::DefaultImageName() const {
  std::string last = repository.substr(repository.rfind('/') + 1);
  std::string suffix = !tag.empty() ? tag : digest.substr(digest.find(':') + 1, 12);
  std::string name = last + "-" + suffix;
  for (char& c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isupper(u) != 0) {
      c = static_cast<char>(std::tolower(u));
    } else if (std::isalnum(u) == 0 && c != '.' && c != '_' && c != '-') {
      c = '-';
    }
  }
  if (name.size() > 63) name.resize(63);
  while (!name.empty() && std::isalnum(static_cast<unsigned char>(name.back())) == 0) name.pop_back();
  return name;
}

Result<OciReference> ParseOciReference(std::string_view ref_in) {
  const std::string ref(ref_in);
  auto bad = [&ref](const std::string& why) {
    return Error::Invalid("invalid image reference \"" + ref + "\": " + why);
  };
  if (ref.empty()) return Error::Invalid("image reference is empty");
  if (ref.size() > kMaxReferenceLength) return Error::Invalid("image reference is longer than 512 bytes");
  for (char c : ref) {
    if (std::isgraph(static_cast<unsigned char>(c)) == 0) return bad("has a space or control character");
  }
  OciReference out;
  std::string rest = ref;
  if (size_t at = rest.find('@'); at != std::string::npos) {
    out.digest = rest.substr(at + 1);
    rest.resize(at);
    static const std::regex digest_re("^sha256:[a-f0-9]{64}$");
    if (!std::regex_match(out.digest, digest_re))
      return bad("digest must be sha256:<64 lowercase hex digits>");
  }
  const size_t last_slash = rest.rfind('/');
  if (size_t colon = rest.rfind(':');
      colon != std::string::npos && (last_slash == std::string::npos || colon > last_slash)) {
    out.tag = rest.substr(colon + 1);
    rest.resize(colon);
    static const std::regex tag_re(R"(^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$)");
    if (!std::regex_match(out.tag, tag_re)) return bad("tag must be 1-128 of letters, digits, '_', '.', '-'");
  }
  if (out.tag.empty() && out.digest.empty()) out.tag = "latest";

  std::string path = rest;
  const size_t first_slash = rest.find('/');
  if (first_slash != std::string::npos) {
    const std::string first = rest.substr(0, first_slash);
    if (first.find_first_of(".:[") != std::string::npos || first == "localhost") {
      out.registry = first;
      path = rest.substr(first_slash + 1);
    }
  }
  if (out.registry.empty()) out.registry = "docker.io";
  const std::string host = RegistryHost(out.registry);
  if (host.empty()) return bad("registry \"" + out.registry + "\" is not host[:port]");
  if (out.registry == "index.docker.io" || out.registry == "registry-1.docker.io") out.registry = "docker.io";
  out.loopback = IsLoopbackHost(host);

  static const std::regex component_re(R"(^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$)");
  if (path.empty()) return bad("no repository name");
  size_t start = 0;
  for (;;) {
    size_t slash = path.find('/', start);
    std::string comp = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (!std::regex_match(comp, component_re)) {
      return bad("repository name components are lowercase letters and digits joined by '.', '_' or '-'");
    }
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  if (out.registry == "docker.io" && path.find('/') == std::string::npos) path = "library/" + path;
  out.repository = path;
  if (out.Normalized().size() > kMaxReferenceLength) return Error::Invalid("image reference is too long");
  return out;
}

std::string DockerConfigAuth(const std::string& config_json, const std::string& registry) {
  auto j = nlohmann::json::parse(config_json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return "";
  auto auths = j.find("auths");
  if (auths == j.end() || !auths->is_object()) return "";
  auto host_of = [](std::string key) {
    for (const char* scheme : {"https://", "http://"}) {
      if (key.rfind(scheme, 0) == 0) key = key.substr(std::string(scheme).size());
    }
    if (size_t slash = key.find('/'); slash != std::string::npos) key.resize(slash);
    if (key == "index.docker.io" || key == "registry-1.docker.io") key = "docker.io";
    return key;
  };
  for (const auto& [key, entry] : auths->items()) {
    if (host_of(key) != registry || !entry.is_object()) continue;
    auto auth = entry.find("auth");
    if (auth != entry.end() && auth->is_string() && !auth->get<std::string>().empty())
      return auth->get<std::string>();
  }
  return "";
}

}  // namespace banger

namespace banger {
std::string Base64Encode(std::string_view data) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    const uint32_t n = (static_cast<uint32_t>(static_cast<unsigned char>(data[i])) << 16) |
                       (static_cast<uint32_t>(static_cast<unsigned char>(data[i + 1])) << 8) |
                       static_cast<uint32_t>(static_cast<unsigned char>(data[i + 2]));
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(n >> s) & 63];
  }
  if (const size_t rest = data.size() - i; rest > 0) {
    uint32_t n = static_cast<uint32_t>(static_cast<unsigned char>(data[i])) << 16;
    if (rest == 2) n |= static_cast<uint32_t>(static_cast<unsigned char>(data[i + 1])) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += rest == 2 ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}
}  // namespace banger

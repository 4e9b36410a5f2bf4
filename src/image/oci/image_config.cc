#include "oci/image_config.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <regex>

namespace banger {
namespace {

using nlohmann::json;

constexpr const char* kRefNameAnnotation = "org.opencontainers.image.ref.name";
constexpr size_t kMaxListEntries = 4096;
constexpr size_t kMaxStringBytes = 64 * 1024;

Result<json> ParseObject(const std::string& text, const char* what) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Error::Invalid(std::string(what) + " is not a JSON object");
  return j;
}

bool ValidDigest(const std::string& d) {
  static const std::regex re("^sha256:[a-f0-9]{64}$");
  return std::regex_match(d, re);
}

Result<OciDescriptor> ParseDescriptor(const json& j, const char* what) {
  if (!j.is_object()) return Error::Invalid(std::string(what) + " descriptor is not an object");
  OciDescriptor d;
  if (auto it = j.find("mediaType"); it != j.end() && it->is_string()) d.media_type = it->get<std::string>();
  auto dig = j.find("digest");
  if (dig == j.end() || !dig->is_string() || !ValidDigest(dig->get<std::string>()))
    return Error::Invalid(std::string(what) + " descriptor has no sha256 digest");
  d.digest = dig->get<std::string>();
  if (auto it = j.find("size"); it != j.end() && it->is_number_integer()) d.size = it->get<int64_t>();
  return d;
}

// A string list field that may be null or absent.
Result<std::vector<std::string>> StringList(const json& obj, const char* key) {
  std::vector<std::string> out;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return out;
  if (!it->is_array()) return Error::Invalid(std::string("image config ") + key + " is not a list");
  if (it->size() > kMaxListEntries)
    return Error::Invalid(std::string("image config ") + key + " is too long");
  for (const json& v : *it) {
    if (!v.is_string()) return Error::Invalid(std::string("image config ") + key + " has a non-string entry");
    if (v.get_ref<const std::string&>().size() > kMaxStringBytes)
      return Error::Invalid(std::string("image config ") + key + " has an entry over 64 KiB");
    out.push_back(v.get<std::string>());
  }
  return out;
}

Result<std::string> StringField(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::string();
  if (!it->is_string()) return Error::Invalid(std::string("image config ") + key + " is not a string");
  if (it->get_ref<const std::string&>().size() > kMaxStringBytes)
    return Error::Invalid(std::string("image config ") + key + " is over 64 KiB");
  return it->get<std::string>();
}

}  // namespace

Result<OciDescriptor> FindTaggedManifest(const std::string& index_json, const std::string& tag) {
  BANGER_ASSIGN_OR_RETURN(json idx, ParseObject(index_json, "index.json"));
  auto manifests = idx.find("manifests");
  if (manifests == idx.end() || !manifests->is_array()) return Error::Invalid("index.json has no manifests");
  for (const json& m : *manifests) {
    if (!m.is_object()) continue;
    auto ann = m.find("annotations");
    if (ann == m.end() || !ann->is_object()) continue;
    auto name = ann->find(kRefNameAnnotation);
    if (name != ann->end() && name->is_string() && name->get<std::string>() == tag)
      return ParseDescriptor(m, "manifest");
  }
  return Error::NotFound("no manifest tagged " + tag + " in the layout");
}

Result<std::vector<std::string>> ListTags(const std::string& index_json) {
  BANGER_ASSIGN_OR_RETURN(json idx, ParseObject(index_json, "index.json"));
  std::vector<std::string> out;
  auto manifests = idx.find("manifests");
  if (manifests == idx.end() || !manifests->is_array()) return out;
  for (const json& m : *manifests) {
    if (!m.is_object()) continue;
    auto ann = m.find("annotations");
    if (ann == m.end() || !ann->is_object()) continue;
    auto name = ann->find(kRefNameAnnotation);
    if (name != ann->end() && name->is_string()) out.push_back(name->get<std::string>());
  }
  return out;
}

Result<OciManifest> ParseOciManifest(const std::string& manifest_json) {
  BANGER_ASSIGN_OR_RETURN(json j, ParseObject(manifest_json, "image manifest"));
  if (j.contains("manifests")) return Error::Invalid("expected an image manifest, got an index");
  OciManifest out;
  auto cfg = j.find("config");
  if (cfg == j.end()) return Error::Invalid("image manifest has no config");
  BANGER_ASSIGN_OR_RETURN(out.config, ParseDescriptor(*cfg, "config"));
  auto layers = j.find("layers");
  if (layers == j.end() || !layers->is_array()) return Error::Invalid("image manifest has no layers");
  if (layers->size() > 1024) return Error::Invalid("image manifest has more than 1024 layers");
  for (const json& l : *layers) {
    BANGER_ASSIGN_OR_RETURN(OciDescriptor d, ParseDescriptor(l, "layer"));
    out.layers.push_back(std::move(d));
  }
  return out;
}

Result<OciImageConfig> ParseOciImageConfig(const std::string& config_json) {
  BANGER_ASSIGN_OR_RETURN(json j, ParseObject(config_json, "image config"));
  BANGER_ASSIGN_OR_RETURN(std::string os, StringField(j, "os"));
  BANGER_ASSIGN_OR_RETURN(std::string arch, StringField(j, "architecture"));
  if ((!os.empty() && os != "linux") || (!arch.empty() && arch != "amd64")) {
    return Error::Invalid("the image is for " + os + "/" + arch + ", not linux/amd64");
  }
  OciImageConfig out;
  auto c = j.find("config");
  if (c == j.end() || c->is_null()) return out;
  if (!c->is_object()) return Error::Invalid("image config's config is not an object");
  BANGER_ASSIGN_OR_RETURN(out.env, StringList(*c, "Env"));
  for (const std::string& e : out.env) {
    if (e.find('=') == std::string::npos || e.front() == '=')
      return Error::Invalid("image config Env entry \"" + e.substr(0, 64) + "\" is not KEY=VALUE");
  }
  BANGER_ASSIGN_OR_RETURN(out.working_dir, StringField(*c, "WorkingDir"));
  // Docker resolves a relative WorkingDir against /.
  if (!out.working_dir.empty() && out.working_dir.front() != '/') out.working_dir = "/" + out.working_dir;
  BANGER_ASSIGN_OR_RETURN(out.user, StringField(*c, "User"));
  BANGER_ASSIGN_OR_RETURN(out.entrypoint, StringList(*c, "Entrypoint"));
  BANGER_ASSIGN_OR_RETURN(out.cmd, StringList(*c, "Cmd"));
  auto ports = c->find("ExposedPorts");
  if (ports != c->end() && !ports->is_null()) {
    if (!ports->is_object()) return Error::Invalid("image config ExposedPorts is not an object");
    static const std::regex port_re(R"(^[0-9]{1,5}(/(tcp|udp|sctp))?$)");
    for (const auto& [k, v] : ports->items()) {
      if (!std::regex_match(k, port_re))
        return Error::Invalid("image config ExposedPorts has \"" + k.substr(0, 32) + "\"");
      out.exposed_ports.push_back(k.find('/') == std::string::npos ? k + "/tcp" : k);
    }
    std::sort(out.exposed_ports.begin(), out.exposed_ports.end());
  }
  return out;
}

Result<std::string> BlobPath(const std::string& layout, const std::string& digest) {
  if (!ValidDigest(digest)) return Error::Invalid("malformed digest \"" + digest.substr(0, 80) + "\"");
  return layout + "/blobs/sha256/" + digest.substr(7);
}

}  // namespace banger

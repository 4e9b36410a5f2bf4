// The parameters of the MCP tools: their JSON Schema and the check of a
// call's arguments against them (one description, two uses), plus the
// helpers tools and resources share (VM references, the console log).
#include <charconv>
#include <regex>

#include "cli/mcp_tools.h"
#include "http/http.h"
#include "model/types.h"

namespace banger {
namespace {

Json ParamSchema(const McpParam& p) {
  Json s;
  switch (p.type) {
    case McpParamType::kString:
      s = {{"type", "string"}};
      break;
    case McpParamType::kInteger:
      s = {{"type", "integer"}, {"minimum", p.min}, {"maximum", p.max}};
      break;
    case McpParamType::kBoolean:
      s = {{"type", "boolean"}};
      break;
    case McpParamType::kStringMap:
      s = {{"type", "object"}, {"additionalProperties", {{"type", "string"}}}};
      break;
    case McpParamType::kStringArray:
      s = {{"type", "array"}, {"items", {{"type", "string"}}}, {"minItems", 1}};
      break;
    case McpParamType::kCommand:
      s = {{"anyOf",
            Json::array({Json{{"type", "string"}, {"minLength", 1}},
                         Json{{"type", "array"}, {"items", {{"type", "string"}}}, {"minItems", 1}}})}};
      break;
  }
  s["description"] = p.description;
  return s;
}

bool AllStrings(const Json& v) {
  for (const auto& e : v) {
    if (!e.is_string()) return false;
  }
  return true;
}

Status CheckParam(const McpParam& p, const Json& v) {
  const std::string what = std::string("argument \"") + p.name + "\"";
  switch (p.type) {
    case McpParamType::kString:
      if (!v.is_string()) return Error::Invalid(what + " must be a string");
      break;
    case McpParamType::kInteger:
      if (!v.is_number_integer()) return Error::Invalid(what + " must be an integer");
      if ((v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(p.max)) ||
          v.get<int64_t>() < p.min || v.get<int64_t>() > p.max) {
        return Error::Invalid(what + " must be between " + std::to_string(p.min) + " and " +
                              std::to_string(p.max));
      }
      break;
    case McpParamType::kBoolean:
      if (!v.is_boolean()) return Error::Invalid(what + " must be true or false");
      break;
    case McpParamType::kStringMap:
      if (!v.is_object() || !AllStrings(v)) return Error::Invalid(what + " must be an object of strings");
      break;
    case McpParamType::kStringArray:
      if (!v.is_array() || v.empty() || !AllStrings(v)) {
        return Error::Invalid(what + " must be a non-empty array of strings");
      }
      break;
    case McpParamType::kCommand:
      if (v.is_string() && !v.get<std::string>().empty()) break;
      if (v.is_array() && !v.empty() && AllStrings(v)) break;
      return Error::Invalid(what + " must be a non-empty string or a non-empty array of strings");
  }
  return OkStatus();
}

}  // namespace

Json McpInputSchema(const McpTool& tool) {
  Json props = Json::object();
  Json required = Json::array();
  for (const auto& p : tool.params) {
    props[p.name] = ParamSchema(p);
    if (p.required) required.push_back(p.name);
  }
  Json s{{"type", "object"}, {"properties", props}, {"additionalProperties", false}};
  if (!required.empty()) s["required"] = required;
  return s;
}

Status CheckMcpArgs(const McpTool& tool, const Json& args) {
  if (!args.is_object())
    return Error::Invalid("arguments of " + std::string(tool.name) + " must be an object");
  for (const auto& [key, value] : args.items()) {
    bool known = false;
    for (const auto& p : tool.params) known = known || key == p.name;
    if (!known) return Error::Invalid(std::string(tool.name) + " has no argument \"" + key + "\"");
  }
  for (const auto& p : tool.params) {
    auto it = args.find(p.name);
    if (it == args.end() || it->is_null()) {
      if (p.required)
        return Error::Invalid(std::string(tool.name) + " needs the argument \"" + p.name + "\"");
      continue;
    }
    BANGER_RETURN_IF_ERROR(CheckParam(p, *it));
  }
  return OkStatus();
}

Status ValidateVmRef(const std::string& ref) {
  static const std::regex id_prefix("^[0-9a-f]{8,64}$");
  if (std::regex_match(ref, id_prefix)) return OkStatus();
  return ValidateVmName(ref);
}

std::string ConsoleUri(const std::string& name) { return "banger://vms/" + name + "/console"; }

std::string VmOfConsoleUri(const std::string& uri) {
  static const std::string prefix = "banger://vms/", suffix = "/console";
  if (uri.size() <= prefix.size() + suffix.size() || uri.compare(0, prefix.size(), prefix) != 0 ||
      uri.compare(uri.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return "";
  }
  return uri.substr(prefix.size(), uri.size() - prefix.size() - suffix.size());
}

Result<std::string> ConsoleTail(McpBackend& api, const std::string& ref, size_t max_bytes) {
  constexpr size_t kChunk = 1 << 20;  // the most GET .../logs answers at once
  constexpr int kMaxCalls = 256;      // bounds a log that grows as fast as it is read
  std::string tail;
  int64_t offset = 0;
  for (int i = 0; i < kMaxCalls; ++i) {
    BANGER_ASSIGN_OR_RETURN(
        auto r, api.Raw("GET", "/v1/vms/" + UrlEncode(ref) + "/logs?offset=" + std::to_string(offset), "",
                        kReadTimeout));
    tail += r.body;
    if (tail.size() > max_bytes) tail.erase(0, tail.size() - max_bytes);
    int64_t next = 0;
    auto h = r.headers.find("x-banger-next-offset");
    if (h == r.headers.end()) break;
    auto [p, ec] = std::from_chars(h->second.data(), h->second.data() + h->second.size(), next);
    // The end of the log, or it was rotated under us (it starts again).
    if (ec != std::errc() || r.body.size() < kChunk || next <= offset) break;
    offset = next;
  }
  return tail;
}

}  // namespace banger

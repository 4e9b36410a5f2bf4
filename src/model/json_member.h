// One member of a JSON object, indented, straight from the object's text:
// what SafeDump(ParseJson(text)[key], indent) gives, without building the
// tree (for a `vm list --json` of hundreds of VMs, parsing and re-dumping
// was most of the CLI's work).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace banger {

// The value of `key` in the JSON object `text`, dumped with `indent` (>= 0)
// exactly as SafeDump(ParseJson(text).value(key, fallback), indent) would
// (`fallback` is already dumped: "[]" for an empty array). nullopt when
// `text` is not a valid JSON object: the caller parses it the slow way to
// say why.
std::optional<std::string> IndentedJsonMember(std::string_view text, std::string_view key, int indent,
                                              std::string_view fallback);

}  // namespace banger

// The subset of Go's text/template that `--format '{{...}}'` takes, as docker
// users write it (docs/cli.md, "Output formats"). A template is text with
// actions in {{ }}; it is parsed once, strictly (a bad one is one error
// line), then executed per item of a list. Pure functions: fuzzed
// (fuzz/gotemplate_fuzzer.cc).
//
// Actions:
//   {{.}}                    the item
//   {{.Field}} {{.a.b.c}}    a field, nested; each name is the JSON key as
//                            written, else its snake_case form (Name -> name,
//                            GuestIP -> guest_ip, CreatedAt -> created_at)
//   {{json .Field}}          the value as compact JSON (also {{json .}})
//   {{upper .F}} {{lower .F}} the string value's case changed
//   {{- ...}} {{... -}}      trim the white space before / after the action
// In the text, \t and \n (backslash, letter) are a tab and a newline.
// Values: strings as they are, numbers and booleans as JSON writes them,
// objects and arrays as compact JSON, an absent field or null as "".
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "model/json.h"

namespace banger {

class GoTemplate {
 public:
  // The parsed template, or the first problem: "unclosed action at byte 3",
  // "unknown function \"foo\"", "bad field \".a..b\"", ...
  static Result<GoTemplate> Parse(std::string_view text);

  // The template's text for one item.
  std::string Execute(const Json& item) const;
  // The header of a table: the template with each action replaced by its
  // field's name in capitals, underscores as spaces (.GuestIP -> GUEST IP;
  // {{.}} -> "").
  std::string Header() const;

 private:
  enum class Func { kNone, kJson, kUpper, kLower };
  struct Node {
    bool action = false;
    std::string text;               // a text node's text
    Func func = Func::kNone;        // an action's function
    std::vector<std::string> path;  // an action's field path (empty: the item itself)
  };
  std::vector<Node> nodes_;
};

// "GuestIP" -> "guest_ip", "ID" -> "id", "CreatedAt" -> "created_at",
// "name" -> "name".
std::string SnakeCase(std::string_view name);

}  // namespace banger

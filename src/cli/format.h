// --format and -q/--quiet of the list commands (docs/cli.md, "Output
// formats"), and the YAML form of API JSON. Pure functions of their inputs.
//
//   (none) | table       the command's own table
//   json (or --json)     the API's JSON array, 2-space indented
//   yaml                 the same JSON as YAML (yaml-cpp, docs/adr/0034)
//   '{{.Name}} ...'      a Go template per item, one line each (cli/gotemplate.h)
//   'table {{.Name}}\t{{.State}}'  the same as aligned columns under a header
//   -q                   the items' ids, one per line
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "base/result.h"
#include "cli/gotemplate.h"
#include "model/json.h"

namespace banger {

// The flags as parsed.
struct ListFormatFlags {
  std::string format;
  bool quiet = false;
};

enum class ListStyle { kTable, kJson, kYaml, kTemplate, kQuiet };

struct ListFormat {
  ListStyle style = ListStyle::kTable;
  bool template_table = false;     // "table {{...}}"
  std::optional<GoTemplate> tmpl;  // kTemplate
};

// Checks the flags (with the global --json): a bad template, an unknown
// format word, or --quiet with --format/--json is the one error line.
Result<ListFormat> ParseListFormat(const ListFormatFlags& f, bool json_flag);

// The list's text. `table` renders the default table; `id` gives an item's
// id for -q.
std::string RenderList(const ListFormat& format, const Json& items,
                       const std::function<std::string(const Json&)>& table,
                       const std::function<std::string(const Json&)>& id);

// One object (banger version) in a format: json, yaml or a template
// (table templates print a header, then the one row).
std::string RenderOne(const ListFormat& format, const Json& object);

// The YAML form of `j`: block style, strings that YAML would read as
// another type (numbers, true, null, ...) quoted. Ends with a newline.
std::string RenderYaml(const Json& j);

}  // namespace banger

// Man pages generated from the CLI's own command tree (`banger __man DIR`,
// docs/adr/0033-completion-and-man-from-the-cli-tree.md): banger(1) with the
// global options, environment, files and exit status; one page per command
// group (banger-vm(1), listing its commands) and per command
// (banger-vm-create(1), with its arguments and options), as git and docker do.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "cli/completion.h"

namespace banger {

struct ManPage {
  std::string file;  // "banger-vm-create.1"
  std::string text;  // roff (man macros)
};

// Every page. `version` goes in the footer ("banger 0.1.0"), `date` (YYYY-MM-DD)
// in the header.
std::vector<ManPage> ManPages(const CommandSpec& root, const std::string& version, const std::string& date);

// Writes ManPages into `dir` (created if missing), dated from
// $SOURCE_DATE_EPOCH when set (reproducible packages), else today (UTC).
Status WriteManPages(const CommandSpec& root, const std::string& dir);

// `text` for roff: backslashes escaped, a line starting with . or ' guarded.
std::string RoffEscape(const std::string& text);

}  // namespace banger

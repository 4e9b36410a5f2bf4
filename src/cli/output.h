// Text the CLI prints: aligned tables and "key: value" views of the API's
// JSON, plus the --json form. Pure functions of their inputs (the clock is a
// parameter), so tests pin the exact output.
//
// API objects are read leniently here (a missing or oddly typed field shows
// as empty): output must not fail because the daemon added a field.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "base/time.h"
#include "model/json.h"

namespace banger {

using KeyValues = std::vector<std::pair<std::string, std::string>>;

// Columns padded to their widest cell and separated by three spaces, as
// docker does; the last column is not padded. Ends with a newline.
std::string RenderTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows);

// "key:   value" lines with the values aligned. Ends with a newline.
std::string RenderKeyValues(const KeyValues& kv);

// The --json form: 2-space indented, newline-terminated.
std::string RenderJson(const Json& j);

// "just now", "5 minutes ago", "3 days ago"; "" for the zero time.
std::string FormatAge(Timestamp t, Timestamp now);

// The first 12 characters of an id, as docker shows them.
std::string ShortId(const std::string& id);

// The string at a JSON pointer ("/runtime/guest_ip"), "" when absent or not
// a string; numbers are rendered as decimal.
std::string JsonText(const Json& j, const std::string& pointer);
// The integer at a JSON pointer, 0 when absent or not an integer.
int64_t JsonInt(const Json& j, const std::string& pointer);

// Image ids to names, from GET /v1/images's "images" array.
std::map<std::string, std::string> ImageNamesById(const Json& images);

// `vm list`: ID (12 characters) NAME STATE IMAGE VCPUS MEMORY IP BACKEND CREATED.
std::string RenderVmTable(const Json& vms, const std::map<std::string, std::string>& image_names,
                          Timestamp now);
// `vm show`.
KeyValues VmDetails(const Json& vm, const std::string& image_name);

// "0 B", "512 B", "5.7 MiB", "1.0 GiB" (docker stats style, binary units).
std::string HumanBytes(int64_t bytes);
// `vm stats`, from GET /v1/vms/{ref}/stats.
KeyValues VmStatsDetails(const Json& stats_answer, Timestamp now);

// An image's SOURCE: minimal | debian[+docker] | import | REF@sha256:12hex.
std::string ImageSourceText(const Json& image);
// `image list`: NAME ID SOURCE SIZE FLAVOUR CREATED.
std::string RenderImageTable(const Json& images, Timestamp now);
// `image show`.
KeyValues ImageDetails(const Json& image);

// The last `n` lines of `text` (a last line without its newline counts);
// all of it when it has fewer.
std::string LastLines(const std::string& text, size_t n);
// `vm logs --tail`: "all" (nullopt) or a whole number of lines.
Result<std::optional<int64_t>> ParseTailFlag(const std::string& raw);
// `vm logs --since`: a duration back from `now_ms` (Go-style units h, m, s,
// ms combined: 10m, 1h30m, 2s, 500ms), an RFC 3339 UTC time
// (2026-11-30T16:00:00Z) or unix seconds (1796054400, 1796054400.25); the
// time it names, in unix ms.
Result<int64_t> ParseSinceFlag(const std::string& raw, int64_t now_ms);
// Unix ms as the API's `since` wants them: unix seconds, "1796054400.250".
std::string UnixSecondsText(int64_t unix_ms);

// `daemon status` for a running daemon, from its ping answer.
KeyValues DaemonDetails(const Json& ping, const std::string& socket);

}  // namespace banger

// skopeo's and umoci's stderr, boiled down to one line a user can act on.
// Pure.
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"

namespace banger {

// The error for a failed `skopeo` run about `what` (a reference or path):
//   manifest unknown        -> NotFound   "REF: no such image or tag (manifest unknown)"
//   401 / unauthorized      -> Invalid    "REF: unauthorized: ..."
//   429 / toomanyrequests   -> Unavailable "REF: too many requests ..."
//   5xx                     -> Unavailable "REF: registry server error (...)"
//   no linux/amd64 manifest -> NotFound   "REF: no linux/amd64 image"
//   digest mismatch         -> Internal   "REF: digest mismatch ..."
//   connection refused      -> Unavailable "REF: connection refused ..."
//   HTTP answer to HTTPS    -> Unavailable "... use --insecure"
// anything else: the last line, without logrus' `time=... level=fatal msg=`.
Error SkopeoError(std::string_view stderr_text, const std::string& what);

// The message of the last meaningful stderr line (logrus framing removed).
std::string ToolMessage(std::string_view stderr_text);

}  // namespace banger

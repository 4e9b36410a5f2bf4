// Helpers shared by http.cc (the server) and http_client.cc. Internal to
// banger_http.
#pragma once

#include <string>

namespace banger::http_internal {

// ASCII lower case, for header names.
std::string Lower(std::string s);

}  // namespace banger::http_internal

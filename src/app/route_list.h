// The daemon's route table without a running daemon: `bangerd --list-routes`
// (and the OpenAPI conformance test, tests/conformance, which checks that
// docs/openapi.yaml documents exactly these routes).
#pragma once

#include <string>
#include <vector>

#include "base/result.h"

namespace banger {

// "METHOD PATTERN ACCESS" lines ("GET /v1/vms/{ref} any"), sorted by pattern
// then method, of the ApiRouter bangerd serves: the same constructor, over
// inert services (an in-memory store, a home that is never touched, no VMM
// backends), so the list cannot drift from what the daemon answers.
// Registering routes calls none of the services.
Result<std::vector<std::string>> ApiRouteLines();

}  // namespace banger

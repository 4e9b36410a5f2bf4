// Test-only fault injection: named points where a test can have the process
// SIGKILL itself, to prove that every step of an operation is crash-safe.
//
//   BANGER_FAULT_POINT("vm.create.row_written");
//
// With the CMake option BANGER_FAULT_INJECTION on (the default for developer
// and test builds; a package build passes -DBANGER_FAULT_INJECTION=OFF) a
// point kills the process when the environment variable
// BANGER_FAULT=<point>[:<n>] names it, on its n-th hit (default 1). With the
// option off the macro expands to nothing and Points() is empty.
//
// Every point must be listed in kFaultPoints (fault.cc): the chaos test reads
// that list (`bangerd --list-fault-points`) to cover every step, and a unit
// test checks that the sources and the list agree.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace banger::fault {

// True when this build has fault injection compiled in.
bool Enabled();

// Every fault point of the daemon and the image builder, in step order
// (empty when fault injection is compiled out).
const std::vector<std::string>& Points();

// What BANGER_FAULT asks for: the point and the hit that fires (1-based).
struct Arming {
  std::string point;
  int nth = 1;
};
// Parses "<point>[:<n>]"; empty point when the spec is empty or malformed.
Arming ParseArming(std::string_view spec);

// Counts a hit of `point` and SIGKILLs the process when it is the armed hit.
// A name missing from Points() aborts (a typo would be a point no test covers).
void Hit(const char* point);

}  // namespace banger::fault

#if defined(BANGER_FAULT_INJECTION) && BANGER_FAULT_INJECTION
#define BANGER_FAULT_POINT(name) ::banger::fault::Hit(name)
#else
#define BANGER_FAULT_POINT(name) \
  do {                           \
  } while (0)
#endif

// The banger command line: parses argv with CLI11, runs the selected
// command and returns the process exit code (see cli/context.h).
#pragma once

namespace banger {

int RunCli(int argc, char** argv);

}  // namespace banger

// What every CLI command gets: the global options, the API client, and the
// conventions for output and exit codes (see docs/cli.md):
//   0 success; 1 the operation failed (one stderr line "banger: <message>");
//   2 usage error; 125 is kept for exec-family commands.
// Single-threaded, like the CLI.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "api/client.h"
#include "base/result.h"
#include "model/json.h"

namespace banger {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;

struct GlobalOptions {
  std::string home;    // --home ("" = BANGER_HOME or the default)
  std::string config;  // --config ("" = BANGER_CONFIG or <home>/config.toml)
  bool json = false;   // --json
};

// Prints "banger: <message>" on stderr and returns `exit_code`.
int Report(const Error& e, int exit_code = kExitFailed);
// kExitOk, or the reported failure.
int ExitCode(const Status& st);
// Makes Ctrl-C end the process with kExitOk: it is how a user ends a
// --follow stream, a normal end rather than a failure. Output is flushed as
// it is written, so nothing is lost.
void ExitOkOnInterrupt();

class CliContext {
 public:
  explicit CliContext(GlobalOptions opts);

  bool json() const { return opts_.json; }
  // Whether a person is watching: progress lines go to stderr only when both
  // stdout and stderr are terminals, so piped and scripted use stays quiet.
  bool interactive() const { return interactive_; }

  // The client for this home; it does not start a daemon.
  ApiClient& client() { return client_; }
  // client() once a daemon answers, started in the background when none did.
  Result<ApiClient*> Connect();

  // A progress line ("creating vm web..."), shown only when interactive().
  void Progress(const std::string& line) const;
  // Writes to stdout and flushes, so streamed output appears as it comes.
  void Out(const std::string& text) const;
  // The --json form of an API object or array.
  void OutJson(const Json& j) const;
  // What a mutating command prints: the object with --json, else its name.
  void OutNameOrJson(const Json& j) const;

 private:
  GlobalOptions opts_;
  ApiClient client_;
  bool interactive_;
};

// The action of the subcommand the command line selected, run after parsing.
using Command = std::function<int(CliContext&)>;

}  // namespace banger

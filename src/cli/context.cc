#include "cli/context.h"

#include <unistd.h>

#include <csignal>
#include <iostream>

#include "cli/output.h"
#include "config/config.h"

namespace banger {
namespace {

ApiClient MakeClient(const GlobalOptions& opts) {
  HomeLayout home{ResolveClientHome(opts.home)};
  return ApiClient(home, ResolveConfigPath(opts.config, home));
}

}  // namespace

int Report(const Error& e, int exit_code) {
  std::cerr << "banger: " << e.message() << std::endl;
  return exit_code;
}

int ExitCode(const Status& st) { return st.ok() ? kExitOk : Report(st.error()); }

void ExitOkOnInterrupt() {
  std::signal(SIGINT, [](int) { _exit(kExitOk); });
}

CliContext::CliContext(GlobalOptions opts)
    : opts_(std::move(opts)), client_(MakeClient(opts_)), interactive_(::isatty(1) && ::isatty(2)) {}

Result<ApiClient*> CliContext::Connect() {
  BANGER_RETURN_IF_ERROR(client_.EnsureDaemon());
  return &client_;
}

void CliContext::Progress(const std::string& line) const {
  if (interactive_) std::cerr << line << std::endl;
}

void CliContext::Out(const std::string& text) const { std::cout << text << std::flush; }

void CliContext::OutJson(const Json& j) const { Out(RenderJson(j)); }

void CliContext::OutNameOrJson(const Json& j) const {
  if (json()) {
    OutJson(j);
  } else {
    Out(JsonText(j, "/name") + "\n");
  }
}

}  // namespace banger

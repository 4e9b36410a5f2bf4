// The CLI end to end against a fake daemon: argv in, exit code and output
// out (app_test.cc, app_conventions_test.cc).
#pragma once

#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <vector>

#include "api/fake_daemon_test.h"
#include "cli/app.h"
#include "http/http.h"
#include "model/json.h"

namespace banger {

struct Outcome {
  int code;
  std::string out;
  std::string err;
};

class CliTest : public FakeDaemonTest {
 public:  // for the helpers of the tests that use it
  // A fake daemon: answers ping itself and everything else with `h`,
  // recording the requests.
  void Serve(const HttpHandler& h) {
    FakeDaemonTest::Serve([this, h](const HttpRequest& r) {
      if (r.Path() == "/v1/ping") return Answer(200, {{"version", "0.1.0"}, {"pid", 1}});
      std::lock_guard<std::mutex> l(mu_);
      requests_.push_back(r);
      return h(r);
    });
  }

  Outcome Run(std::vector<std::string> args) {
    args.insert(args.begin(), "banger");
    args.push_back("--home");
    args.push_back(home_.root);
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    testing::internal::CaptureStdout();
    testing::internal::CaptureStderr();
    int code = RunCli(static_cast<int>(args.size()), argv.data());
    std::string out = testing::internal::GetCapturedStdout();
    return {code, out, testing::internal::GetCapturedStderr()};
  }

  static HttpResponse Answer(int status, const Json& j) {
    HttpResponse r;
    r.status = status;
    r.body = j.dump();
    return r;
  }
  static HttpResponse NotFound(const std::string& what) {
    return Answer(404, {{"error", {{"code", "not_found"}, {"message", what + " not found"}}}});
  }
  std::vector<HttpRequest> Requests() {
    std::lock_guard<std::mutex> l(mu_);
    return requests_;
  }

  std::mutex mu_;
  std::vector<HttpRequest> requests_;  // Guarded by mu_.
};

}  // namespace banger

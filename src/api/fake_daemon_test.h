// Test-only: the fixture of the API's client tests (api/client_test.cc,
// cli/app_test.cc). A home in a fresh temp dir, with a fake daemon (an
// HttpServer answering with the test's handler) on its socket; starting a
// real daemon fails visibly, as BANGER_BANGERD names a path that does not
// exist.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <thread>

#include "config/config.h"
#include "http/http.h"

namespace banger {

class FakeDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/banger-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    home_.root = tmpl;
    ::setenv("BANGER_BANGERD", (home_.root + "/no-such-bangerd").c_str(), 1);
  }
  void TearDown() override {
    StopServer();
    ::unsetenv("BANGER_BANGERD");
    std::filesystem::remove_all(home_.root);
  }
  void Serve(const HttpHandler& h) {
    auto s = HttpServer::ListenUnix(home_.Socket(), 0600);
    ASSERT_TRUE(s.ok()) << s.error().message();
    server_ = std::move(*s);
    thread_ = std::thread([this, h] { server_->Serve(h); });
  }
  void StopServer() {
    if (server_) server_->Shutdown();
    if (thread_.joinable()) thread_.join();
    server_.reset();
  }

  HomeLayout home_;
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
};

}  // namespace banger

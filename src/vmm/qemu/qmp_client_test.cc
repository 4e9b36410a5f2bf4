#include "vmm/qemu/qmp_client.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <thread>

#include "base/testing/temp_dir.h"

namespace banger {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// A scripted QMP server for one connection. `reply` maps each request line
// to the raw text to send back ("" = stay silent); returning std::nullopt
// closes the connection.
class FakeQmp {
 public:
  using Reply = std::function<std::optional<std::string>(const Json& request)>;

  FakeQmp(const std::string& path, std::string greeting, Reply reply)
      : greeting_(std::move(greeting)), reply_(std::move(reply)) {
    listen_fd_.Reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    ::unlink(path.c_str());
    EXPECT_EQ(::bind(listen_fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(listen_fd_.get(), 1), 0);
    thread_ = std::thread([this] { Serve(); });
  }
  // Tests destroy their client first, which ends Serve()'s read loop; the
  // listener shutdown wakes an accept() nobody connected to.
  ~FakeQmp() {
    ::shutdown(listen_fd_.get(), SHUT_RDWR);
    thread_.join();
  }

 private:
  void Send(const std::string& text) {
    ssize_t n = ::send(conn_fd_.get(), text.data(), text.size(), MSG_NOSIGNAL);
    (void)n;
  }

  void Serve() {
    conn_fd_.Reset(::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn_fd_.valid()) return;
    Send(greeting_);
    std::string buf;
    char chunk[1024];
    while (true) {
      ssize_t n = ::recv(conn_fd_.get(), chunk, sizeof chunk, 0);
      if (n <= 0) return;
      buf.append(chunk, static_cast<size_t>(n));
      size_t nl;
      while ((nl = buf.find('\n')) != std::string::npos) {
        Json req = Json::parse(buf.substr(0, nl));
        buf.erase(0, nl + 1);
        auto out = reply_(req);
        if (!out) {
          ::shutdown(conn_fd_.get(), SHUT_RDWR);
          return;
        }
        Send(*out);
      }
    }
  }

  std::string greeting_;
  Reply reply_;
  UniqueFd listen_fd_;
  UniqueFd conn_fd_;
  std::thread thread_;
};

constexpr const char* kGreeting =
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}}, \"capabilities\": "
    "[]}}\r\n";

std::string Answer(const Json& req, const Json& ret) {
  return Json{{"return", ret}, {"id", req["id"]}}.dump() + "\r\n";
}

class QmpClientTest : public ::testing::Test {
 protected:
  testing::TempDir dir_{"bgqmp"};
  std::string sock_ = dir_ / "qmp.sock";
};

TEST_F(QmpClientTest, NegotiatesThenSkipsEvents) {
  std::vector<std::string> commands;
  FakeQmp server(sock_, kGreeting, [&](const Json& req) -> std::optional<std::string> {
    commands.push_back(req["execute"]);
    if (req["execute"] == "query-status") {
      // An event first, and the answer in a form QEMU may use: CRLF, keys
      // in any order, our id echoed.
      return "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"RESUME\"}\r\n" +
             Answer(req, {{"running", true}, {"status", "running"}});
    }
    return Answer(req, Json::object());
  });
  auto qmp = QmpClient::Connect(sock_, seconds(5));
  ASSERT_TRUE(qmp.ok()) << qmp.error().message();
  auto status = qmp->Execute("query-status", seconds(5));
  ASSERT_TRUE(status.ok()) << status.error().message();
  EXPECT_EQ((*status)["status"], "running");
  EXPECT_EQ(commands, (std::vector<std::string>{"qmp_capabilities", "query-status"}));
}

TEST_F(QmpClientTest, PassesArguments) {
  Json seen;
  FakeQmp server(sock_, kGreeting, [&](const Json& req) -> std::optional<std::string> {
    if (req["execute"] == "human-monitor-command") seen = req["arguments"];
    return Answer(req, Json::object());
  });
  auto qmp = QmpClient::Connect(sock_, seconds(5));
  ASSERT_TRUE(qmp.ok()) << qmp.error().message();
  ASSERT_TRUE(qmp->Execute("human-monitor-command", seconds(5), {{"command-line", "info status"}}).ok());
  EXPECT_EQ(seen, Json::parse(R"({"command-line":"info status"})"));
}

TEST_F(QmpClientTest, ErrorReplyCarriesQemusText) {
  FakeQmp server(sock_, kGreeting, [&](const Json& req) -> std::optional<std::string> {
    if (req["execute"] == "bogus") {
      return Json{{"error", {{"class", "CommandNotFound"}, {"desc", "The command bogus has not been found"}}},
                  {"id", req["id"]}}
                 .dump() +
             "\n";
    }
    return Answer(req, Json::object());
  });
  auto qmp = QmpClient::Connect(sock_, seconds(5));
  ASSERT_TRUE(qmp.ok()) << qmp.error().message();
  auto res = qmp->Execute("bogus", seconds(5));
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().message(), "QMP bogus: The command bogus has not been found");
}

TEST_F(QmpClientTest, SilentServerTimesOut) {
  FakeQmp server(sock_, kGreeting, [&](const Json& req) -> std::optional<std::string> {
    if (req["execute"] == "stop") return "";
    return Answer(req, Json::object());
  });
  auto qmp = QmpClient::Connect(sock_, seconds(5));
  ASSERT_TRUE(qmp.ok()) << qmp.error().message();
  auto start = std::chrono::steady_clock::now();
  auto res = qmp->Execute("stop", milliseconds(200));
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().kind(), ErrorKind::kTimeout);
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(2));
}

TEST_F(QmpClientTest, ClosedConnectionIsUnavailable) {
  FakeQmp server(sock_, kGreeting, [](const Json&) -> std::optional<std::string> { return std::nullopt; });
  auto qmp = QmpClient::Connect(sock_, seconds(5));
  ASSERT_FALSE(qmp.ok());
  EXPECT_EQ(qmp.error().kind(), ErrorKind::kUnavailable);
  EXPECT_NE(qmp.error().message().find("connection closed"), std::string::npos) << qmp.error().message();
}

TEST_F(QmpClientTest, WrongGreetingIsRefused) {
  FakeQmp server(sock_, "{\"hello\": 1}\n",
                 [](const Json& req) -> std::optional<std::string> { return Answer(req, Json::object()); });
  auto qmp = QmpClient::Connect(sock_, seconds(5));
  ASSERT_FALSE(qmp.ok());
  EXPECT_NE(qmp.error().message().find("unexpected greeting"), std::string::npos) << qmp.error().message();
}

TEST_F(QmpClientTest, NoListenerIsUnavailable) {
  auto qmp = QmpClient::Connect(sock_, seconds(1));
  ASSERT_FALSE(qmp.ok());
  EXPECT_EQ(qmp.error().kind(), ErrorKind::kUnavailable);
}

}  // namespace
}  // namespace banger

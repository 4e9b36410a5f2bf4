// The HTTP client side: one request per connection on a Unix socket (the
// WebSocket client is ws.cc).
#include "http/http.h"
#include "http/http_internal.h"

namespace banger {

namespace {

// The Beast form of a client request; bodies default to JSON.
Result<bhttp::request<bhttp::string_body>> BuildRequest(const HttpRequest& req) {
  bhttp::verb verb = bhttp::string_to_verb(req.method);
  if (verb == bhttp::verb::unknown) return Error::Invalid("bad HTTP method " + req.method);
  bhttp::request<bhttp::string_body> r{verb, req.target, 11};
  r.set(bhttp::field::host, "localhost");
  r.set(bhttp::field::user_agent, "banger");
  for (const auto& [k, v] : req.headers) r.set(k, v);
  if (!req.body.empty() || verb == bhttp::verb::put || verb == bhttp::verb::post ||
      verb == bhttp::verb::patch) {
    if (!req.headers.count("content-type")) r.set(bhttp::field::content_type, "application/json");
    r.body() = req.body;
    r.prepare_payload();
  }
  return r;
}

// One request and its response on a unix socket. Async operations driven
// by run_for() give one deadline for the whole exchange; blocking Beast
// calls would ignore socket timeouts.
struct UnixExchange {
  explicit UnixExchange(uint64_t body_limit) { parser.body_limit(body_limit); }

  // Connects to `socket_path` and writes `r`, then calls `read`, which must
  // set `result`; a failure on the way sets it. `stage` names the step.
  template <typename Read>
  void Start(const std::string& socket_path, bhttp::request<bhttp::string_body>& r, Read read) {
    sock.async_connect(local::endpoint(socket_path), [this, &r, read](beast::error_code ec) {
      if (ec) {
        result = ec;
        return;
      }
      stage = "writing request to";
      bhttp::async_write(sock, r, [this, read](beast::error_code ec2, size_t) {
        if (ec2) {
          result = ec2;
          return;
        }
        stage = "reading response from";
        read();
      });
    });
  }

  // Runs the exchange for up to `timeout`; false when it did not finish.
  bool Run(std::chrono::milliseconds timeout) {
    ioc.run_for(timeout);
    return result != asio::error::would_block;
  }

  asio::io_context ioc;
  local::socket sock{ioc};
  beast::flat_buffer buf;
  bhttp::response_parser<bhttp::string_body> parser;
  beast::error_code result = asio::error::would_block;
  std::string stage = "connecting to";
};

Error NoAnswer(const HttpRequest& req, const std::string& socket_path, std::chrono::milliseconds timeout) {
  return Error::Timeout(req.method + " " + req.target + " on " + socket_path + ": no answer within " +
                        std::to_string(timeout.count()) + "ms");
}

std::map<std::string, std::string> LowerCaseHeaders(const bhttp::response<bhttp::string_body>& res) {
  std::map<std::string, std::string> headers;
  for (const auto& f : res) headers[Lower(std::string(f.name_string()))] = std::string(f.value());
  return headers;
}

}  // namespace

Result<HttpResponse> UnixHttpCall(const std::string& socket_path, const HttpRequest& req,
                                  std::chrono::milliseconds timeout) {
  BANGER_ASSIGN_OR_RETURN(auto r, BuildRequest(req));
  r.keep_alive(false);

  UnixExchange x(uint64_t{64} * 1024 * 1024);
  x.Start(socket_path, r, [&x] {
    bhttp::async_read(x.sock, x.buf, x.parser, [&x](beast::error_code ec, size_t) { x.result = ec; });
  });
  if (!x.Run(timeout)) {
    beast::error_code ignored;
    x.sock.close(ignored);
    return NoAnswer(req, socket_path, timeout);
  }
  if (x.result) return Error::Unavailable(x.stage + " " + socket_path + ": " + x.result.message());
  auto res = x.parser.release();
  HttpResponse out;
  out.status = static_cast<int>(res.result_int());
  out.body = std::move(res.body());
  out.headers = LowerCaseHeaders(res);
  auto ct = out.headers.find("content-type");
  out.content_type = ct == out.headers.end() ? "" : ct->second;
  return out;
}

}  // namespace banger

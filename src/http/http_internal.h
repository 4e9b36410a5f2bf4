// What http.cc (the server) and http_client.cc share: the Beast namespace
// names and a helper. Internal to banger_http: only these two files include
// it (and with it Beast).
#pragma once

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <string>

namespace banger {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace asio = boost::asio;
using local = asio::local::stream_protocol;

namespace http_internal {

// ASCII lower case, for header names.
std::string Lower(std::string s);

}  // namespace http_internal

using http_internal::Lower;

}  // namespace banger

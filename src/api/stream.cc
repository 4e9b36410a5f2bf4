#include "api/stream.h"

#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>

#include "model/json.h"

namespace banger {

Status WriteStreamFrame(int fd, StreamType type, std::string_view payload) {
  if (payload.size() > kMaxStreamPayload) return Error::Invalid("stream frame too large");
  char head[5];
  head[0] = static_cast<char>(type);
  uint32_t n = static_cast<uint32_t>(payload.size());
  head[1] = static_cast<char>(n >> 24);
  head[2] = static_cast<char>(n >> 16);
  head[3] = static_cast<char>(n >> 8);
  head[4] = static_cast<char>(n);
  iovec iov[2] = {{head, sizeof head}, {const_cast<char*>(payload.data()), payload.size()}};
  size_t total = sizeof head + payload.size(), done = 0;
  while (done < total) {
    msghdr msg{};
    // Skip what has been written already.
    iovec cur[2];
    int cnt = 0;
    size_t skip = done;
    for (auto& v : iov) {
      if (skip >= v.iov_len) {
        skip -= v.iov_len;
        continue;
      }
      cur[cnt++] = {static_cast<char*>(v.iov_base) + skip, v.iov_len - skip};
      skip = 0;
    }
    msg.msg_iov = cur;
    msg.msg_iovlen = cnt;
    ssize_t w = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOTSOCK) {
        w = ::writev(fd, cur, cnt);
        if (w < 0 && errno == EINTR) continue;
      }
      if (w < 0) return Error::FromErrno("writing stream");
    }
    done += static_cast<size_t>(w);
  }
  return OkStatus();
}

Status StreamReader::Fill(size_t need) {
  char tmp[65536];
  while (buf_.size() < need && !eof_) {
    ssize_t n = ::read(fd_, tmp, sizeof tmp);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::FromErrno("reading stream");
    }
    if (n == 0) {
      eof_ = true;
      break;
    }
    buf_.append(tmp, static_cast<size_t>(n));
  }
  return OkStatus();
}

Result<std::optional<StreamFrame>> StreamReader::Next() {
  BANGER_RETURN_IF_ERROR(Fill(5));
  if (buf_.empty() && eof_) return std::optional<StreamFrame>{};
  if (buf_.size() < 5) return Error::Unavailable("stream ended inside a frame header");
  auto byte = [this](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(buf_[i])); };
  uint32_t n = byte(1) << 24 | byte(2) << 16 | byte(3) << 8 | byte(4);
  if (n > kMaxStreamPayload)
    return Error::Invalid("stream frame too large (" + std::to_string(n) + " bytes)");
  // Fill may reallocate buf_: read nothing through pointers taken before it.
  BANGER_RETURN_IF_ERROR(Fill(5 + n));
  if (buf_.size() < 5 + n) return Error::Unavailable("stream ended inside a frame");
  StreamFrame f;
  f.type = static_cast<StreamType>(byte(0));
  f.payload = buf_.substr(5, n);
  buf_.erase(0, 5 + n);
  return std::optional<StreamFrame>(std::move(f));
}

std::string EncodeErrorFrame(const Error& e) {
  Json j{{"code", ErrorKindName(e.kind())}, {"message", e.message()}};
  return SafeDump(j);
}

Error DecodeErrorFrame(const std::string& payload) {
  auto j = ParseJson(payload);
  if (!j.ok() || !j->is_object() || !(*j)["message"].is_string()) return Error::Internal(payload);
  ErrorKind kind = ErrorKind::kInternal;
  if ((*j)["code"].is_string()) {
    for (auto k : {ErrorKind::kInvalidArgument, ErrorKind::kNotFound, ErrorKind::kConflict,
                   ErrorKind::kUnavailable, ErrorKind::kTimeout}) {
      if ((*j)["code"].get<std::string>() == ErrorKindName(k)) kind = k;
    }
  }
  return Error(kind, (*j)["message"].get<std::string>());
}

std::string EncodeResize(uint16_t rows, uint16_t cols) {
  return {static_cast<char>(rows >> 8), static_cast<char>(rows), static_cast<char>(cols >> 8),
          static_cast<char>(cols)};
}

bool DecodeResize(std::string_view p, uint16_t& rows, uint16_t& cols) {
  if (p.size() != 4) return false;
  auto u = [&](size_t i) { return static_cast<uint16_t>(static_cast<unsigned char>(p[i])); };
  rows = static_cast<uint16_t>(u(0) << 8 | u(1));
  cols = static_cast<uint16_t>(u(2) << 8 | u(3));
  return true;
}

}  // namespace banger

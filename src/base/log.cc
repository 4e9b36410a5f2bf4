#include "base/log.h"

#include <fcntl.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mutex>
#include <vector>

#include "base/unique_fd.h"

namespace banger {
namespace {

// A size-rotated log file written with write(2) on an O_CLOEXEC|O_APPEND fd
// of mode 0600 (spdlog's own file sinks fopen() without O_CLOEXEC and with
// the umask's mode).
class RotatingFileSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  static Result<std::shared_ptr<RotatingFileSink>> Open(const std::string& path, LogFileLimits limits) {
    auto sink = std::shared_ptr<RotatingFileSink>(new RotatingFileSink(path, limits));
    BANGER_RETURN_IF_ERROR(sink->Reopen());
    return sink;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t buf;
    formatter_->format(msg, buf);
    if (size_ > 0 && size_ + static_cast<int64_t>(buf.size()) > limits_.max_bytes) Rotate();
    if (!fd_.valid()) return;
    size_t off = 0;
    while (off < buf.size()) {
      ssize_t n = ::write(fd_.get(), buf.data() + off, buf.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // a full disk: the line is lost, the daemon goes on
      off += static_cast<size_t>(n);
    }
    size_ += static_cast<int64_t>(off);
  }
  void flush_() override {}  // write(2) leaves nothing buffered here

 private:
  RotatingFileSink(std::string path, LogFileLimits limits) : path_(std::move(path)), limits_(limits) {}

  std::string Numbered(int i) const { return i == 0 ? path_ : path_ + "." + std::to_string(i); }

  Status Reopen() {
    fd_ = UniqueFd(::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd_.valid()) return Error::FromErrno("opening log file " + path_);
    ::fchmod(fd_.get(), 0600);
    struct stat st {};
    size_ = ::fstat(fd_.get(), &st) == 0 ? st.st_size : 0;
    return OkStatus();
  }

  void Rotate() {
    if (limits_.max_files <= 0) {
      if (::ftruncate(fd_.get(), 0) == 0) size_ = 0;
      return;
    }
    (void)::unlink(Numbered(limits_.max_files).c_str());
    for (int i = limits_.max_files - 1; i >= 0; --i)
      (void)::rename(Numbered(i).c_str(), Numbered(i + 1).c_str());
    if (!Reopen().ok()) fd_.Reset();
  }

  std::string path_;
  LogFileLimits limits_;
  UniqueFd fd_;
  int64_t size_ = 0;
};

}  // namespace

Status InitLogging(const std::string& level, const std::string& file, bool also_stderr,
                   LogFileLimits limits) {
  auto lvl = spdlog::level::from_str(level.empty() ? "info" : level);
  if (lvl == spdlog::level::off && level != "off") {
    return Error::Invalid("log_level: unknown level \"" + level + "\" (use debug, info, warn, error)");
  }
  std::vector<spdlog::sink_ptr> sinks;
  if (!file.empty()) {
    BANGER_ASSIGN_OR_RETURN(auto sink, RotatingFileSink::Open(file, limits));
    sinks.push_back(std::move(sink));
  }
  if (also_stderr || file.empty()) sinks.push_back(std::make_shared<spdlog::sinks::stderr_sink_mt>());
  auto logger = std::make_shared<spdlog::logger>("banger", sinks.begin(), sinks.end());
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::info);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%t] %v");
  spdlog::set_default_logger(logger);
  return OkStatus();
}

}  // namespace banger

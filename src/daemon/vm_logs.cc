// VmService::ReadLogs: the VM's console log from an offset, waiting a bounded
// time for new bytes (vm logs, --follow, the web UI's console view).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "base/unique_fd.h"
#include "daemon/console_times.h"
#include "daemon/vm_service.h"

namespace banger {

Result<LogChunk> VmService::ReadLogs(const std::string& ref, int64_t offset, size_t max_bytes,
                                     std::chrono::milliseconds wait) {
  if (offset < 0) return Error::Invalid("offset must not be negative");
  BANGER_ASSIGN_OR_RETURN(VmRecord vm, d_.store->GetVm(ref));
  auto deadline = std::chrono::steady_clock::now() + wait;
  for (;;) {
    LogChunk c;
    c.state = vm.state;
    struct stat st {};
    bool have = ::stat(vm.runtime.log_path.c_str(), &st) == 0;
    // Shorter than the reader's offset: upkeep rotated it to console.log.1
    // (console_log_max_bytes); the reader goes on from the new file's start.
    if (have && st.st_size < offset) offset = 0;
    c.next_offset = offset;
    if (have && st.st_size > offset) {
      size_t n = std::min<size_t>(max_bytes, static_cast<size_t>(st.st_size - offset));
      UniqueFd fd(::open(vm.runtime.log_path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd.valid()) return Error::FromErrno("open " + vm.runtime.log_path);
      c.data.resize(n);
      ssize_t r = ::pread(fd.get(), c.data.data(), n, offset);
      if (r < 0) return Error::FromErrno("read " + vm.runtime.log_path);
      c.data.resize(static_cast<size_t>(r));
      c.next_offset = offset + r;
      return c;
    }
    if (stopping_ || std::chrono::steady_clock::now() >= deadline) return c;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto fresh = d_.store->GetVm(vm.id);
    if (!fresh.ok()) return std::move(fresh).error();
    vm = std::move(*fresh);
  }
}

Result<int64_t> VmService::LogOffsetSince(const std::string& ref, int64_t since_ms) {
  BANGER_ASSIGN_OR_RETURN(VmRecord vm, d_.store->GetVm(ref));
  if (vm.runtime.log_path.empty()) return 0;
  BANGER_ASSIGN_OR_RETURN(auto samples, ReadConsoleTimes(ConsoleTimesPath(vm.runtime.log_path)));
  return ConsoleOffsetSince(samples, since_ms);
}

}  // namespace banger

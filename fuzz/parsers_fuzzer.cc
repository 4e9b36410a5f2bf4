// The daemon's parsers of what VMs and VMMs leave for it to read, against
// hostile bytes (the first input byte picks one):
//  0: <vm_dir>/handles.json (ReadHandlesFile, from a real file);
//  1: a Firecracker metrics file's tail (NewestMetricsLine);
//  2: QMP replies (QmpClient::Connect + Execute against a scripted server on
//     a Unix socket in a temp dir, the way QemuBackend::Metrics reads them);
//  3: /proc/<pid>/stat (ParseProcStat) with fuzzer-chosen tick and page sizes.
// Invariants: nothing crashes, hangs or overflows; decoded handles survive
// ToJson -> VmHandlesFromJson unchanged; usage numbers are never negative.
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "base/fs.h"
#include "base/process.h"
#include "base/unique_fd.h"
#include "daemon/handle_cache.h"
#include "fuzz/fuzz_util.h"
#include "model/json.h"
#include "vmm/firecracker/fc_client.h"
#include "vmm/qemu/qmp_client.h"

namespace banger {
namespace {

// Never destroyed: the atexit handler that removes it runs after static
// destructors registered later.
const std::string& Dir() {
  static const std::string* d = [] {
    auto* dir = new std::string(fuzz::MakeTempDir("bfp"));
    std::atexit([] { (void)RemoveAll(Dir()); });
    return dir;
  }();
  return *d;
}

void Handles(std::string_view text) {
  BANGER_FUZZ_CHECK(WriteFileAtomic(Dir() + "/" + kHandlesFileName, std::string(text)).ok());
  auto h = ReadHandlesFile(Dir());
  if (!h.ok() || !h->has_value()) return;
  auto back = VmHandlesFromJson(ToJson(**h));
  BANGER_FUZZ_CHECK(back.ok());
  BANGER_FUZZ_CHECK(back->pid == (*h)->pid && back->tap_device == (*h)->tap_device &&
                    back->base_loop == (*h)->base_loop && back->cow_loop == (*h)->cow_loop &&
                    back->dm_name == (*h)->dm_name && back->dm_dev == (*h)->dm_dev);
}

void FcMetrics(std::string_view tail) {
  auto j = NewestMetricsLine(std::string(tail));
  if (j.ok()) BANGER_FUZZ_CHECK(j->is_object());
}

// A one-connection QMP "server": writes the script's bytes in chunks (each
// chunk after reading whatever the client sent), then closes.
void Qmp(fuzz::Input& in) {
  std::string path = Dir() + "/qmp.sock";
  (void)::unlink(path.c_str());
  UniqueFd lfd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  BANGER_FUZZ_CHECK(lfd.valid());
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  BANGER_FUZZ_CHECK(path.size() < sizeof addr.sun_path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  BANGER_FUZZ_CHECK(::bind(lfd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  BANGER_FUZZ_CHECK(::listen(lfd.get(), 1) == 0);

  size_t chunk = 1 + in.U8();
  std::string script(in.Rest());
  std::thread server([&] {
    UniqueFd c(::accept4(lfd.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!c.valid()) return;
    for (size_t off = 0; off < script.size(); off += chunk) {
      std::string_view part = std::string_view(script).substr(off, chunk);
      if (::send(c.get(), part.data(), part.size(), MSG_NOSIGNAL) < 0) return;
      char sink[4096];
      (void)::recv(c.get(), sink, sizeof sink, MSG_DONTWAIT);
    }
    ::shutdown(c.get(), SHUT_WR);
    char sink[4096];
    while (::recv(c.get(), sink, sizeof sink, 0) > 0) {
    }
  });
  {
    auto q = QmpClient::Connect(path, std::chrono::seconds(5));
    if (q.ok()) {
      (void)q->Execute("query-blockstats", std::chrono::seconds(5));
      (void)q->Execute("query-status", std::chrono::seconds(5));
    }
  }                                  // closes the client: the server's last recv ends
  ::shutdown(lfd.get(), SHUT_RDWR);  // wakes an accept that never got a client
  server.join();
}

void ProcStat(fuzz::Input& in) {
  int64_t tick_ns = 1 + in.U32() % 100'000'000;  // 1 ns .. 0.1 s
  int64_t page = int64_t{1} << (in.U8() % 21);   // 1 B .. 1 MiB
  auto u = ParseProcStat(std::string(in.Rest()), tick_ns, page);
  if (!u.ok()) return;
  BANGER_FUZZ_CHECK(u->cpu_ns >= 0 && u->rss_bytes >= 0 && u->vsz_bytes >= 0);
}

}  // namespace
}  // namespace banger

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace banger;
  fuzz::Input in(data, size);
  switch (in.U8() % 4) {
    case 0:
      Handles(in.Rest());
      break;
    case 1:
      FcMetrics(in.Rest());
      break;
    case 2:
      Qmp(in);
      break;
    default:
      ProcStat(in);
      break;
  }
  return 0;
}

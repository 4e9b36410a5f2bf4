// End to end: per-VM cgroups and disk rate limits on a real QEMU TCG guest.
//  - `vm create --disk-bw --disk-iops`: the VMM runs inside banger/<id[:16]>
//    with the memory and pids limits (when doctor says per-VM cgroups are
//    active here), and QMP query-block shows the throttle on every drive;
//  - `vm set --disk-bw` on the running VM changes the throttle live;
//  - stop removes the group.
// It also prints QEMU's peak RSS under TCG for a booted 256 MiB guest (the
// figure behind the memory limit's allowance).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <iostream>
#include <sstream>

#include "base/unique_fd.h"
#include "e2e_util.h"

namespace banger::e2e {
namespace {

constexpr const char* kTcgConfig =
    "backend = \"qemu\"\nqemu_accel = \"tcg\"\nstop_timeout = \"3s\"\ndefault_image_name = \"base\"\n";

// One QMP command on QEMU's control socket, retried while another client
// (the daemon's monitor) holds it; the "return" value, or null.
Json Qmp(const std::string& sock, const std::string& command) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, sock.c_str(), sizeof addr.sun_path - 1);
    timeval tv{2, 0};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      std::string buf;
      auto next_line = [&]() -> std::string {
        while (buf.find('\n') == std::string::npos) {
          char chunk[4096];
          ssize_t n = ::read(fd.get(), chunk, sizeof chunk);
          if (n <= 0) return "";
          buf.append(chunk, static_cast<size_t>(n));
        }
        std::string line = buf.substr(0, buf.find('\n'));
        buf.erase(0, buf.find('\n') + 1);
        return line;
      };
      auto send = [&](const std::string& cmd) {
        std::string msg = Json{{"execute", cmd}}.dump() + "\n";
        return ::write(fd.get(), msg.data(), msg.size()) == static_cast<ssize_t>(msg.size());
      };
      auto await_return = [&]() -> Json {
        for (std::string line = next_line(); !line.empty(); line = next_line()) {
          auto j = ParseJson(line);
          if (j.ok() && j->contains("return")) return (*j)["return"];
          if (j.ok() && j->contains("error")) return Json();
        }
        return Json();
      };
      if (!next_line().empty() && send("qmp_capabilities") && !await_return().is_null() && send(command)) {
        Json r = await_return();
        if (!r.is_null()) return r;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return Json();
}

// device -> {bps, iops} of every drive QEMU reports.
std::map<std::string, std::pair<int64_t, int64_t>> Throttles(const std::string& sock) {
  std::map<std::string, std::pair<int64_t, int64_t>> out;
  for (const auto& b : Qmp(sock, "query-block")) {
    if (!b.contains("inserted")) continue;
    out[b["device"].get<std::string>()] = {b["inserted"].value("bps", int64_t{-1}),
                                           b["inserted"].value("iops", int64_t{-1})};
  }
  return out;
}

std::string ReadText(const std::string& path) {
  auto r = ReadFile(path);
  std::string s = r.ok() ? *r : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// The memory cgroup directory of pid (v1 memory hierarchy, else v2), "" if none.
std::string MemoryCgroupDir(pid_t pid) {
  std::istringstream lines(ReadText("/proc/" + std::to_string(pid) + "/cgroup"));
  std::string v2;
  for (std::string line; std::getline(lines, line);) {
    auto a = line.find(':'), b = line.find(':', a + 1);
    std::string ctl = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if ((',' + ctl + ',').find(",memory,") != std::string::npos) return "/sys/fs/cgroup/memory" + path;
    if (ctl.empty()) v2 = "/sys/fs/cgroup" + path;
  }
  return PathExists(v2 + "/memory.max") ? v2 : "";
}

int64_t StatusKb(pid_t pid, const std::string& key) {
  std::istringstream lines(ReadText("/proc/" + std::to_string(pid) + "/status"));
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(key + ":", 0) == 0) return std::stoll(line.substr(key.size() + 1));
  }
  return -1;
}

bool CgroupsActive(BangerHome& h) {
  auto arr = ParseJson(h.Banger({"doctor", "--json"}).out);
  if (!arr.ok()) return false;
  for (const auto& c : *arr) {
    if (c["check"] == "cgroups") {
      std::cout << "doctor cgroups: " << c["status"].get<std::string>() << ": "
                << c["detail"].get<std::string>() << "\n";
      return c["status"] == "ok" && c["detail"].get<std::string>().find("active") != std::string::npos;
    }
  }
  return false;
}

TEST(LimitsE2E, QemuVmRunsInItsCgroupWithLiveDiskThrottle) {
  BangerHome h;
  ASSERT_NO_FATAL_FAILURE(h.WriteConfig(kTcgConfig));
  ASSERT_NO_FATAL_FAILURE(h.ImportTestGuest());
  const bool cgroups = CgroupsActive(h);
  CliRun c = h.Banger({"vm", "create", "--name", "l1", "--vcpus", "1", "--memory", "256", "--disk-bw", "10M",
                       "--disk-iops", "200"});
  ASSERT_EQ(c.code, 0) << c.err;
  Json vm = h.BangerJson({"vm", "show", "l1"});
  EXPECT_EQ(vm["spec"]["disk_bw_bytes_per_sec"], 10 * 1024 * 1024);
  EXPECT_EQ(vm["spec"]["disk_iops"], 200);
  pid_t pid = vm["handles"]["pid"];
  std::string id = vm["id"];
  std::string sock = vm["runtime"]["api_sock_path"];
  EXPECT_NE(h.Banger({"vm", "show", "l1"}).out.find("10.0 MiB/s, 200 iops per disk"), std::string::npos);

  // Every drive throttled from the start.
  auto t = Throttles(sock);
  ASSERT_EQ(t.size(), 3u) << Qmp(sock, "query-block").dump();
  for (const auto& [dev, v] : t) {
    EXPECT_EQ(v.first, 10 * 1024 * 1024) << dev;
    EXPECT_EQ(v.second, 200) << dev;
  }

  std::string mem_dir = MemoryCgroupDir(pid);
  if (cgroups) {
    EXPECT_NE(mem_dir.find("/banger/" + id.substr(0, 16)), std::string::npos) << mem_dir;
    const std::string expect = std::to_string((256 + 512) * 1024LL * 1024);
    if (PathExists(mem_dir + "/memory.max")) {
      EXPECT_EQ(ReadText(mem_dir + "/memory.max"), expect);
      EXPECT_EQ(ReadText(mem_dir + "/pids.max"), "256");
    } else {
      EXPECT_EQ(ReadText(mem_dir + "/memory.limit_in_bytes"), expect);
      // The pids group: the pids line of /proc/PID/cgroup.
      std::string pids_dir;
      std::istringstream lines(ReadText("/proc/" + std::to_string(pid) + "/cgroup"));
      for (std::string line; std::getline(lines, line);) {
        if (line.find(":pids:") != std::string::npos) {
          pids_dir = "/sys/fs/cgroup/pids" + line.substr(line.rfind(':') + 1);
        }
      }
      EXPECT_NE(pids_dir.find("/banger/" + id.substr(0, 16)), std::string::npos) << pids_dir;
      EXPECT_EQ(ReadText(pids_dir + "/pids.max"), "256");
    }
  } else {
    std::cout << "per-VM cgroups are not active on this host: cgroup checks skipped\n";
  }

  // Live: the throttle follows `vm set`.
  CliRun s = h.Banger({"vm", "set", "l1", "--disk-bw", "1M"});
  ASSERT_EQ(s.code, 0) << s.err;
  for (const auto& [dev, v] : Throttles(sock)) {
    EXPECT_EQ(v.first, 1024 * 1024) << dev;
    EXPECT_EQ(v.second, 200) << dev;
  }
  s = h.Banger({"vm", "set", "l1", "--disk-bw", "0", "--disk-iops", "0"});
  ASSERT_EQ(s.code, 0) << s.err;
  for (const auto& [dev, v] : Throttles(sock)) {
    EXPECT_EQ(v.first, 0) << dev;
    EXPECT_EQ(v.second, 0) << dev;
  }
  EXPECT_EQ(h.BangerJson({"vm", "show", "l1"})["spec"]["disk_bw_bytes_per_sec"], 0);
  // QEMU has no network limit: one clear line, nothing changed.
  CliRun net = h.Banger({"vm", "set", "l1", "--net-bw", "1M"});
  EXPECT_NE(net.code, 0);
  EXPECT_NE(net.err.find("--net-bw is not supported by the qemu backend"), std::string::npos) << net.err;

  // The measurement behind the memory limit's allowance: QEMU's peak RSS
  // once the guest has booted (printed, not asserted).
  ASSERT_TRUE(h.WaitForConsole("l1", {"banger-test-guest: init ready"}));
  int64_t hwm_kb = StatusKb(pid, "VmHWM");
  std::cout << "MEASURED qemu tcg, 256 MiB guest, booted: peak RSS (VmHWM) " << hwm_kb / 1024 << " MiB\n";

  CliRun stop = h.Banger({"vm", "stop", "l1", "--timeout", "2"});
  ASSERT_EQ(stop.code, 0) << stop.err;
  if (cgroups) {
    EXPECT_FALSE(PathExists(mem_dir)) << mem_dir << " outlived the VM";
  }
  ASSERT_EQ(h.Banger({"vm", "delete", "l1"}).code, 0);
}

}  // namespace
}  // namespace banger::e2e

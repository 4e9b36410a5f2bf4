// Shared by the hostile-guest suite and its benchmark: a private banger home
// whose VMs run under fake-qemu (tests/hostile/fake_qemu.cc), and a switch
// for each VM's fake agent behaviour.
#pragma once

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "e2e_util.h"

namespace banger::hostile {

using Clock = std::chrono::steady_clock;

// Config for a home whose QEMU is fake-qemu; small disks, quick stops.
inline std::string FakeQemuConfig() {
  return std::string("backend = \"qemu\"\nqemu_bin = \"") + FAKE_QEMU_BIN +
         "\"\nqemu_accel = \"tcg\"\nstop_timeout = \"2s\"\ndefault_image_name = \"base\"\n"
         "[vm_defaults]\nvcpu_count = 1\nmemory_mib = 128\nwork_disk_size = \"64M\"\n"
         "system_overlay_size = \"64M\"\n";
}

// Sets the fake agent's behaviour for VM `name` (read at its next OPEN).
inline void SetMode(const std::string& home, const std::string& name, const std::string& mode) {
  std::filesystem::create_directories(home + "/fake-agent");
  std::ofstream(home + "/fake-agent/" + name, std::ios::trunc) << mode << "\n";
}

inline long RssKiB(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

inline double MsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

}  // namespace banger::hostile

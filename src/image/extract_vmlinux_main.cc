// banger-extract-vmlinux IN OUT: writes the ELF vmlinux inside bzImage IN to
// OUT, for Firecracker, which cannot boot a bzImage.
#include <cstdio>

#include "image/vmlinux.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: banger-extract-vmlinux IN OUT\n");
    return 1;
  }
  banger::Status st = banger::ExtractVmlinuxFile(argv[1], argv[2]);
  if (!st.ok()) {
    std::fprintf(stderr, "banger-extract-vmlinux: %s\n", st.error().message().c_str());
    return 1;
  }
  return 0;
}

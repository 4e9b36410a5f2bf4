// A UDP echo server for guests (busybox has none): answers each datagram on
// 127.0.0.1:PORT with "echo:" + the datagram. Linked statically, copied into
// the guest by port_e2e_test. Runs until killed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: udp_echo PORT\n");
    return 2;
  }
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[1])));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::perror("udp_echo: bind");
    return 1;
  }
  char buf[65536];
  for (;;) {
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    ssize_t n = ::recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&peer), &len);
    if (n < 0) continue;
    std::string out = "echo:" + std::string(buf, static_cast<size_t>(n));
    (void)::sendto(fd, out.data(), out.size(), 0, reinterpret_cast<sockaddr*>(&peer), len);
  }
}

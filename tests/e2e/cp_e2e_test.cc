// `banger vm cp` and the files API end to end (QEMU TCG, network off, the
// minimal image with the agent, one guest boot): a 200 MiB random file and a
// tree of 5,000 small files in and back out byte-identical (a manifest of
// path, type, mode, mtime, sha256), a tar stream through `-` both ways, a
// symlink, --chown, a missing guest path and a full guest filesystem refused
// in one line with nothing left under the target name, and the files API
// (PUT, GET a file, GET a listing) over the Unix socket.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "agent_guest_fixture.h"
#include "base/fs.h"
#include "base/process.h"
#include "base/sha256.h"
#include "base/strings.h"
#include "http/http.h"

namespace banger::e2e {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

using CpE2E = AgentGuestE2E;

std::string FileSha(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  Sha256 s;
  std::string buf(1 << 20, '\0');
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    s.Update(std::string_view(buf.data(), static_cast<size_t>(in.gcount())));
  }
  return s.HexFinish();
}

// relative path -> "type mode mtime sha256|target" for everything under root.
// Directory mtimes are left out (extracting into a directory touches it).
std::map<std::string, std::string> Manifest(const std::string& root) {
  std::map<std::string, std::string> m;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
    std::string p = it->path().string();
    struct stat st {};
    EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
    std::string rel = p.substr(root.size() + 1);
    std::string mode = std::to_string(st.st_mode & 07777);
    if (S_ISDIR(st.st_mode)) {
      m[rel] = "dir " + mode;
    } else if (S_ISLNK(st.st_mode)) {
      m[rel] = "link " + fs::read_symlink(p).string();
    } else {
      m[rel] = "file " + mode + " " + std::to_string(st.st_mtim.tv_sec) + "." +
               std::to_string(st.st_mtim.tv_nsec) + " " + FileSha(p);
    }
  }
  return m;
}

void ExpectSameTree(const std::string& a, const std::string& b) {
  auto ma = Manifest(a), mb = Manifest(b);
  EXPECT_EQ(ma.size(), mb.size()) << a << " vs " << b;
  size_t diffs = 0;
  for (const auto& [k, v] : ma) {
    auto it = mb.find(k);
    std::string other = it == mb.end() ? "<missing>" : it->second;
    if (other != v && ++diffs <= 5) ADD_FAILURE() << k << ": " << v << " vs " << other;
  }
  EXPECT_EQ(diffs, 0U);
}

CliRun Sh(const std::string& script) {
  auto r = RunCommand({"sh", "-c", script}, 600s);
  if (!r.ok()) return CliRun{-1, "", r.error().message()};
  return CliRun{r->exit_code, r->out, r->err};
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

void ExpectOneLine(const CliRun& r, const std::string& want) {
  EXPECT_NE(r.code, 0) << "succeeded: " << r.out;
  EXPECT_NE(Lower(r.err).find(want), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "not one line: " << r.err;
}

TEST_F(CpE2E, FilesAndTreesInAndOutIdentical) {
  const std::string w = h_.root() + "/w";
  fs::create_directories(w + "/out");
  // The payloads: 200 MiB of random bytes, 5,000 small files in 50 directories, a symlink.
  CliRun mk = Sh("head -c 209715200 /dev/urandom > " + w + "/big");
  ASSERT_EQ(mk.code, 0) << mk.err;
  const std::string tree = w + "/tree";
  for (int d = 0; d < 50; ++d) {
    std::string dir = tree + "/d" + std::to_string(d);
    fs::create_directories(dir);
    for (int i = 0; i < 100; ++i) {
      std::ofstream(dir + "/f" + std::to_string(i)) << "file " << d << "/" << i << "\n"
                                                    << std::string(static_cast<size_t>(i * 13), 'x');
    }
  }
  ::chmod((tree + "/d0/f1").c_str(), 0700);
  ::chmod((tree + "/d1/f2").c_str(), 0444);
  fs::create_symlink("d0/f0", tree + "/link");

  ASSERT_EQ(
      h_.Banger({"vm", "create", "--name", "c", "--memory", "512", "--work-disk-size", "1G"}, 300s).code, 0);
  Exec("c", "true");

  // The big file in and out.
  const std::string big_sha = FileSha(w + "/big");
  auto t0 = std::chrono::steady_clock::now();
  CliRun in = h_.Banger({"vm", "cp", w + "/big", "c:/root/"}, 900s);
  ASSERT_EQ(in.code, 0) << in.err;
  auto t1 = std::chrono::steady_clock::now();
  EXPECT_EQ(Exec("c", "sha256sum /root/big | cut -d' ' -f1"), big_sha + "\n");
  CliRun out = h_.Banger({"vm", "cp", "c:/root/big", w + "/out/big2"}, 900s);
  ASSERT_EQ(out.code, 0) << out.err;
  auto t2 = std::chrono::steady_clock::now();
  EXPECT_EQ(FileSha(w + "/out/big2"), big_sha);
  auto mibs = [](auto d) { return 200.0 / std::chrono::duration<double>(d).count(); };
  std::printf("[metric] vm cp 200 MiB host->vm %.1f MiB/s, vm->host %.1f MiB/s\n", mibs(t1 - t0),
              mibs(t2 - t1));

  // The tree: DST absent, so it becomes the copy; back into an existing directory.
  CliRun tin = h_.Banger({"vm", "cp", tree, "c:/root/tree"}, 900s);
  ASSERT_EQ(tin.code, 0) << tin.err;
  EXPECT_EQ(Exec("c", "find /root/tree -type f | wc -l"), "5000\n");
  EXPECT_EQ(Exec("c", "readlink /root/tree/link"), "d0/f0\n");
  CliRun tout = h_.Banger({"vm", "cp", "c:/root/tree", w + "/out"}, 900s);
  ASSERT_EQ(tout.code, 0) << tout.err;
  ExpectSameTree(tree, w + "/out/tree");
  for (const auto& e : fs::directory_iterator(w + "/out")) {
    EXPECT_EQ(e.path().filename().string().rfind(".banger-cp-", 0), std::string::npos)
        << "staging left behind";
  }

  // A tar stream both ways.
  Exec("c", "mkdir -p /root/x");
  const std::string b = std::string(BANGER_BIN) + " --home " + h_.root();
  CliRun pin = Sh("tar --format=posix -C " + tree + " -c . | " + b + " vm cp - c:/root/x");
  ASSERT_EQ(pin.code, 0) << pin.err;
  fs::create_directories(w + "/back");
  CliRun pout = Sh(b + " vm cp c:/root/x - | tar -C " + w + "/back -x");
  ASSERT_EQ(pout.code, 0) << pout.err;
  ExpectSameTree(tree, w + "/back/x");

  // --chown.
  ASSERT_TRUE(WriteFileAtomic(w + "/owned", "mine\n", 0640).ok());
  CliRun ch = h_.Banger({"vm", "cp", "--chown", "1000:1000", w + "/owned", "c:/root/owned"}, 300s);
  ASSERT_EQ(ch.code, 0) << ch.err;
  EXPECT_EQ(Exec("c", "stat -c %u:%g:%a /root/owned"), "1000:1000:640\n");

  // Refusals: a missing guest path, a full guest filesystem.
  CliRun missing = h_.Banger({"vm", "cp", "c:/nope/x", w + "/out/nope"}, 300s);
  ExpectOneLine(missing, "/nope/x");
  EXPECT_FALSE(fs::exists(w + "/out/nope"));
  Exec("c", "mkdir -p /root/small && mount -t tmpfs -o size=4m tmpfs /root/small");
  CliRun full = h_.Banger({"vm", "cp", w + "/big", "c:/root/small/big"}, 900s);
  ExpectOneLine(full, "no space");
  EXPECT_EQ(Exec("c", "ls -A /root/small"), "");

  // The files API over the Unix socket.
  const std::string sock = h_.root() + "/bangerd.sock";
  HttpRequest put;
  put.method = "PUT";
  put.target = "/v1/vms/c/files?path=" + UrlEncode("/root/api.txt") + "&mode=0600";
  put.body = "hello api\n";
  auto pr = UnixHttpCall(sock, put, 120s);
  ASSERT_TRUE(pr.ok()) << pr.error().message();
  EXPECT_EQ(pr->status, 200) << pr->body;
  HttpRequest get;
  get.target = "/v1/vms/c/files?path=" + UrlEncode("/root/api.txt");
  auto gr = UnixHttpCall(sock, get, 120s);
  ASSERT_TRUE(gr.ok());
  EXPECT_EQ(gr->status, 200);
  EXPECT_EQ(gr->body, "hello api\n");
  EXPECT_EQ(Exec("c", "stat -c %a /root/api.txt"), "600\n");
  get.target = "/v1/vms/c/files?path=/root";
  auto lr = UnixHttpCall(sock, get, 120s);
  ASSERT_TRUE(lr.ok());
  EXPECT_EQ(lr->status, 200);
  auto listing = ParseJson(lr->body);
  ASSERT_TRUE(listing.ok()) << lr->body;
  bool seen = false;
  for (const auto& e : (*listing)["entries"])
    seen = seen || (e.value("name", "") == "api.txt" && e.value("size", 0) == 10);
  EXPECT_TRUE(seen) << lr->body;
  get.target = "/v1/vms/c/files?path=/root/none";
  auto nr = UnixHttpCall(sock, get, 120s);
  ASSERT_TRUE(nr.ok());
  EXPECT_EQ(nr->status, 404) << nr->body;
}

}  // namespace
}  // namespace banger::e2e

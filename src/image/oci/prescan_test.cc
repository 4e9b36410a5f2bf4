#include "oci/prescan.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace banger {
namespace {

struct TarEntry {
  std::string name;
  char type;  // f d l h
  std::string target;
};

// Writes a (gzipped) tar of headers and tiny bodies, as a crafted layer.
std::string WriteLayer(const std::vector<TarEntry>& entries, bool gzip) {
  static int n = 0;
  std::string path =
      ::testing::TempDir() + "/layer-" + std::to_string(::getpid()) + "-" + std::to_string(n++);
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (gzip) archive_write_add_filter_gzip(a);
  EXPECT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK);
  for (const TarEntry& t : entries) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, t.name.c_str());
    archive_entry_set_perm(e, 0644);
    if (t.type == 'd') {
      archive_entry_set_filetype(e, AE_IFDIR);
    } else if (t.type == 'l') {
      archive_entry_set_filetype(e, AE_IFLNK);
      archive_entry_set_symlink(e, t.target.c_str());
    } else if (t.type == 'h') {
      archive_entry_set_filetype(e, AE_IFREG);
      archive_entry_set_hardlink(e, t.target.c_str());
    } else {
      archive_entry_set_filetype(e, AE_IFREG);
      archive_entry_set_size(e, 2);
    }
    EXPECT_EQ(archive_write_header(a, e), ARCHIVE_OK);
    if (t.type == 'f') archive_write_data(a, "x\n", 2);
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return path;
}

Status Scan(const std::vector<std::vector<TarEntry>>& layers) {
  LayerPrescan scan;
  for (size_t i = 0; i < layers.size(); ++i) {
    BANGER_RETURN_IF_ERROR(
        scan.ScanLayer(WriteLayer(layers[i], i % 2 == 0), "layer " + std::to_string(i + 1)));
  }
  return OkStatus();
}

TEST(LayerPrescanTest, AcceptsAnOrdinaryImage) {
  auto st = Scan({{{"bin/", 'd', ""},
                   {"bin/busybox", 'f', ""},
                   {"bin/sh", 'l', "busybox"},
                   {"usr/", 'd', ""},
                   {"usr/lib/", 'd', ""},
                   {"lib", 'l', "usr/lib"},
                   {"lib/libc.so", 'f', ""},  // through a relative link inside the root
                   {"etc/localtime", 'l', "/usr/share/zoneinfo/UTC"},  // absolute, never followed
                   {"bin/ln", 'h', "bin/busybox"}},
                  {{"./usr/lib/x/../y", 'f', ""}}});
  ASSERT_FALSE(st.ok());  // ".." in a name is refused even when it stays inside
  EXPECT_EQ(st.error().message(), "layer 2: entry \"./usr/lib/x/../y\" has a \"..\" component");
  EXPECT_TRUE(Scan({{{"bin/busybox", 'f', ""},
                     {"lib", 'l', "usr/lib"},
                     {"lib/a", 'f', ""},
                     {"./etc/localtime", 'l', "/usr/share/zoneinfo/UTC"},
                     {"bin/ln", 'h', "/bin/busybox"}}})
                  .ok());
}

TEST(LayerPrescanTest, RefusesDotDotAndHardLinksOut) {
  auto st = Scan({{{"../../etc/x", 'f', ""}}});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message(), "layer 1: entry \"../../etc/x\" has a \"..\" component");
  st = Scan({{{"a", 'h', "../../etc/shadow"}}});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message(),
            "layer 1: entry \"a\" is a hard link to \"../../etc/shadow\" (a \"..\" component)");
}

TEST(LayerPrescanTest, RefusesPathsThroughEscapingSymlinks) {
  auto st = Scan({{{"evil", 'l', "/etc"}, {"evil/cron.d/x", 'f', ""}}});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message(),
            "layer 1: entry \"evil/cron.d/x\" goes through symlink \"/evil\" with absolute target \"/etc\"");
  // The link in a lower layer, the write in an upper one.
  st = Scan({{{"d/", 'd', ""}, {"d/up", 'l', "../../.."}}, {{"d/up/etc/x", 'f', ""}}});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message(),
            "layer 2: entry \"d/up/etc/x\" goes through symlink \"/d/up\" whose target "
            "\"../../..\" climbs out of the root");
  // A chain: a -> b, b -> ../.. .
  st = Scan({{{"b", 'l', "../.."}, {"a", 'l', "b"}, {"a/x", 'f', ""}}});
  ASSERT_FALSE(st.ok());
  // A hard link whose target goes through an escaping symlink.
  st = Scan({{{"e", 'l', "/"}, {"h", 'h', "e/etc/shadow"}}});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message(),
            "layer 1: entry \"h\" is a hard link whose target goes through symlink \"/e\" "
            "with absolute target \"/\"");
  // Self-referencing loops end.
  EXPECT_FALSE(Scan({{{"l", 'l', "l"}, {"l/x", 'f', ""}}}).ok());
}

TEST(LayerPrescanTest, WhiteoutsRemoveLowerSymlinks) {
  // Layer 2 whites the escaping link out and makes a real directory.
  EXPECT_TRUE(
      Scan({{{"evil", 'l', "/etc"}}, {{".wh.evil", 'f', ""}, {"evil/", 'd', ""}, {"evil/x", 'f', ""}}}).ok());
  // An opaque directory drops the lower layer's link inside it.
  EXPECT_TRUE(Scan({{{"d/", 'd', ""}, {"d/l", 'l', "/"}},
                    {{"d/.wh..wh..opq", 'f', ""}, {"d/l/", 'd', ""}, {"d/l/x", 'f', ""}}})
                  .ok());
  // A directory replaced by a file drops its children: no stale link.
  EXPECT_TRUE(
      Scan({{{"d/", 'd', ""}, {"d/l", 'l', "/"}},
            {{"d", 'f', ""}, {".wh.d", 'f', ""}, {"d/", 'd', ""}, {"d/l/", 'd', ""}, {"d/l/x", 'f', ""}}})
          .ok());
  // A directory entry over a lower link replaces the link.
  EXPECT_TRUE(Scan({{{"l", 'l', "/"}}, {{"l/", 'd', ""}, {"l/x", 'f', ""}}}).ok());
}

TEST(LayerPrescanTest, RefusesGarbage) {
  LayerPrescan scan;
  std::string path = ::testing::TempDir() + "/not-a-tar";
  FILE* f = std::fopen(path.c_str(), "w");
  std::fputs("hello, this is not a tar archive at all, not even close to one\n", f);
  std::fclose(f);
  EXPECT_FALSE(scan.ScanLayer(path, "layer 1").ok());
  EXPECT_FALSE(scan.ScanLayer("/nonexistent/blob", "layer 1").ok());
}

}  // namespace
}  // namespace banger

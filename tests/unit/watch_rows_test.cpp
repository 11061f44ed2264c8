// The rows the loader computes for watched directories missing at start: the nearest existing
// ancestor's inode, the first missing component, how many levels below it a watched file can
// be, and the merging of rows that cover each other.
#include "loader/watch_rows.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstring>
#include <filesystem>

#include "temp_dir.h"

namespace ktrail {
namespace {

namespace fs = std::filesystem;

uint64_t ino(const std::string &path) {
  struct stat st;
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_ino;
}

WatchSpec prefix(const std::string &p) { return {p, KTRAIL_WATCH_PREFIX}; }
WatchSpec exact(const std::string &p) { return {p, 0}; }

uint64_t word_of(const char *s) {
  uint64_t w = 0;
  memcpy(&w, s, std::min<size_t>(strlen(s), 8));
  return w;
}

class WatchRows : public ::testing::Test {
 protected:
  void SetUp() override {
    t_.write("a/existing/f", "x");
    t_.write("a/plainfile", "x");
    fs::create_symlink(t_ / "a", t_ / "link");
  }
  test::TempDir t_;
};

TEST_F(WatchRows, ExistingDirectoriesNeedNoRow) {
  auto m = missing_dirs({prefix(t_ / "a/existing/"), exact(t_ / "a/existing/f"), exact(t_ / "a/existing/new"),
                         {"/.ssh/authorized_keys", KTRAIL_WATCH_SUFFIX}});
  EXPECT_TRUE(m.empty());
}

TEST_F(WatchRows, PrefixEntryAtLeastItsOwnDepth) {
  auto m = missing_dirs({prefix(t_ / "a/missing/deeper/")});
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].dir, t_ / "a/missing/deeper/");
  EXPECT_EQ(m[0].ancestor, t_ / "a");
  EXPECT_EQ(m[0].row.ino, ino(t_ / "a"));
  EXPECT_EQ(m[0].row.word, word_of("missing"));
  EXPECT_EQ(m[0].row.mask, 0x00ffffffffffffffull);
  EXPECT_EQ(m[0].row.len, 7u);
  // The directory itself, opened, is 2 levels below a/ (deeper -> missing -> a); files deeper.
  EXPECT_EQ(m[0].row.lvl, 2u);
  EXPECT_EQ(m[0].row.flags, static_cast<uint32_t>(KTRAIL_MISS_AT_LEAST));
  EXPECT_TRUE(m[0].coverable);
}

TEST_F(WatchRows, ExactEntryExactlyItsDepth) {
  auto m = missing_dirs({exact(t_ / "a/gone/sub/file")});
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].dir, t_ / "a/gone/sub");
  EXPECT_EQ(m[0].ancestor, t_ / "a");
  EXPECT_EQ(m[0].row.word, word_of("gone"));
  EXPECT_EQ(m[0].row.mask, 0xffffffffull);
  EXPECT_EQ(m[0].row.len, 4u);
  EXPECT_EQ(m[0].row.lvl, 3u);
  EXPECT_EQ(m[0].row.flags, 0u);
}

TEST_F(WatchRows, LongNamesAFileInTheWayAndSymlinkedAncestors) {
  auto m = missing_dirs({prefix(t_ / "a/a-component-longer-than-8/"), prefix(t_ / "a/plainfile/x/"),
                         prefix(t_ / "link/missing/")});
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].row.word, word_of("a-compon"));
  EXPECT_EQ(m[0].row.mask, ~0ull);
  EXPECT_EQ(m[0].row.len, strlen("a-component-longer-than-8"));
  // A regular file where a directory should be: the directory is missing, its parent is the ancestor.
  EXPECT_EQ(m[1].ancestor, t_ / "a");
  EXPECT_EQ(m[1].row.word, word_of("plainfil"));
  EXPECT_EQ(m[1].row.lvl, 2u);
  // The kernel walks real dentries: a symlinked ancestor is its target's inode.
  EXPECT_EQ(m[2].ancestor, t_ / "link");
  EXPECT_EQ(m[2].row.ino, ino(t_ / "a"));
}

TEST_F(WatchRows, RowsThatCoverEachOtherAreMerged) {
  auto m = missing_dirs({prefix(t_ / "a/missing/deeper/"), prefix(t_ / "link/missing/"),
                         exact(t_ / "a/gone/f"), exact(t_ / "a/gone/g"), exact(t_ / "a/gone/h/f")});
  ASSERT_EQ(m.size(), 5u);
  auto rows = missing_rows(m);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].word, word_of("missing"));
  EXPECT_EQ(rows[0].lvl, 1u) << "the shallower of two at-least rows";
  EXPECT_EQ(rows[1].word, word_of("gone"));
  EXPECT_EQ(rows[1].lvl, 2u);
  EXPECT_EQ(rows[2].word, word_of("gone"));
  EXPECT_EQ(rows[2].lvl, 3u) << "exact rows at other levels stay apart";
}

TEST_F(WatchRows, DeeperThanTheWalkIsNotCoverable) {
  std::string deep = t_ / "a/m";
  for (int i = 0; i < KTRAIL_FILE_DEPTH; i++) deep += "/d";
  auto m = missing_dirs({exact(deep + "/f"), exact(t_ / "a/m/f")});
  ASSERT_EQ(m.size(), 2u);
  EXPECT_FALSE(m[0].coverable);
  EXPECT_EQ(m[0].row.lvl, static_cast<uint32_t>(KTRAIL_FILE_DEPTH + 2));
  EXPECT_TRUE(m[1].coverable);
  auto rows = missing_rows(m);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].lvl, 2u);
}

}  // namespace
}  // namespace ktrail

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <string>
#include <thread>

#include "enrich/users.h"
#include "temp_dir.h"

namespace ktrail {
namespace {

const char kPasswd[] =
    "root:x:0:0:root:/root:/bin/bash\n"
    "# a comment:x:5:5\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "\n"
    "broken-line-without-fields\n"
    "noid:x::1::/:\n"
    "badid:x:12ab:1::/:\n"
    "eve:x:1000:1000:Eve,,,:/home/eve:/bin/bash\n"
    "eve-alias:x:1000:1000::/home/eve:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    "last:x:4000000000:1::/:";  // no final newline, id above INT32_MAX

const char kGroup[] =
    "root:x:0:\n"
    "wheel:x:10:eve,bob\n"
    "users:x:100\n";  // only three fields

// Gives the file an mtime that differs from any it had, whatever the filesystem's resolution.
void bump_mtime(const std::string &path, time_t sec) {
  timespec times[2] = {{sec, 0}, {sec, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
}

TEST(NameDbTest, ParsesPasswd) {
  test::TempDir d;
  d.write("passwd", kPasswd);
  NameDb db(d / "passwd");
  EXPECT_EQ(db.lookup(0), "root");
  EXPECT_EQ(db.lookup(1), "daemon");
  EXPECT_EQ(db.lookup(1000), "eve") << "first entry wins, like getpwuid";
  EXPECT_EQ(db.lookup(65534), "nobody");
  EXPECT_EQ(db.lookup(4000000000u), "last");
  EXPECT_EQ(db.lookup(5), "") << "comment lines are skipped";
  EXPECT_EQ(db.lookup(12), "");
  EXPECT_EQ(db.lookup(424242), "");
}

TEST(NameDbTest, ParsesGroupWithThreeFields) {
  test::TempDir d;
  d.write("group", kGroup);
  NameDb db(d / "group");
  EXPECT_EQ(db.lookup(0), "root");
  EXPECT_EQ(db.lookup(10), "wheel");
  EXPECT_EQ(db.lookup(100), "users");
}

TEST(NameDbTest, MissingFileGivesEmptyNames) {
  test::TempDir d;
  NameDb db(d / "nope");
  EXPECT_EQ(db.lookup(0), "");
  EXPECT_EQ(db.lookup(0), "");
}

TEST(NameDbTest, UsersReadsBothFiles) {
  test::TempDir d;
  d.write("passwd", kPasswd);
  d.write("group", kGroup);
  Users u(d.path());
  EXPECT_EQ(u.user(1000), "eve");
  EXPECT_EQ(u.group(10), "wheel");
  EXPECT_EQ(u.user(10), "");
  EXPECT_EQ(u.group(1000), "");
}

TEST(NameDbTest, ReloadsAfterModification) {
  test::TempDir d;
  const std::string path = d / "passwd";
  d.write("passwd", "alice:x:1000:1000::/:\n");
  bump_mtime(path, 1000000000);
  NameDb db(path);
  EXPECT_EQ(db.lookup(1000), "alice");
  EXPECT_EQ(db.lookup(1001), "");

  d.write("passwd", "bob:x:1000:1000::/:\ncarol:x:1001:1001::/:\n");
  bump_mtime(path, 1000000001);
  // A fresh object reads the new contents at once.
  EXPECT_EQ(NameDb(path).lookup(1000), "bob");
  // The long-lived one re-stats at most once a second.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  // 1001 first: the answer kept from the last lookup (none) must not outlive the reload.
  EXPECT_EQ(db.lookup(1001), "carol");
  EXPECT_EQ(db.lookup(1000), "bob");
}

}  // namespace
}  // namespace ktrail

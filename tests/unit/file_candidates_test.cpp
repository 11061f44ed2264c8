// The agent's side of watched-file candidates: path resolution in a caller's root (symlinks,
// "..", loops, absolute links kept inside the root), which calls follow their last link, the
// watch-entry match, and the whole decision on an event.
#include "enrich/file_candidates.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "ktrail/abi/events.h"
#include "temp_dir.h"

namespace ktrail {
namespace {

namespace fs = std::filesystem;

class FileCandidateRoot : public ::testing::Test {
 protected:
  void SetUp() override {
    t_.write("etc/shadow", "x");
    t_.write("etc/ssh/a/b/c/key", "k");
    t_.write("home/u/plain", "p");
    fs::create_directories(t_ / "tmp");
    fs::create_symlink("/etc", t_ / "tmp/e");           // absolute: inside the root, not the host's
    fs::create_symlink("/etc/shadow", t_ / "tmp/s");
    fs::create_symlink("../etc/ssh", t_ / "tmp/rel");
    fs::create_symlink("e", t_ / "tmp/chain");           // a link to a link
    fs::create_symlink("loop2", t_ / "tmp/loop1");
    fs::create_symlink("loop1", t_ / "tmp/loop2");
    fs::create_symlink("/home/u/plain", t_ / "tmp/p");
    fd_ = open(t_.path().c_str(), O_PATH | O_DIRECTORY);
    ASSERT_GE(fd_, 0);
  }
  void TearDown() override {
    if (fd_ >= 0) close(fd_);
  }
  std::string resolve(const std::string &p, bool follow, int *links = nullptr) {
    std::string out;
    return resolve_in_root(fd_, p, follow, out, links) ? out : "<fail>";
  }
  test::TempDir t_;
  int fd_ = -1;
};

TEST_F(FileCandidateRoot, FollowsDirectoryLinksAndTheLastOnlyWhenAsked) {
  int links = -1;
  EXPECT_EQ(resolve("/tmp/e/shadow", false, &links), "/etc/shadow");
  EXPECT_EQ(links, 1);
  EXPECT_EQ(resolve("/tmp/s", true), "/etc/shadow");
  EXPECT_EQ(resolve("/tmp/s", false), "/tmp/s") << "unlink/lchown act on the link itself";
  EXPECT_EQ(resolve("/tmp/rel/a/b/c/key", false), "/etc/ssh/a/b/c/key");
  EXPECT_EQ(resolve("/tmp/chain/shadow", true, &links), "/etc/shadow");
  EXPECT_EQ(links, 2);
  EXPECT_EQ(resolve("/tmp/p", true), "/home/u/plain");
}

TEST_F(FileCandidateRoot, DotDotAfterALinkLeavesItsTarget) {
  EXPECT_EQ(resolve("/tmp/e/../home/u/plain", true), "/home/u/plain") << "/etc/.. is /";
  EXPECT_EQ(resolve("/home/u/../../etc/./shadow", true), "/etc/shadow");
  EXPECT_EQ(resolve("/../../etc/shadow", true), "/etc/shadow") << ".. of the root is the root";
}

TEST_F(FileCandidateRoot, GoneLastComponentIsKeptMissingDirectoryFails) {
  EXPECT_EQ(resolve("/tmp/e/shadow.new", true), "/etc/shadow.new") << "renamed or unlinked by now";
  EXPECT_EQ(resolve("/tmp/nodir/x", true), "<fail>");
  EXPECT_EQ(resolve("/tmp/loop1/x", true), "<fail>") << "ELOOP";
  EXPECT_EQ(resolve("/etc/shadow/x", true), "<fail>") << "a file is not a directory";
}

TEST(FileCandidates, WhichCallsFollowTheLastLink) {
  EXPECT_TRUE(follows_last_link(KTRAIL_SYS_OPENAT, 0));
  EXPECT_FALSE(follows_last_link(KTRAIL_SYS_OPENAT, 0400000));          // O_NOFOLLOW
  EXPECT_FALSE(follows_last_link(KTRAIL_SYS_OPENAT, 0100 | 0200));      // O_CREAT|O_EXCL
  EXPECT_TRUE(follows_last_link(KTRAIL_SYS_OPENAT, 0100));
  EXPECT_TRUE(follows_last_link(KTRAIL_SYS_CHMOD, 0));
  EXPECT_TRUE(follows_last_link(KTRAIL_SYS_TRUNCATE, 0));
  EXPECT_TRUE(follows_last_link(KTRAIL_SYS_SETXATTR, 0));
  EXPECT_FALSE(follows_last_link(KTRAIL_SYS_LSETXATTR, 0));
  EXPECT_FALSE(follows_last_link(KTRAIL_SYS_LCHOWN, 0));
  EXPECT_TRUE(follows_last_link(KTRAIL_SYS_FCHOWNAT, 0));
  EXPECT_FALSE(follows_last_link(KTRAIL_SYS_FCHOWNAT, 0x100));           // AT_SYMLINK_NOFOLLOW
  EXPECT_FALSE(follows_last_link(KTRAIL_SYS_UNLINKAT, 0));
  EXPECT_FALSE(follows_last_link(KTRAIL_SYS_RENAME, 0));
}

TEST(FileCandidates, MatchHasTheKernelsSemantics) {
  FileCandidateResolver r;
  r.configure({"/etc/shadow", "/etc/ssh/", "w:/etc/passwd", "*/.ssh/authorized_keys"});
  EXPECT_EQ(r.match("/etc/shadow", false), 0);
  EXPECT_EQ(r.match("/etc/shadowx", false), -1);
  EXPECT_EQ(r.match("/etc/ssh", false), 1);
  EXPECT_EQ(r.match("/etc/ssh/a/b/c/d/e/f", false), 1);
  EXPECT_EQ(r.match("/etc/sshx", false), -1);
  EXPECT_EQ(r.match("/etc/passwd", false), -1);
  EXPECT_EQ(r.match("/etc/passwd", true), 2);
  EXPECT_EQ(r.match("/home/u/.ssh/authorized_keys", false), 3);
}

// A file event the kernel could not decide, as the agent receives it from pid 4242 (whose
// /proc root the test fakes) unless told otherwise.
Event candidate(uint32_t syscall, const std::string &path, uint32_t pid = 4242) {
  Event e;
  e.kind = EventKind::File;
  e.proc.pid = pid;
  e.file.syscall = syscall;
  e.file.flags = KTRAIL_FILE_CANDIDATE;
  e.file.path = path;
  return e;
}

// The whole decision on an event, with a fake /proc whose PID/root is the test's root.
TEST_F(FileCandidateRoot, CandidateEventResolvedInTheCallersRoot) {
  test::TempDir proc;
  fs::create_directories(proc / "4242");
  fs::create_symlink(t_.path(), proc / "4242/root");
  FileCandidateResolver r;
  r.configure({"/etc/shadow", "/etc/ssh/"}, proc.path());

  Event e = candidate(KTRAIL_SYS_CHMOD, "/tmp/s");
  uint64_t reported = g_file_candidates.reported.load();
  ASSERT_TRUE(r.resolve(e));
  EXPECT_EQ(e.file.path, "/etc/shadow");
  EXPECT_EQ(e.file.watch, 0u);
  EXPECT_TRUE(e.file.flags & KTRAIL_FILE_RESOLVED);
  EXPECT_TRUE(e.file.resolved_by_agent);
  EXPECT_EQ(g_file_candidates.reported.load(), reported + 1);

  // rename under a symlinked directory: the new name is watched
  Event m = candidate(KTRAIL_SYS_RENAME, "/tmp/x.tmp");
  m.file.new_path = "/tmp/rel/moduli";
  ASSERT_TRUE(r.resolve(m));
  EXPECT_EQ(m.file.path, "/tmp/x.tmp");
  EXPECT_EQ(m.file.new_path, "/etc/ssh/moduli");
  EXPECT_EQ(m.file.watch, 1u);

  // a symlink to an unwatched file: dropped, counted
  Event u = candidate(KTRAIL_SYS_CHMOD, "/tmp/p");
  uint64_t unwatched = g_file_candidates.unwatched.load();
  EXPECT_FALSE(r.resolve(u));
  EXPECT_EQ(u.file.path, "/tmp/p");
  EXPECT_EQ(g_file_candidates.unwatched.load(), unwatched + 1);

  // the caller is gone and lived in another mount namespace: unresolved
  Event g = candidate(KTRAIL_SYS_CHMOD, "/tmp/p", 4243);
  g.proc.mnt_ns = 1;
  uint64_t unresolved = g_file_candidates.unresolved.load();
  EXPECT_FALSE(r.resolve(g));
  EXPECT_EQ(g_file_candidates.unresolved.load(), unresolved + 1);
}

}  // namespace
}  // namespace ktrail

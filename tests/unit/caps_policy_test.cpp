// Watch-list syntax, capability names, the summary arithmetic, and capable/file decoding.
#include <gtest/gtest.h>

#include <cstring>
#include <map>

#include "decode/decode.h"
#include "ktrail/abi/events.h"
#include "pipeline/cap_summary.h"
#include "policy/policy.h"

namespace ktrail {

TEST(WatchList, Syntax) {
  WatchSpec w;
  ASSERT_TRUE(parse_watch("/etc/shadow", w));
  EXPECT_EQ(w.path, "/etc/shadow");
  EXPECT_EQ(w.flags, 0u);
  ASSERT_TRUE(parse_watch("/etc/ssh/", w));
  EXPECT_EQ(w.flags, static_cast<uint32_t>(KTRAIL_WATCH_PREFIX));
  ASSERT_TRUE(parse_watch("w:/etc/passwd", w));
  EXPECT_EQ(w.flags, static_cast<uint32_t>(KTRAIL_WATCH_WRITE));
  EXPECT_EQ(w.path, "/etc/passwd");
  ASSERT_TRUE(parse_watch("*/.ssh/authorized_keys", w));
  EXPECT_EQ(w.flags, static_cast<uint32_t>(KTRAIL_WATCH_SUFFIX));
  EXPECT_EQ(w.path, "/.ssh/authorized_keys");
  for (const char *bad : {"", "etc/shadow", "/", "/etc/*/x", "*", "/etc//shadow", "/a/../b"})
    EXPECT_FALSE(parse_watch(bad, w)) << bad;
  EXPECT_FALSE(parse_watch("/" + std::string(KTRAIL_WATCH_LEN, 'a'), w));
  for (const auto &d : default_watch_list()) EXPECT_TRUE(parse_watch(d, w)) << d;
}

TEST(CapNames, ParseAndList) {
  EXPECT_EQ(parse_capability("CAP_NET_ADMIN"), 12);
  EXPECT_EQ(parse_capability("sys_time"), 25);
  EXPECT_EQ(parse_capability("21"), 21);
  EXPECT_EQ(parse_capability("CAP_NOPE"), -1);
  uint64_t m = 0;
  ASSERT_TRUE(parse_capability_list({"CAP_SYS_MODULE", "bpf", ""}, m));
  EXPECT_EQ(m, (1ull << 16) | (1ull << 39));
  EXPECT_FALSE(parse_capability_list({"CAP_X"}, m));
  EXPECT_EQ(capability_display_name(38), "CAP_PERFMON");
}

namespace {
CapAggEntry entry(uint8_t id, uint64_t count) {
  CapAggEntry e{std::vector<uint8_t>(sizeof(ktrail_cap_key), id), std::vector<uint8_t>(sizeof(ktrail_cap_agg), 0)};
  ktrail_cap_agg a{};
  a.count = count;
  a.last_boot_ns = 1000 + count;
  a.first.hdr.type = KTRAIL_EV_CAPABLE;
  a.first.hdr.size = sizeof(ktrail_capable);
  a.first.count = 1;
  a.first.cap = 21;
  a.first.origin = KTRAIL_CAP_FIRST;
  std::memcpy(e.value.data(), &a, sizeof(a));
  return e;
}
}  // namespace

TEST(CapSummarizer, ReportsDeltasEvictsIdleAndLosesNothing) {
  CapSummarizer s;
  std::map<std::vector<uint8_t>, uint64_t> kernel;  // the map: key -> count
  std::vector<ktrail_capable> out;
  auto take = [&](const std::vector<uint8_t> &k, std::vector<uint8_t> &v) {
    auto it = kernel.find(k);
    if (it == kernel.end()) return false;
    v = entry(k[0], it->second + 2).value;  // two checks land between the scan and the delete
    kernel.erase(it);
    return true;
  };
  auto emit = [&](const void *d, size_t n) {
    ASSERT_EQ(n, sizeof(ktrail_capable));
    ktrail_capable c;
    std::memcpy(&c, d, n);
    out.push_back(c);
  };
  auto scan = [&](bool final = false) {
    std::vector<CapAggEntry> es;
    for (auto &[k, c] : kernel) es.push_back(entry(k[0], c));
    s.scan(es, take, emit, final);
  };
  kernel[std::vector<uint8_t>(sizeof(ktrail_cap_key), 1)] = 1;  // first already emitted by BPF
  scan();
  EXPECT_TRUE(out.empty());
  kernel.begin()->second = 10;
  scan();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].count, 9u);
  EXPECT_EQ(out[0].origin, KTRAIL_CAP_SUMMARY);
  EXPECT_EQ(out[0].hdr.boot_ns, 1010u);
  scan();  // idle once
  EXPECT_EQ(out.size(), 1u);
  scan();  // idle twice: removed; the 2 late checks are reported
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].count, 2u);
  EXPECT_TRUE(kernel.empty());
  EXPECT_EQ(s.evicted(), 1u);
  EXPECT_EQ(1 + out[0].count + out[1].count, 12u) << "first + summaries = every check";
}

TEST(DecodeCapFile, RejectsOutOfRange) {
  ktrail_capable c{};
  c.hdr.type = KTRAIL_EV_CAPABLE;
  c.hdr.size = sizeof(c);
  c.cap = 12;
  c.count = 3;
  c.origin = KTRAIL_CAP_SUMMARY;
  c.ret = -1;
  Event e;
  ASSERT_TRUE(decode_record(&c, sizeof(c), e).ok);
  EXPECT_EQ(e.kind, EventKind::Capable);
  EXPECT_EQ(e.cap.count, 3u);
  c.cap = 99;
  EXPECT_FALSE(decode_record(&c, sizeof(c), e).ok);

  static ktrail_file f{};
  f.hdr.type = KTRAIL_EV_FILE;
  f.hdr.size = sizeof(f);
  f.syscall = KTRAIL_SYS_RENAMEAT2;
  f.ret = -13;
  std::strcpy(f.path, "/etc/shadow");
  f.path_len = 11;
  std::strcpy(f.new_path, "/tmp/x");
  f.new_path_len = 6;
  ASSERT_TRUE(decode_record(&f, sizeof(f), e).ok);
  EXPECT_EQ(e.kind, EventKind::File);
  EXPECT_EQ(e.file.path, "/etc/shadow");
  EXPECT_EQ(e.file.new_path, "/tmp/x");
  EXPECT_STREQ(file_syscall_name(e.file.syscall), "renameat2");
  f.syscall = 3;
  EXPECT_FALSE(decode_record(&f, sizeof(f), e).ok);
}

}  // namespace ktrail

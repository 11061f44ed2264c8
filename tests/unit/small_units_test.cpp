#include <gtest/gtest.h>

#include <cerrno>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "common/status.h"
#include "enrich/enricher.h"
#include "enrich/host.h"
#include "loader/loader.h"
#include "loader/probe.h"
#include "sinks/sink.h"
#include "temp_dir.h"

namespace ktrail {
namespace {

TEST(Lockdown, Parse) {
  EXPECT_EQ(parse_lockdown("none [integrity] confidentiality"), "integrity");
  EXPECT_EQ(parse_lockdown("[none] integrity confidentiality\n"), "none");
  EXPECT_EQ(parse_lockdown("none integrity [confidentiality]\n"), "confidentiality");
  EXPECT_EQ(parse_lockdown(""), "");
  EXPECT_EQ(parse_lockdown("none integrity"), "");
  EXPECT_EQ(parse_lockdown("] none ["), "");
}

TEST(LoadError, Classify) {
  Status s = classify_load_error(-EPERM, "confidentiality");
  EXPECT_EQ(s.code, KTRAIL_EXIT_LOCKDOWN);
  EXPECT_NE(s.message.find("lockdown"), std::string::npos) << s.message;

  s = classify_load_error(-EPERM, "integrity");
  EXPECT_EQ(s.code, KTRAIL_EXIT_PRIVILEGE);
  EXPECT_FALSE(s.message.empty());

  EXPECT_EQ(classify_load_error(-EACCES, "confidentiality").code, KTRAIL_EXIT_LOCKDOWN);
  EXPECT_EQ(classify_load_error(-EACCES, "none").code, KTRAIL_EXIT_PRIVILEGE);
  EXPECT_EQ(classify_load_error(-EPERM, "").code, KTRAIL_EXIT_PRIVILEGE);

  s = classify_load_error(-EINVAL, "confidentiality");
  EXPECT_EQ(s.code, KTRAIL_EXIT_RUNTIME);
  EXPECT_NE(s.message.find("--log-level debug"), std::string::npos) << s.message;
}

TEST(ExitCodes, Documented) {
  EXPECT_EQ(KTRAIL_EXIT_OK, 0);
  EXPECT_EQ(KTRAIL_EXIT_RUNTIME, 1);
  EXPECT_EQ(KTRAIL_EXIT_USAGE, 2);
  EXPECT_EQ(KTRAIL_EXIT_PRIVILEGE, 3);
  EXPECT_EQ(KTRAIL_EXIT_NO_BTF, 4);
  EXPECT_EQ(KTRAIL_EXIT_LOCKDOWN, 5);
  EXPECT_EQ(KTRAIL_EXIT_NO_HOOKS, 6);
  EXPECT_EQ(KTRAIL_EXIT_OUTPUT, 7);
}

TEST(ResolveExecutable, Cases) {
  EXPECT_EQ(resolve_executable("/usr/bin/ls", "/home/eve"), "/usr/bin/ls");
  EXPECT_EQ(resolve_executable("./run.sh", "/home/eve"), "/home/eve/run.sh");
  EXPECT_EQ(resolve_executable("bin/tool", "/opt"), "/opt/bin/tool");
  EXPECT_EQ(resolve_executable("./x", "/"), "/x");
  EXPECT_EQ(resolve_executable("x", "/"), "/x");
  EXPECT_EQ(resolve_executable("../x", "/a/b"), "/a/b/../x");
  EXPECT_EQ(resolve_executable("x", ""), "x");                        // cwd unknown
  EXPECT_EQ(resolve_executable("x", "(unreachable)/a"), "x");         // not a usable base
  EXPECT_EQ(resolve_executable("", "/a"), "");
}

TEST(Rfc3339, Format) {
  EXPECT_EQ(format_rfc3339(0), "1970-01-01T00:00:00.000000000Z");
  EXPECT_EQ(format_rfc3339(1), "1970-01-01T00:00:00.000000001Z");
  EXPECT_EQ(format_rfc3339(1700000000123456789ll), "2023-11-14T22:13:20.123456789Z");
  EXPECT_EQ(format_rfc3339(1700000000987654321ll), "2023-11-14T22:13:20.987654321Z");
  EXPECT_EQ(format_rfc3339(1700000000123456789ll), "2023-11-14T22:13:20.123456789Z");
  EXPECT_EQ(format_rfc3339(951782400000000000ll), "2000-02-29T00:00:00.000000000Z");  // leap day
  EXPECT_EQ(format_rfc3339(-1), "1969-12-31T23:59:59.999999999Z");
  EXPECT_EQ(format_rfc3339(-1000000000ll), "1969-12-31T23:59:59.000000000Z");
}

// The calendar part is cached per second: alternating and stepping seconds must never reuse
// a stale one, and the buffer form must equal gmtime_r + snprintf.
TEST(Rfc3339, CachedSecondsMatchGmtime) {
  auto reference = [](int64_t ns) {
    time_t sec = static_cast<time_t>(ns / 1000000000ll);
    long frac = static_cast<long>(ns % 1000000000ll);
    if (frac < 0) frac += 1000000000l, sec -= 1;
    struct tm tm;
    gmtime_r(&sec, &tm);
    char buf[64];
    snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
    return std::string(buf);
  };
  const int64_t base = 1790000000000000000ll;
  const int64_t steps[] = {0, 1, 999999999, 1000000000, 1000000001, 0, 86400000000000ll, -1, 3600000000000ll + 7};
  for (int64_t d : steps) {
    char buf[kRfc3339Max];
    EXPECT_EQ(std::string(buf, format_rfc3339(base + d, buf)), reference(base + d)) << d;
    EXPECT_EQ(format_rfc3339(base + d), reference(base + d)) << d;
  }
  // int64 nanoseconds span the years 1677-2262: always four digits.
  EXPECT_EQ(format_rfc3339(INT64_MIN), reference(INT64_MIN));
  EXPECT_EQ(format_rfc3339(INT64_MAX), reference(INT64_MAX));
  // The calendar is computed, not taken from gmtime_r: every day of the whole range (at a
  // varying time of day, so hours, minutes and seconds move too), century and leap years,
  // and both sides of the epoch.
  const int64_t day = 86400000000000ll;
  for (int64_t t = INT64_MIN + 1; t < INT64_MAX - day; t += day + 1000000001ll)
    ASSERT_EQ(format_rfc3339(t), reference(t)) << t;
  for (int64_t s : {-86401ll, -86400ll, -86399ll, -1ll, 0ll, 86399ll, 86400ll, 951868799ll, 951868800ll,
                    4107542399ll, 4107542400ll, 4102444800ll})
    EXPECT_EQ(format_rfc3339(s * 1000000000ll), reference(s * 1000000000ll)) << s;
}

TEST(ClockTest, BootToRealtimeIsNow) {
  Clock c;
  int64_t real = c.to_realtime(Clock::boot_now());
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int64_t now = static_cast<int64_t>(ts.tv_sec) * 1000000000ll + ts.tv_nsec;
  EXPECT_LT(std::llabs(now - real), 1000000000ll);  // within a second
  EXPECT_EQ(c.to_realtime(2000) - c.to_realtime(1000), 1000);
}

TEST(MakeSink, Specs) {
  std::unique_ptr<Sink> s;
  ASSERT_TRUE(make_sink("stdout", Format::Table, s));
  EXPECT_EQ(s->format(), Format::Table);
  EXPECT_EQ(s->describe(), "stdout");
  ASSERT_TRUE(make_sink("-", Format::Json, s));
  EXPECT_EQ(s->format(), Format::Json);

  Status st = make_sink("file:", Format::Json, s);
  EXPECT_EQ(st.code, KTRAIL_EXIT_USAGE);
  st = make_sink("tcp://x", Format::Json, s);
  EXPECT_EQ(st.code, KTRAIL_EXIT_USAGE);
  st = make_sink("file:/nonexistent-dir-ktrail/x/y", Format::Json, s);
  EXPECT_EQ(st.code, KTRAIL_EXIT_OUTPUT);
}

TEST(MakeSink, FileAppendsJsonLines) {
  test::TempDir d;
  const std::string path = d / "out.ndjson";
  d.write("out.ndjson", "old\n");
  {
    std::unique_ptr<Sink> s;
    ASSERT_TRUE(make_sink("file:" + path, Format::Table, s));
    EXPECT_EQ(s->format(), Format::Json) << "files always get JSON";
    EXPECT_EQ(s->describe(), "file:" + path);
    EXPECT_TRUE(s->write("{\"a\":1}"));
    EXPECT_TRUE(s->write("{\"b\":2}"));
    EXPECT_TRUE(s->flush());
  }
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  EXPECT_EQ(ss.str(), "old\n{\"a\":1}\n{\"b\":2}\n");
}

}  // namespace
}  // namespace ktrail

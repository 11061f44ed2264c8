#include "enrich/host.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <cstring>

#include <cstdio>
#include <ctime>
#include <fstream>

namespace ktrail {

std::string os_release_value(const std::string &content, const std::string &key) {
  size_t pos = 0;
  while (pos < content.size()) {
    size_t end = content.find('\n', pos);
    if (end == std::string::npos) end = content.size();
    std::string line = content.substr(pos, end - pos);
    pos = end + 1;
    if (line.compare(0, key.size() + 1, key + "=") != 0) continue;
    std::string v = line.substr(key.size() + 1), out;
    char quote = 0;
    for (size_t i = 0; i < v.size(); i++) {
      char c = v[i];
      if (!quote && (c == '"' || c == '\'')) quote = c;
      else if (quote && c == quote) quote = 0;
      else if (c == '\\' && i + 1 < v.size()) out += v[++i];
      else out += c;
    }
    return out;
  }
  return "";
}

std::string choose_host_name(bool host_uts, const std::string &node_name_env,
                             const std::string &host_etc_hostname, const std::string &uname_nodename) {
  if (host_uts) return uname_nodename;
  if (!node_name_env.empty()) return node_name_env;
  std::string n = host_etc_hostname.substr(0, host_etc_hostname.find_first_of(" \t\r\n"));
  return n.empty() ? uname_nodename : n;
}

namespace {
std::string ns_link(const std::string &pid, const char *ns) {
  char buf[64];
  ssize_t n = readlink(("/proc/" + pid + "/ns/" + ns).c_str(), buf, sizeof buf);
  return n > 0 ? std::string(buf, n) : "";
}
std::string first_line(const std::string &path) {
  std::ifstream f(path);
  std::string l;
  std::getline(f, l);
  return l;
}
}  // namespace

HostInfo HostInfo::detect(const std::string &root_arg) {
  HostInfo h;
  std::string root = root_arg;
  struct utsname u {};
  uname(&u);
  h.os_kernel = u.release;
  h.name = u.nodename;
  // kthreadd (pid 2 in the host's PID namespace) always lives in the initial namespaces, and
  // unlike pid 1 it has no mm, so its ns links and root are readable wherever we have
  // CAP_SYS_PTRACE (some inits are not). Unreadable links count as "same": no better guess.
  if (root_arg.empty() && first_line("/proc/2/comm") == "kthreadd") {
    std::string self_mnt = ns_link("self", "mnt"), init_mnt = ns_link("2", "mnt");
    std::string self_uts = ns_link("self", "uts"), init_uts = ns_link("2", "uts");
    bool host_mnt = init_mnt.empty() || self_mnt == init_mnt;
    bool host_uts = init_uts.empty() || self_uts == init_uts;
    if (!host_mnt) root = "/proc/2/root";
    const char *node = getenv("NODE_NAME");
    h.name = choose_host_name(host_uts, node ? node : "",
                              host_mnt ? "" : first_line(root + "/etc/hostname"), u.nodename);
  }
  h.id = first_line(root + "/etc/machine-id");
  if (h.id.empty() && root != root_arg) h.id = first_line("/etc/machine-id");
  // The kernel's, whatever the mount namespace.
  h.boot_id = first_line(root_arg + "/proc/sys/kernel/random/boot_id");
  std::ifstream o(root + "/etc/os-release");
  if (!o) o.open(root + "/usr/lib/os-release");
  std::string osr((std::istreambuf_iterator<char>(o)), std::istreambuf_iterator<char>());
  h.os_name = os_release_value(osr, "NAME");
  h.os_version = os_release_value(osr, "VERSION_ID");
  h.os_family = os_release_value(osr, "ID");
  return h;
}

uint64_t Clock::boot_now() {
  timespec ts;
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

void Clock::resync() {
  // Bracket the wall-clock read with two boot-clock reads to halve the error.
  uint64_t b1 = boot_now();
  timespec rt;
  clock_gettime(CLOCK_REALTIME, &rt);
  uint64_t b2 = boot_now();
  int64_t real = static_cast<int64_t>(rt.tv_sec) * 1000000000ll + rt.tv_nsec;
  offset_ = real - static_cast<int64_t>(b1 + (b2 - b1) / 2);
}

namespace {

// "00" .. "99": every record formats three or four nanosecond timestamps, two digits a step.
constexpr std::array<char, 200> kDigitPairs = [] {
  std::array<char, 200> t{};
  for (int i = 0; i < 100; i++) {
    t[2 * i] = static_cast<char>('0' + i / 10);
    t[2 * i + 1] = static_cast<char>('0' + i % 10);
  }
  return t;
}();

// The low `width` decimal digits of v, zero-padded.
void put_digits(char *p, uint64_t v, int width) {
  int i = width;
  for (; i >= 2; v /= 100) {
    i -= 2;
    memcpy(p + i, &kDigitPairs[2 * (v % 100)], 2);
  }
  if (i) p[0] = static_cast<char>('0' + v % 10);
}

// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's civil_from_days): plain
// arithmetic where gmtime_r takes glibc's time zone lock on every call, and records carry
// timestamps from different seconds (the event's, its process leaders' starts).
void civil_from_days(int64_t days, int64_t &y, unsigned &m, unsigned &d) {
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);               // [0, 146096]
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);          // [0, 365]
  const unsigned mp = (5 * doy + 2) / 153;                               // [0, 11], March first
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int64_t>(yoe) + era * 400 + (m <= 2);
}

}  // namespace

size_t format_rfc3339(int64_t ns, char *buf) {
  time_t sec = static_cast<time_t>(ns / 1000000000ll);
  long frac = static_cast<long>(ns % 1000000000ll);
  if (frac < 0) {
    frac += 1000000000l;
    sec -= 1;
  }
  // Every event formats three or four timestamps: its own and its process's start (mostly the
  // current second) and its leaders' starts (seconds long past, the same for a session's
  // events). The calendar part is computed once per second seen, kept for the last few
  // seconds, instead of gmtime_r + snprintf per call (one cached second alone would miss at
  // every switch between now and a leader's start).
  struct Second {
    time_t sec = 0;
    char text[20] = {'1', '9', '7', '0', '-', '0', '1', '-', '0', '1', 'T',
                     '0', '0', ':', '0', '0', ':', '0', '0', '.'};  // the epoch's second 0
  };
  static thread_local Second seconds[4];
  static thread_local unsigned next_slot = 0;
  const char *cached = nullptr;
  for (const Second &c : seconds)
    if (c.sec == sec) cached = c.text;
  if (!cached) {
    Second &c = seconds[next_slot++ % 4];
    int64_t days = sec / 86400, secs = sec % 86400;
    if (secs < 0) secs += 86400, days -= 1;
    int64_t year;
    unsigned month, mday;
    civil_from_days(days, year, month, mday);
    // int64 nanoseconds reach only the years 1677-2262: four digits.
    put_digits(c.text, static_cast<uint64_t>(year), 4);
    put_digits(c.text + 5, month, 2);
    put_digits(c.text + 8, mday, 2);
    put_digits(c.text + 11, static_cast<uint64_t>(secs / 3600), 2);
    put_digits(c.text + 14, static_cast<uint64_t>(secs / 60 % 60), 2);
    put_digits(c.text + 17, static_cast<uint64_t>(secs % 60), 2);
    c.sec = sec;
    cached = c.text;
  }
  memcpy(buf, cached, 20);
  put_digits(buf + 20, static_cast<uint64_t>(frac), 9);
  buf[29] = 'Z';
  return 30;
}

std::string format_rfc3339(int64_t ns) {
  char buf[kRfc3339Max];
  return std::string(buf, format_rfc3339(ns, buf));
}

}  // namespace ktrail

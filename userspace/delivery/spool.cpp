#include "delivery/spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "common/fs.h"
#include "common/log.h"

namespace ktrail::delivery {

namespace {
uint64_t monotonic_coarse_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}
}  // namespace
namespace {

constexpr size_t kHeader = 16;
// A length beyond this is corruption, not a record (records are a few KiB).
constexpr uint32_t kMaxPayload = 16u << 20;
// Appends are written out once this much is buffered, even between flushes.
constexpr size_t kMaxBuffered = 1u << 20;

void put32(char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = static_cast<char>(v >> (8 * i)); }
void put64(char *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = static_cast<char>(v >> (8 * i)); }
uint32_t get32(const char *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint64_t get64(const char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

uint32_t record_crc(const char *seq8, std::string_view payload) {
  return crc32c(payload.data(), payload.size(), crc32c(seq8, 8));
}

std::string errno_text(const std::string &what, const std::string &path) {
  return what + " " + path + ": " + std::strerror(errno);
}

bool read_all(int fd, char *p, size_t n, off_t at) {
  while (n) {
    ssize_t r = pread(fd, p, n, at);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    at += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

void fsync_dir(const std::string &dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    ::close(fd);
  }
}

// Reads the records of one segment file from byte `pos` up to `size`, calling fn(offset_in_file,
// seq, payload) for each valid one. Returns the end of the last valid record. Reads in chunks:
// two preads per record were most of the sender's system time.
template <typename Fn>
uint64_t scan_file(int fd, uint64_t pos, uint64_t size, Fn &&fn) {
  constexpr uint64_t kChunk = 256u << 10;
  std::string buf;
  uint64_t buf_at = pos;  // file offset of buf[0]
  // Makes [at, at + n) readable in buf.
  auto have = [&](uint64_t at, uint64_t n) {
    if (at >= buf_at && at + n <= buf_at + buf.size()) return true;
    uint64_t want = std::min(std::max(n, kChunk), size - at);
    buf.resize(want);
    if (!read_all(fd, buf.data(), want, static_cast<off_t>(at))) {
      buf.clear();
      return false;
    }
    buf_at = at;
    return true;
  };
  while (pos + kHeader <= size) {
    if (!have(pos, kHeader)) break;
    uint32_t len = get32(buf.data() + (pos - buf_at));
    if (len > kMaxPayload || pos + kHeader + len > size) break;
    if (!have(pos, kHeader + len)) break;
    const char *h = buf.data() + (pos - buf_at);
    std::string_view payload(h + kHeader, len);
    if (record_crc(h + 8, payload) != get32(h + 4)) break;
    if (!fn(pos, get64(h + 8), payload)) return pos;
    pos += kHeader + len;
  }
  return pos;
}

}  // namespace

namespace {

uint32_t crc32c_table(const uint8_t *p, size_t size, uint32_t crc) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  for (size_t i = 0; i < size; i++) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return crc;
}

#if defined(__x86_64__)
// SSE 4.2's crc32 instruction computes exactly CRC-32C, 8 bytes per instruction: every record
// is checksummed twice (append, read), and the byte-wise table was most of the spool's cost.
__attribute__((target("sse4.2"))) uint32_t crc32c_sse42(const uint8_t *p, size_t size, uint32_t crc) {
  uint64_t c = crc;
  for (; size >= 8; p += 8, size -= 8) {
    uint64_t v;
    memcpy(&v, p, 8);
    c = __builtin_ia32_crc32di(c, v);
  }
  uint32_t c32 = static_cast<uint32_t>(c);
  for (; size; p++, size--) c32 = __builtin_ia32_crc32qi(c32, *p);
  return c32;
}
#endif

}  // namespace

uint32_t crc32c(const void *data, size_t size, uint32_t crc) {
  auto *p = static_cast<const uint8_t *>(data);
#if defined(__x86_64__)
  static const bool hw = __builtin_cpu_supports("sse4.2");
  if (hw) return ~crc32c_sse42(p, size, ~crc);
#endif
  return ~crc32c_table(p, size, ~crc);
}

std::string Spool::seg_path(uint64_t start) const {
  char name[32];
  snprintf(name, sizeof(name), "%020llu.seg", static_cast<unsigned long long>(start));
  return dir_ + "/" + name;
}

Status Spool::open(const std::string &dir, const SpoolOptions &opt, std::unique_ptr<Spool> &out,
                   SpoolRecovery *recovery) {
  if (opt.max_bytes < 4096)
    return Status::error(KTRAIL_EXIT_USAGE, "spool size must be at least 4096 bytes");
  SpoolOptions o = opt;
  o.segment_bytes = std::max<uint64_t>(1024, std::min(o.segment_bytes, o.max_bytes / 4));
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return Status::error(KTRAIL_EXIT_OUTPUT, errno_text("cannot create spool directory", dir));
  std::unique_ptr<Spool> s(new Spool(dir, o));
  SpoolRecovery rec;
  if (Status st = s->recover(rec); !st) return st;
  if (recovery) *recovery = rec;
  if (s->flushed_end_ > s->acked_) s->stamps_.push_back({s->acked_, monotonic_coarse_ns()});
  out = std::move(s);
  return Status::ok();
}

Spool::~Spool() {
  flush();
  if (active_fd_ >= 0) ::close(active_fd_);
}

Status Spool::recover(SpoolRecovery &rec) {
  DIR *d = opendir(dir_.c_str());
  if (!d) return Status::error(KTRAIL_EXIT_OUTPUT, errno_text("cannot open spool directory", dir_));
  std::vector<uint64_t> starts;
  while (dirent *de = readdir(d)) {
    std::string n = de->d_name;
    if (n.size() == 24 && n.ends_with(".seg") &&
        std::all_of(n.begin(), n.begin() + 20, [](char c) { return c >= '0' && c <= '9'; }))
      starts.push_back(std::stoull(n.substr(0, 20)));
  }
  closedir(d);
  std::sort(starts.begin(), starts.end());

  uint64_t cursor = 0;
  if (int fd = ::open((dir_ + "/cursor").c_str(), O_RDONLY | O_CLOEXEC); fd >= 0) {
    char b[16];
    if (read_all(fd, b, 12, 0) && crc32c(b, 8) == get32(b + 8)) cursor = get64(b);
    else KLOG_WARN("spool %s: unreadable cursor, replaying everything it holds", dir_.c_str());
    ::close(fd);
  }

  for (size_t i = 0; i < starts.size(); i++) {
    std::string path = seg_path(starts[i]);
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return Status::error(KTRAIL_EXIT_OUTPUT, errno_text("cannot open spool segment", path));
    struct stat st;
    fstat(fd, &st);
    uint64_t size = static_cast<uint64_t>(st.st_size);
    uint64_t good = scan_file(fd, 0, size, [&](uint64_t pos, uint64_t, std::string_view) {
      if (starts[i] + pos >= cursor) rec.pending_records++;
      return true;
    });
    if (good < size) {
      // A kill mid-write (torn tail) or a damaged disk block: what follows cannot be trusted.
      KLOG_WARN("spool segment %s: %llu bytes after offset %llu are torn or corrupt: cut",
                path.c_str(), static_cast<unsigned long long>(size - good),
                static_cast<unsigned long long>(good));
      rec.discarded_bytes += size - good;
      if (ftruncate(fd, static_cast<off_t>(good)) != 0) {
        ::close(fd);
        return Status::error(KTRAIL_EXIT_OUTPUT, errno_text("cannot truncate spool segment", path));
      }
    }
    bool last = i + 1 == starts.size();
    if (good == 0 && !last) {
      ::close(fd);
      unlink(path.c_str());
      continue;
    }
    segs_[starts[i]] = starts[i] + good;
    if (last) {
      active_fd_ = fd;
      lseek(fd, 0, SEEK_END);
    } else {
      ::close(fd);
    }
  }
  if (segs_.empty()) {
    uint64_t start = cursor;  // offsets never go back, so a stale cursor cannot skip records
    active_fd_ = ::open(seg_path(start).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (active_fd_ < 0)
      return Status::error(KTRAIL_EXIT_OUTPUT, errno_text("cannot create spool segment", seg_path(start)));
    segs_[start] = start;
  }
  flushed_end_ = segs_.rbegin()->second;
  acked_ = std::clamp(cursor, segs_.begin()->first, flushed_end_);
  return Status::ok();
}

Status Spool::append(uint64_t sequence, std::string_view payload) {
  if (payload.size() > kMaxPayload)
    return Status::error(KTRAIL_EXIT_RUNTIME, "record too large for the spool");
  std::lock_guard<std::mutex> lk(mu_);
  uint64_t rec_size = kHeader + payload.size();
  auto &active = *segs_.rbegin();
  if (active.second + buf_.size() > active.first && active.second + buf_.size() - active.first + rec_size > opt_.segment_bytes)
    if (Status st = roll(); !st) return st;
  evict_locked(rec_size);
  uint64_t now = monotonic_coarse_ns();
  if (stamps_.empty() || now - stamps_.back().second >= 1000000000ull)
    stamps_.push_back({segs_.rbegin()->second + buf_.size(), now});
  char h[kHeader];
  put32(h, static_cast<uint32_t>(payload.size()));
  put64(h + 8, sequence);
  put32(h + 4, record_crc(h + 8, payload));
  buf_.append(h, kHeader);
  buf_.append(payload);
  if (buf_.size() >= kMaxBuffered) return write_buffer();
  return Status::ok();
}

// Caller holds mu_.
Status Spool::write_buffer() {
  if (buf_.empty()) return Status::ok();
  auto &active = *segs_.rbegin();
  bool ok = active_fd_ >= 0 && write_all(active_fd_, buf_);
  if (!ok) {
    // Partial writes leave a torn tail: cut back to the last whole record.
    struct stat st;
    if (active_fd_ >= 0 && fstat(active_fd_, &st) == 0 &&
        static_cast<uint64_t>(st.st_size) != active.second - active.first)
      if (ftruncate(active_fd_, static_cast<off_t>(active.second - active.first)) == 0)
        lseek(active_fd_, 0, SEEK_END);
    buf_.clear();
    return Status::error(KTRAIL_EXIT_OUTPUT, errno_text("cannot write spool segment", seg_path(active.first)));
  }
  active.second += buf_.size();
  buf_.clear();
  return Status::ok();
}

// Caller holds mu_.
Status Spool::roll() {
  if (Status st = write_buffer(); !st) return st;
  if (opt_.fsync) fdatasync(active_fd_);
  uint64_t start = segs_.rbegin()->second;
  int fd = ::open(seg_path(start).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::error(KTRAIL_EXIT_OUTPUT, errno_text("cannot create spool segment", seg_path(start)));
  ::close(active_fd_);
  active_fd_ = fd;
  segs_[start] = start;
  flushed_end_ = start;  // everything before was written and is readable
  if (opt_.fsync) fsync_dir(dir_);
  cv_.notify_all();
  return Status::ok();
}

// Caller holds mu_. Drops whole segments, oldest first, until `need` more bytes fit.
void Spool::evict_locked(uint64_t need) {
  while (segs_.size() > 1) {
    uint64_t total = segs_.rbegin()->second + buf_.size() - segs_.begin()->first;
    if (total + need <= opt_.max_bytes) return;
    auto [start, end] = *segs_.begin();
    std::string path = seg_path(start);
    if (acked_ < end) {
      int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd >= 0) {
        uint64_t from = acked_ > start ? acked_ - start : 0;
        scan_file(fd, from, end - start, [&](uint64_t, uint64_t seq, std::string_view) {
          if (loss_.count++ == 0 || seq < loss_.first_sequence) loss_.first_sequence = seq;
          loss_.last_sequence = std::max(loss_.last_sequence, seq);
          return true;
        });
        ::close(fd);
      }
      acked_ = end;
    }
    unlink(path.c_str());
    segs_.erase(segs_.begin());
    prune_stamps_locked();
  }
}

// Keeps the stamp that covers the oldest pending record and every later one.
void Spool::prune_stamps_locked() const {
  uint64_t oldest = std::max(acked_, segs_.begin()->first);
  while (stamps_.size() > 1 && stamps_[1].first <= oldest) stamps_.pop_front();
}

double Spool::oldest_pending_age() const {
  std::lock_guard<std::mutex> lk(mu_);
  uint64_t oldest = std::max(acked_, segs_.begin()->first);
  if (oldest >= segs_.rbegin()->second + buf_.size() || stamps_.empty()) return 0;
  prune_stamps_locked();
  return static_cast<double>(monotonic_coarse_ns() - stamps_.front().second) / 1e9;
}

Status Spool::flush() {
  std::lock_guard<std::mutex> lk(mu_);
  Status st = write_buffer();
  if (opt_.fsync && active_fd_ >= 0 && flushed_end_ != segs_.rbegin()->second) fdatasync(active_fd_);
  if (flushed_end_ != segs_.rbegin()->second) {
    flushed_end_ = segs_.rbegin()->second;
    cv_.notify_all();
  }
  return st;
}

SpoolLoss Spool::take_loss() {
  std::lock_guard<std::mutex> lk(mu_);
  SpoolLoss l = loss_;
  loss_ = {};
  return l;
}

Status Spool::read(uint64_t from, size_t max_records, size_t max_bytes, std::vector<SpoolRecord> &out) {
  out.clear();
  size_t bytes = 0;
  while (out.size() < max_records && bytes < max_bytes) {
    uint64_t start, end;
    {
      std::lock_guard<std::mutex> lk(mu_);
      auto it = segs_.upper_bound(from);
      if (it != segs_.begin()) --it;
      while (it != segs_.end() && it->second <= from) ++it;  // gaps after a cut segment
      if (it == segs_.end()) break;
      start = it->first;
      end = it->second;
      if (it->first == segs_.rbegin()->first) end = std::min(end, std::max(flushed_end_, start));
      if (from < start) from = start;  // evicted: skip to the oldest held
      if (from >= end) break;
    }
    int fd = ::open(seg_path(start).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) continue;  // evicted meanwhile: look again
      return Status::error(KTRAIL_EXIT_OUTPUT, errno_text("cannot read spool segment", seg_path(start)));
    }
    uint64_t stop = scan_file(fd, from - start, end - start,
                              [&](uint64_t pos, uint64_t seq, std::string_view payload) {
                                if (out.size() >= max_records || bytes >= max_bytes) return false;
                                out.push_back({start + pos, start + pos + kHeader + payload.size(), seq,
                                               std::string(payload)});
                                bytes += payload.size();
                                return true;
                              });
    ::close(fd);
    if (start + stop < end && out.size() < max_records && bytes < max_bytes)
      return Status::error(KTRAIL_EXIT_OUTPUT, "spool segment " + seg_path(start) + " is corrupt");
    from = start + stop;
  }
  return Status::ok();
}

Status Spool::persist_cursor(uint64_t offset) {
  std::string tmp = dir_ + "/cursor.tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::error(KTRAIL_EXIT_OUTPUT, errno_text("cannot write spool cursor", tmp));
  char b[12];
  put64(b, offset);
  put32(b + 8, crc32c(b, 8));
  bool ok = write_all(fd, std::string_view(b, sizeof(b))) && (!opt_.fsync || fdatasync(fd) == 0);
  ::close(fd);
  if (!ok || rename(tmp.c_str(), (dir_ + "/cursor").c_str()) != 0)
    return Status::error(KTRAIL_EXIT_OUTPUT, errno_text("cannot write spool cursor", tmp));
  return Status::ok();
}

Status Spool::ack(uint64_t next) {
  std::vector<std::string> done;
  uint64_t cursor;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (next > acked_) acked_ = std::min(next, flushed_end_);
    cursor = acked_;
    while (segs_.size() > 1 && segs_.begin()->second <= acked_) {
      done.push_back(seg_path(segs_.begin()->first));
      segs_.erase(segs_.begin());
    }
    prune_stamps_locked();
  }
  if (cursor == cursor_persisted_) return Status::ok();
  // The cursor first, then the segments: a crash in between only replays (at-least-once).
  Status st = persist_cursor(cursor);
  if (st) cursor_persisted_ = cursor;
  for (auto &p : done) unlink(p.c_str());
  return st;
}

uint64_t Spool::acked() const {
  std::lock_guard<std::mutex> lk(mu_);
  return acked_;
}

uint64_t Spool::end() const {
  std::lock_guard<std::mutex> lk(mu_);
  return flushed_end_;
}

uint64_t Spool::disk_bytes() const {
  std::lock_guard<std::mutex> lk(mu_);
  return segs_.rbegin()->second - segs_.begin()->first;
}

bool Spool::wait_for_data(uint64_t from, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lk(mu_);
  cv_.wait_for(lk, timeout, [&] { return woken_ || flushed_end_ > from; });
  woken_ = false;
  return flushed_end_ > from;
}

void Spool::wake() {
  std::lock_guard<std::mutex> lk(mu_);
  woken_ = true;
  cv_.notify_all();
}

}  // namespace ktrail::delivery

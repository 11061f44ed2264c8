#include "sinks/sink.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string_view>

#include "common/fs.h"
#include "common/log.h"
#include "sinks/http_output.h"
#include "sinks/syslog_sink.h"

namespace ktrail {
namespace {

// A sink that is never flushed still must not grow without bound.
constexpr size_t kMaxBuffered = 64u << 20;
// How far ahead of its end a file is allocated (FileSink::allocate_ahead).
constexpr uint64_t kAllocateStep = 4u << 20;
// Longest line looked at when reading a file's tail (records are at most a few KiB).
constexpr off_t kMaxTailLine = 1 << 20;

// Position just past the last '\n' in the first `size` bytes of fd (0 if none within reach).
off_t last_line_end(int fd, off_t size) {
  char buf[8192];
  off_t end = size;
  while (end > 0 && size - end < kMaxTailLine) {
    off_t start = end > static_cast<off_t>(sizeof(buf)) ? end - static_cast<off_t>(sizeof(buf)) : 0;
    ssize_t n = pread(fd, buf, static_cast<size_t>(end - start), start);
    if (n <= 0) return 0;
    for (ssize_t i = n - 1; i >= 0; i--)
      if (buf[i] == '\n') return start + i + 1;
    end = start;
  }
  return 0;
}

// The last complete line of a file, without its newline.
bool read_last_line(const std::string &path, std::string &line) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st;
  bool ok = false;
  if (fstat(fd, &st) == 0 && st.st_size > 0) {
    off_t end = last_line_end(fd, st.st_size);  // just past the final newline
    if (end > 0) {
      off_t start = last_line_end(fd, end - 1);
      if (end - 1 - start <= kMaxTailLine) {
        line.resize(static_cast<size_t>(end - 1 - start));
        ok = pread(fd, line.data(), line.size(), start) == static_cast<ssize_t>(line.size());
      }
    }
  }
  ::close(fd);
  return ok;
}

// A kill during a write can leave a file ending mid-line. Appending after it would glue the
// next record onto the fragment, so the fragment goes: cut when it is the start of one of our
// records (it cannot be a complete one: every record ends with a newline), otherwise
// terminated with a newline so foreign text stays intact.
void repair_torn_tail(const std::string &path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return;
  struct stat st;
  char last = '\n';
  if (fstat(fd, &st) == 0 && st.st_size > 0 && pread(fd, &last, 1, st.st_size - 1) == 1 &&
      last != '\n') {
    off_t keep = last_line_end(fd, st.st_size);
    char head[16] = {};
    // ECS and OCSF records start so.
    constexpr std::string_view kEcsStart = "{\"@timestamp\":", kOcsfStart = "{\"time\":";
    ssize_t n = pread(fd, head, kEcsStart.size(), keep);
    auto starts = [&](std::string_view prefix) {
      // The fragment may be shorter than the prefix itself.
      size_t k = std::min(static_cast<size_t>(n), prefix.size());
      return std::string_view(head, k) == prefix.substr(0, k);
    };
    if (st.st_size - keep < kMaxTailLine && n > 0 && (starts(kEcsStart) || starts(kOcsfStart)) &&
        ftruncate(fd, keep) == 0) {
      KLOG_WARN("%s ended with an incomplete record (%lld bytes, from an interrupted write): removed it",
                path.c_str(), static_cast<long long>(st.st_size - keep));
    } else if (pwrite(fd, "\n", 1, st.st_size) == 1) {
      KLOG_WARN("%s did not end with a newline: added one", path.c_str());
    }
  }
  ::close(fd);
}

class FileSink : public Sink {
 public:
  FileSink(FILE *f, bool owned, Format fmt, std::string name, std::string path = {},
           FileRotation rot = {})
      : f_(f), owned_(owned), fmt_(fmt), name_(std::move(name)), path_(std::move(path)), rot_(rot) {
    struct stat st;
    if (owned_ && fstat(fileno(f_), &st) == 0) size_ = synced_ = allocated_ = static_cast<uint64_t>(st.st_size);
  }
  ~FileSink() override {
    flush();
    trim_allocation();
    if (owned_ && f_) fclose(f_);
  }
  Format format() const override { return fmt_; }
  bool write(const std::string &line) override {
    buf_.append(line);
    buf_ += '\n';
    size_ += line.size() + 1;
    buffered_records_++;
    return buf_.size() < kMaxBuffered || flush();
  }
  bool flush() override {
    uint64_t n = buffered_records_;
    buffered_records_ = 0;
    if (!f_) return buf_.clear(), failed_.fetch_add(n, std::memory_order_relaxed), false;
    allocate_ahead();
    // Whatever went through stdio first (the table header on stdout), then the batch with
    // write(2) straight from buf_: through fwrite a batch of records was written in three
    // calls (fill the stdio buffer, the middle, the rest at fflush), with two copies between.
    bool ok = fflush(f_) == 0;
    ok = write_all(fileno(f_), buf_) && ok;
    buf_.clear();
    if (owned_ && rot_.fsync == FileRotation::Fsync::Always && synced_ != size_) {
      ok = fsync(fileno(f_)) == 0 && ok;
      synced_ = size_;
    }
    if (!ok) clearerr(f_);
    (ok ? written_ : failed_).fetch_add(n, std::memory_order_relaxed);
    return ok;
  }
  OutputStats stats() const override {
    OutputStats s;
    s.records_sent = written_.load(std::memory_order_relaxed);
    s.failures = failed_.load(std::memory_order_relaxed);
    return s;
  }
  std::string describe() const override { return name_; }

  bool rotation_due() const override { return owned_ && rot_.max_bytes && size_ >= rot_.max_bytes; }
  bool rotate() override {
    bool ok = flush();
    trim_allocation();
    if (f_) {
      if (rot_.fsync != FileRotation::Fsync::Never)
        ok = fsync(fileno(f_)) == 0 && ok;  // a closed file is final: make it durable
      fclose(f_);
      f_ = nullptr;
    }
    if (rot_.max_files == 0) {
      ::unlink(path_.c_str());
    } else {
      for (unsigned i = rot_.max_files - 1; i >= 1; i--)
        ::rename(numbered(i).c_str(), numbered(i + 1).c_str());  // ENOENT: fewer files so far
      ok = ::rename(path_.c_str(), numbered(1).c_str()) == 0 && ok;
    }
    f_ = fopen(path_.c_str(), "ae");
    size_ = synced_ = allocated_ = 0;
    allocate_ = true;
    if (!f_) {
      KLOG_ERROR("cannot reopen %s after rotation: %s", path_.c_str(), strerror(errno));
      return false;
    }
    int dfd = ::open(dir().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      if (rot_.fsync != FileRotation::Fsync::Never) fsync(dfd);
      ::close(dfd);
    }
    return ok;
  }
  bool last_line(std::string &line) const override {
    if (!owned_) return false;
    // Right after a rotation the current file may still be empty: the tail is in PATH.1.
    return read_last_line(path_, line) || (size_ == 0 && read_last_line(numbered(1), line));
  }

 private:
  // Delayed allocation (ext4, xfs) does per-page work in every append into unallocated space:
  // reserve, map, insert an extent. Allocating the file ahead in steps, without changing its
  // size, takes that work off the agent's write path: a third of the kernel's time per written
  // KiB here, and far steadier (bench/RESULTS.md, round 3). Where the file system cannot (or
  // the disk is full), the file is written as before.
  void allocate_ahead() {
    if (!owned_ || !allocate_ || size_ <= allocated_) return;
    const uint64_t from = std::max(allocated_, size_ - buf_.size());
    const uint64_t len = size_ - from + kAllocateStep;
    if (fallocate(fileno(f_), FALLOC_FL_KEEP_SIZE, static_cast<off_t>(from), static_cast<off_t>(len)) != 0) {
      allocate_ = false;
      return;
    }
    allocated_ = from + len;
  }
  // A file that is done with (rotated, or at exit) keeps only what its records need. Not when
  // the size is not the one written here: what another writer appended is not ours to cut.
  void trim_allocation() {
    if (!owned_ || !f_ || allocated_ <= size_) return;
    struct stat st;
    if (fstat(fileno(f_), &st) == 0 && static_cast<uint64_t>(st.st_size) == size_ &&
        ftruncate(fileno(f_), st.st_size) != 0)
      KLOG_DEBUG("%s: releasing the space allocated ahead failed: %s", path_.c_str(), strerror(errno));
    allocated_ = size_;
  }
  std::string numbered(unsigned i) const { return path_ + "." + std::to_string(i); }
  std::string dir() const {
    std::string d = std::filesystem::path(path_).parent_path().string();
    return d.empty() ? "." : d;
  }
  FILE *f_;
  bool owned_;
  Format fmt_;
  std::string name_;
  std::string path_;
  FileRotation rot_;
  std::string buf_;
  uint64_t size_ = 0;
  uint64_t buffered_records_ = 0;
  std::atomic<uint64_t> written_{0}, failed_{0};  // records, counted when flushed
  uint64_t synced_ = 0;  // size_ at the last fsync (Fsync::Always)
  uint64_t allocated_ = 0;  // the file is allocated up to here (allocate_ahead)
  bool allocate_ = true;
};

}  // namespace

Status make_sink(const std::string &spec, Format stdout_format, std::unique_ptr<Sink> &out,
                 const FileRotation &rotation, const DeliveryOptions &delivery) {
  if (is_http_output(spec)) return make_http_sink(spec, delivery, out);
  if (spec.find("://") != std::string::npos) return make_network_sink(spec, delivery, out);
  if (spec == "stdout" || spec == "-") {
    out = std::make_unique<FileSink>(stdout, false, stdout_format, "stdout");
    return Status::ok();
  }
  if (spec.rfind("file:", 0) == 0) {
    std::string path = spec.substr(5);
    if (path.empty()) return Status::error(KTRAIL_EXIT_USAGE, "output 'file:' needs a path");
    repair_torn_tail(path);
    FILE *f = fopen(path.c_str(), "ae");
    if (!f)
      return Status::error(KTRAIL_EXIT_OUTPUT, "cannot open output " + path + ": " + strerror(errno));
    out = std::make_unique<FileSink>(f, true, Format::Json, "file:" + path, path, rotation);
    return Status::ok();
  }
  return Status::error(KTRAIL_EXIT_USAGE,
                       "unknown output '" + spec + "' (expected stdout, file:PATH, syslog+tcp://HOST:PORT, "
                       "syslog+tls://HOST:PORT, syslog+udp://HOST:PORT, syslog+relp://HOST:PORT, otlp+https://HOST, "
                       "loki+https://HOST, splunk+https://HOST or elasticsearch+https://HOST)");
}

}  // namespace ktrail

#include "loader/transport.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/log.h"

namespace ktrail {
namespace {

// The BPF ring buffer, consumed by hand rather than through libbpf's ring_buffer, for two
// reasons: a drain takes the records present when it starts (a snapshot) instead of chasing
// the producer record by record, and before handing them over it shows them all to the
// look-ahead callback, which learns from the batch (which processes already exited) what it
// would otherwise ask the kernel once per record. Layout and protocol as in the kernel
// (kernel/bpf/ringbuf.c) and libbpf (ringbuf.c): a consumer position page we write, a
// producer position page, then the data area mapped twice so a record never wraps; each
// record has an 8-byte header whose length word carries BUSY (not committed yet) and
// DISCARD bits.
class RingSource : public EventSource {
 public:
  explicit RingSource(Callback cb) : cb_(std::move(cb)) {}
  ~RingSource() override {
    if (epfd_ >= 0) ::close(epfd_);
    if (data_ != MAP_FAILED) munmap(data_, page_ + 2 * size_);
    if (cons_ != MAP_FAILED) munmap(cons_, page_);
  }
  bool init(int fd, std::string &err) {
    page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    bpf_map_info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) {
      err = std::string("ring buffer map info: ") + strerror(errno);
      return false;
    }
    if (info.type != BPF_MAP_TYPE_RINGBUF || info.max_entries == 0 ||
        (info.max_entries & (info.max_entries - 1)) != 0) {
      err = "not a BPF ring buffer map";
      return false;
    }
    size_ = info.max_entries;
    cons_ = mmap(nullptr, page_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (cons_ == MAP_FAILED) {
      err = std::string("mapping the ring buffer's consumer page: ") + strerror(errno);
      return false;
    }
    // The kernel refuses writable mappings of the producer page and the data.
    data_ = mmap(nullptr, page_ + 2 * size_, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(page_));
    if (data_ == MAP_FAILED) {
      err = std::string("mapping the ring buffer's data: ") + strerror(errno);
      return false;
    }
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    if (epfd_ < 0 || epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      err = std::string("epoll on the ring buffer: ") + strerror(errno);
      return false;
    }
    return true;
  }
  bool fill(uint64_t &pending, uint64_t &size) const override {
    uint64_t cons = __atomic_load_n(consumer_pos(), __ATOMIC_ACQUIRE);
    uint64_t prod = __atomic_load_n(producer_pos(), __ATOMIC_ACQUIRE);
    pending = prod > cons ? prod - cons : 0;
    size = size_;
    return true;
  }
  int poll(int timeout_ms) override {
    epoll_event ev;
    int n = epoll_wait(epfd_, &ev, 1, timeout_ms);
    if (n < 0 && errno != EINTR) return -errno;
    // Records submitted with BPF_RB_NO_WAKEUP never trigger epoll: drain whether woken or not.
    return drain();
  }
  void set_look_ahead(Callback cb) override { look_ahead_ = std::move(cb); }
  uint64_t transport_lost() const override { return 0; }
  const char *name() const override { return "ringbuf"; }

 private:
  static constexpr uint32_t kBusy = 1u << 31, kDiscard = 1u << 30, kHeader = 8;
  uint64_t *consumer_pos() const { return static_cast<uint64_t *>(cons_); }
  const uint64_t *producer_pos() const { return static_cast<const uint64_t *>(data_); }
  const char *record_at(uint64_t pos) const {
    return static_cast<const char *>(data_) + page_ + (pos & (size_ - 1));
  }
  // Walks the committed records in [from, to): f(sample, len, end) for each one not
  // discarded, end being the position after it. Returns where it stopped: `to`, or the first
  // record still being written.
  template <typename F>
  uint64_t walk(uint64_t from, uint64_t to, F &&f) const {
    while (from < to) {
      const char *hdr = record_at(from);
      uint32_t len = __atomic_load_n(reinterpret_cast<const uint32_t *>(hdr), __ATOMIC_ACQUIRE);
      if (len & kBusy) break;
      uint32_t data_len = len & ~(kBusy | kDiscard);
      from += (static_cast<uint64_t>(data_len) + kHeader + 7) & ~uint64_t{7};
      if (!(len & kDiscard)) f(hdr + kHeader, static_cast<size_t>(data_len), from);
    }
    return from;
  }
  int drain() {
    const uint64_t cons = __atomic_load_n(consumer_pos(), __ATOMIC_ACQUIRE);
    uint64_t prod = __atomic_load_n(producer_pos(), __ATOMIC_ACQUIRE);
    if (look_ahead_)
      prod = walk(cons, prod, [&](const char *d, size_t n, uint64_t) { deliver(look_ahead_, d, n); });
    int count = 0;
    uint64_t end = walk(cons, prod, [&](const char *d, size_t n, uint64_t next) {
      deliver(cb_, d, n);
      count++;
      // Each record's space goes back to the kernel as soon as it is handled.
      __atomic_store_n(consumer_pos(), next, __ATOMIC_RELEASE);
    });
    __atomic_store_n(consumer_pos(), end, __ATOMIC_RELEASE);  // trailing discarded records
    return count;
  }
  static void deliver(const Callback &cb, const char *data, size_t size) {
    try {
      cb(data, size);
    } catch (const std::exception &e) {
      KLOG_ERROR("event handler failed: %s", e.what());
    }
  }
  Callback cb_, look_ahead_;
  void *cons_ = MAP_FAILED;  // consumer position page (ours to write)
  void *data_ = MAP_FAILED;  // producer position page, then the data area twice
  size_t page_ = 4096;
  uint64_t size_ = 0;
  int epfd_ = -1;
};

class PerfSource : public EventSource {
 public:
  explicit PerfSource(Callback cb) : cb_(std::move(cb)) {}
  ~PerfSource() override { perf_buffer__free(pb_); }
  bool init(int fd, size_t pages, size_t wakeup_bytes, std::string &err) {
    perf_event_attr attr{};
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_BPF_OUTPUT;
    attr.sample_type = PERF_SAMPLE_RAW;
    attr.sample_period = 1;
    // Same batching as the ring buffer: wake on a byte watermark, not on every sample.
    attr.watermark = 1;
    size_t cap = pages * static_cast<size_t>(sysconf(_SC_PAGESIZE));
    attr.wakeup_watermark = static_cast<uint32_t>(wakeup_bytes < cap / 2 ? wakeup_bytes : cap / 2);
    pb_ = perf_buffer__new_raw(fd, pages, &attr, &PerfSource::on_event, this, nullptr);
    if (!pb_) {
      err = std::string("perf_buffer__new_raw: ") + strerror(errno);
      return false;
    }
    return true;
  }
  int poll(int timeout_ms) override {
    int n = perf_buffer__poll(pb_, timeout_ms);
    if (n < 0 && n != -EINTR) return n;
    int m = perf_buffer__consume(pb_);
    if (m < 0) return m;
    return (n > 0 ? n : 0) + consumed_reset();
  }
  uint64_t transport_lost() const override { return lost_; }
  const char *name() const override { return "perfbuf"; }

 private:
  int consumed_reset() {
    int c = consumed_;
    consumed_ = 0;
    return c;
  }
  static enum bpf_perf_event_ret on_event(void *ctx, int, struct perf_event_header *hdr) {
    auto *self = static_cast<PerfSource *>(ctx);
    if (hdr->type == PERF_RECORD_SAMPLE) {
      struct Sample {
        perf_event_header header;
        uint32_t size;
        char data[];
      };
      auto *s = reinterpret_cast<Sample *>(hdr);
      try {
        self->cb_(s->data, s->size);
      } catch (const std::exception &e) {
        KLOG_ERROR("event handler failed: %s", e.what());
      }
      self->consumed_++;
    } else if (hdr->type == PERF_RECORD_LOST) {
      struct Lost {
        perf_event_header header;
        uint64_t id;
        uint64_t lost;
      };
      self->lost_ += reinterpret_cast<Lost *>(hdr)->lost;
    }
    return LIBBPF_PERF_EVENT_CONT;
  }
  Callback cb_;
  struct ::perf_buffer *pb_ = nullptr;
  uint64_t lost_ = 0;
  int consumed_ = 0;
};

}  // namespace

std::unique_ptr<EventSource> EventSource::ring_buffer(int fd, Callback cb, std::string &err) {
  auto s = std::make_unique<RingSource>(std::move(cb));
  if (!s->init(fd, err)) return nullptr;
  return s;
}

std::unique_ptr<EventSource> EventSource::perf_buffer(int fd, size_t pages, size_t wakeup_bytes,
                                                      Callback cb, std::string &err) {
  auto s = std::make_unique<PerfSource>(std::move(cb));
  if (!s->init(fd, pages, wakeup_bytes, err)) return nullptr;
  return s;
}

}  // namespace ktrail

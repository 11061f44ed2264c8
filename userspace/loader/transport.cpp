#include "loader/transport.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/log.h"

namespace ktrail {
namespace {

class RingSource : public EventSource {
 public:
  explicit RingSource(Callback cb) : cb_(std::move(cb)) {}
  ~RingSource() override {
    ring_buffer__free(rb_);
    if (pos_ != MAP_FAILED) munmap(pos_, 2 * page_);
  }
  bool init(int fd, std::string &err) {
    rb_ = ring_buffer__new(fd, &RingSource::on_sample, this, nullptr);
    if (!rb_) {
      err = std::string("ring_buffer__new: ") + strerror(errno);
      return false;
    }
    // libbpf 1.1 has no ring__avail_data_size(): map the consumer and producer position
    // pages (read-only) ourselves to see the fill. Only the metrics read them; failure is mild.
    page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    bpf_map_info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) size_ = info.max_entries;
    pos_ = mmap(nullptr, 2 * page_, PROT_READ, MAP_SHARED, fd, 0);
    if (pos_ == MAP_FAILED) KLOG_DEBUG("ring buffer positions not mapped: %s", strerror(errno));
    return true;
  }
  bool fill(uint64_t &pending, uint64_t &size) const override {
    if (pos_ == MAP_FAILED || size_ == 0) return false;
    auto *base = static_cast<const char *>(pos_);
    uint64_t cons = __atomic_load_n(reinterpret_cast<const uint64_t *>(base), __ATOMIC_ACQUIRE);
    uint64_t prod = __atomic_load_n(reinterpret_cast<const uint64_t *>(base + page_), __ATOMIC_ACQUIRE);
    pending = prod > cons ? prod - cons : 0;
    size = size_;
    return true;
  }
  int poll(int timeout_ms) override {
    int n = ring_buffer__poll(rb_, timeout_ms);
    if (n < 0 && n != -EINTR) return n;
    // Records submitted with BPF_RB_NO_WAKEUP never trigger epoll: drain them explicitly.
    int m = ring_buffer__consume(rb_);
    if (m < 0) return m;
    return (n > 0 ? n : 0) + m;
  }
  uint64_t transport_lost() const override { return 0; }
  const char *name() const override { return "ringbuf"; }

 private:
  static int on_sample(void *ctx, void *data, size_t size) {
    auto *self = static_cast<RingSource *>(ctx);
    try {
      self->cb_(data, size);
    } catch (const std::exception &e) {  // never unwind through libbpf's C frames
      KLOG_ERROR("event handler failed: %s", e.what());
    }
    return 0;
  }
  Callback cb_;
  struct ::ring_buffer *rb_ = nullptr;
  void *pos_ = MAP_FAILED;
  size_t page_ = 4096;
  uint64_t size_ = 0;
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

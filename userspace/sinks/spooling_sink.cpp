#include "sinks/spooling_sink.h"

#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <cstring>

#include "common/log.h"

namespace ktrail {

void Rejections::add(uint64_t count, uint64_t first, uint64_t last) {
  std::lock_guard<std::mutex> lk(mu_);
  if (pending_.count == 0 || first < pending_.first_sequence) pending_.first_sequence = first;
  if (last > pending_.last_sequence) pending_.last_sequence = last;
  pending_.count += count;
}

delivery::SpoolLoss Rejections::take() {
  std::lock_guard<std::mutex> lk(mu_);
  delivery::SpoolLoss out = pending_;
  pending_ = {};
  return out;
}

namespace {

class SpoolingSink : public Sink {
 public:
  SpoolingSink(std::string name, std::unique_ptr<delivery::Spool> spool,
               std::unique_ptr<delivery::Protocol> proto, SpoolEncoder encode,
               std::shared_ptr<Rejections> rejections)
      : name_(std::move(name)), spool_(std::move(spool)), encode_(std::move(encode)),
        rejections_(std::move(rejections)) {
    sender_ = std::make_unique<delivery::Sender>(*spool_, std::move(proto));
    sender_->start();
  }
  ~SpoolingSink() override {
    spool_->flush();
    // A short grace period to deliver the last records; whatever is left waits in the spool.
    sender_->drain(2000);
    sender_->stop();
    const delivery::SenderStats &st = sender_->stats();
    KLOG_INFO("%s: %llu records sent, %llu of them again after a failure (possible duplicates), "
              "%llu connections, %llu failures; %llu bytes wait in the spool",
              name_.c_str(), static_cast<unsigned long long>(st.sent.load()),
              static_cast<unsigned long long>(st.resent.load()),
              static_cast<unsigned long long>(st.connects.load()),
              static_cast<unsigned long long>(st.failures.load()),
              static_cast<unsigned long long>(spool_->end() - spool_->acked()));
  }
  Format format() const override { return Format::Json; }
  bool write(const std::string &line) override { return write_record(0, line); }
  bool write_record(uint64_t sequence, const std::string &line) override {
    Status st = encode_ ? spool_->append(sequence, encode_(line)) : spool_->append(sequence, line);
    if (!st && !write_failed_) KLOG_ERROR("%s: %s", name_.c_str(), st.message.c_str());
    write_failed_ = !st;
    return static_cast<bool>(st);
  }
  bool flush() override { return static_cast<bool>(spool_->flush()); }
  std::string describe() const override { return name_; }
  OutputStats stats() const override {
    const auto &ss = sender_->stats();
    OutputStats o;
    o.network = true;
    o.records_sent = ss.sent.load();
    o.failures = ss.failures.load();
    o.records_retried = ss.resent.load();
    o.connects = ss.connects.load();
    o.sender_running = ss.running.load();
    o.connected = ss.connected.load();
    o.spool_bytes = spool_->disk_bytes();
    o.spool_oldest_age_seconds = spool_->oldest_pending_age();
    return o;
  }
  bool take_loss(uint64_t &count, uint64_t &first, uint64_t &last) override {
    delivery::SpoolLoss l = spool_->take_loss();
    count = l.count;
    first = l.first_sequence;
    last = l.last_sequence;
    return count != 0;
  }
  bool take_rejected(uint64_t &count, uint64_t &first, uint64_t &last) override {
    if (!rejections_) return false;
    delivery::SpoolLoss l = rejections_->take();
    count = l.count;
    first = l.first_sequence;
    last = l.last_sequence;
    return count != 0;
  }

 private:
  std::string name_;
  std::unique_ptr<delivery::Spool> spool_;
  std::unique_ptr<delivery::Sender> sender_;
  SpoolEncoder encode_;
  std::shared_ptr<Rejections> rejections_;
  bool write_failed_ = false;
};

}  // namespace

Status make_spooling_sink(const std::string &name, const DeliveryOptions &opt,
                          std::unique_ptr<delivery::Protocol> proto, SpoolEncoder encode,
                          std::shared_ptr<Rejections> rejections, std::unique_ptr<Sink> &out) {
  std::string sub = name;
  for (char &c : sub)
    if (!isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-') c = '_';
  if (mkdir(opt.spool_dir.c_str(), 0700) != 0 && errno != EEXIST)
    return Status::error(KTRAIL_EXIT_OUTPUT, "cannot create spool directory " + opt.spool_dir + ": " +
                                                 strerror(errno));
  delivery::SpoolOptions so;
  so.max_bytes = opt.spool_max_bytes;
  so.fsync = opt.spool_fsync;
  std::unique_ptr<delivery::Spool> spool;
  delivery::SpoolRecovery rec;
  if (Status st = delivery::Spool::open(opt.spool_dir + "/" + sub, so, spool, &rec); !st)
    return Status::error(st.code, name + ": " + st.message);
  if (rec.pending_records)
    KLOG_INFO("%s: %llu undelivered records from an earlier run go first", name.c_str(),
              static_cast<unsigned long long>(rec.pending_records));
  out = std::make_unique<SpoolingSink>(name, std::move(spool), std::move(proto), std::move(encode),
                                       std::move(rejections));
  return Status::ok();
}

}  // namespace ktrail

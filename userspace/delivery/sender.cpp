#include "delivery/sender.h"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "common/log.h"

namespace ktrail::delivery {

int backoff_delay_ms(int attempt, int min_ms, int max_ms, uint64_t random) {
  uint64_t cap = static_cast<uint64_t>(min_ms) << std::min(attempt, 20);
  cap = std::min<uint64_t>(cap, static_cast<uint64_t>(max_ms));
  return static_cast<int>(random % (cap + 1));
}

Sender::Sender(Spool &spool, std::unique_ptr<Protocol> proto, SenderOptions opt)
    : spool_(spool), proto_(std::move(proto)), opt_(opt) {}

Sender::~Sender() { stop(); }

void Sender::start() {
  if (thread_.joinable()) return;
  stats_.running = true;  // before the thread exists: a health check right after start sees it live
  thread_ = std::thread([this] { run(); });
}

void Sender::stop() {
  stop_ = true;
  spool_.wake();
  if (thread_.joinable()) thread_.join();
}

bool Sender::drain(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (spool_.acked() < spool_.end()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

bool Sender::sleep_ms(int ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (!stop_ && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(ms, 50)));
  return !stop_;
}

void Sender::run() {
  // OpenSSL writes with write(2), not send(MSG_NOSIGNAL): a collector that hangs up must fail
  // the write with EPIPE, not kill the agent.
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
  std::mt19937_64 rng(std::random_device{}());
  int attempt = 0;
  bool connected = false;
  uint64_t sent = spool_.acked();
  // End of everything handed to the protocol so far, whether or not that send succeeded: a
  // failed send may still have delivered part of its batch.
  uint64_t attempted = sent;
  std::vector<SpoolRecord> batch;
  std::string last_error;
  auto failed = [&](const Status &st) {
    stats_.failures++;
    if (connected) proto_->disconnect();
    connected = false;
    stats_.connected = false;
    // Only a change of cause is logged: a collector down for an hour is one line, not thousands.
    if (st.message != last_error) KLOG_WARN("%s: %s; retrying", proto_->describe().c_str(), st.message.c_str());
    last_error = st.message;
    sent = spool_.acked();  // resend everything not confirmed
    sleep_ms(backoff_delay_ms(attempt++, opt_.backoff_min_ms, opt_.backoff_max_ms, rng()));
  };
  while (!stop_) {
    if (!connected) {
      if (Status st = proto_->connect(); !st) {
        failed(st);
        continue;
      }
      connected = true;
      stats_.connects++;
      stats_.connected = true;
      if (!last_error.empty()) KLOG_INFO("%s: connected again", proto_->describe().c_str());
      last_error.clear();
      attempt = 0;
    }
    if (Status st = spool_.read(sent, opt_.batch_records, opt_.batch_bytes, batch); !st) {
      failed(st);
      continue;
    }
    if (!batch.empty()) {
      if (batch.front().offset < attempted)
        stats_.resent += std::count_if(batch.begin(), batch.end(),
                                       [&](const SpoolRecord &r) { return r.offset < attempted; });
      attempted = std::max(attempted, batch.back().next);
      if (Status st = proto_->send(batch); !st) {
        failed(st);
        continue;
      }
      stats_.sent += batch.size();
      sent = batch.back().next;
    }
    uint64_t upto = 0;
    if (Status st = proto_->confirmed(upto); !st) {
      failed(st);
      continue;
    }
    if (upto > spool_.acked())
      if (Status st = spool_.ack(upto); !st) KLOG_WARN("%s", st.message.c_str());
    if (batch.empty()) spool_.wait_for_data(sent, std::chrono::milliseconds(100));
  }
  if (connected) {
    uint64_t upto = 0;
    if (proto_->confirmed(upto) && upto > spool_.acked()) spool_.ack(upto);
    proto_->disconnect();
  }
  stats_.connected = false;
  stats_.running = false;
}

}  // namespace ktrail::delivery

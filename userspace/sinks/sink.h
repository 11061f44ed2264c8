// Outputs. Each receives every event already formatted; later outputs (network, spool) plug
// in here. write() only buffers whole lines; flush() hands them to the OS, so the pipeline
// decides when records leave the process (after the chain state that describes them is saved).
#pragma once
#include <cstdio>
#include <memory>
#include <string>

#include "common/status.h"
#include "decode/event.h"

namespace ktrail {

enum class Format { Json, Table };

// Delivery counters of one output, for /metrics and /healthz. Read from the metrics thread:
// implementations keep them in atomics.
struct OutputStats {
  uint64_t records_sent = 0;     // written (local) or handed to the collector (network)
  uint64_t failures = 0;         // failed writes (local); failed connects/sends (network)
  uint64_t records_retried = 0;  // network: sent again after a failure
  bool network = false;          // the rest is only meaningful for spooled network outputs
  uint64_t connects = 0;
  bool sender_running = false;
  bool connected = false;
  uint64_t spool_bytes = 0;           // on disk
  double spool_oldest_age_seconds = 0;  // oldest record not yet acknowledged
};

class Sink {
 public:
  virtual ~Sink() = default;
  virtual Format format() const = 0;
  // line has no trailing newline. Returns false on a write error.
  virtual bool write(const std::string &line) = 0;
  // The same, with the record's event.sequence (spooling outputs keep it for loss reports).
  virtual bool write_record(uint64_t /*sequence*/, const std::string &line) { return write(line); }
  // Records this output had to drop (a full spool), once: count and event.sequence range.
  virtual bool take_loss(uint64_t & /*count*/, uint64_t & /*first_seq*/, uint64_t & /*last_seq*/) {
    return false;
  }
  virtual bool flush() = 0;
  virtual std::string describe() const = 0;
  // Size rotation: due once a file reached its limit. The pipeline picks the record boundary
  // (with a chained trail: right before a checkpoint, so every file starts anchored).
  virtual bool rotation_due() const { return false; }
  virtual bool rotate() { return true; }
  // The last complete line the output held when opened (a file from an earlier run), so the
  // chain can resume after it. False when there is none.
  virtual bool last_line(std::string &) const { return false; }
  // Thread-safe (see OutputStats).
  virtual OutputStats stats() const { return {}; }
};

// file: outputs rotate PATH -> PATH.1 -> ... -> PATH.<max_files> once PATH reaches max_bytes.
struct FileRotation {
  uint64_t max_bytes = 0;  // 0: never rotate
  unsigned max_files = 9;  // rotated files kept
  // When records reach the disk: Never (the kernel decides), Rotate (a rotated file is made
  // durable before the next opens), Always (fsync at every flush, ~every --drain-ms).
  enum class Fsync { Never, Rotate, Always } fsync = Fsync::Rotate;
};

// Network outputs (syslog+tcp://, syslog+tls://, syslog+udp://): each spools to
// <spool_dir>/<output> and sends from its own thread (delivery/).
struct DeliveryOptions {
  std::string spool_dir = "/var/lib/ktrail/spool";
  uint64_t spool_max_bytes = 256ull << 20;
  bool spool_fsync = true;
  std::string hostname;  // RFC 5424 HOSTNAME ("": gethostname)
};

// Parses one -o spec: "stdout", "file:PATH" or a network output URL (sinks/syslog_sink.h).
Status make_sink(const std::string &spec, Format stdout_format, std::unique_ptr<Sink> &out,
                 const FileRotation &rotation = {}, const DeliveryOptions &delivery = {});

}  // namespace ktrail

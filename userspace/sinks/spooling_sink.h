// The pipeline side of a network output: every record goes to the output's durable spool
// (delivery/spool.h) and leaves from the output's sender thread (delivery/sender.h). The
// pipeline thread never touches the network.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "delivery/sender.h"
#include "delivery/spool.h"
#include "sinks/sink.h"

namespace ktrail {

// Records a collector refused for good (malformed in its eyes: HTTP 400, a partial success):
// resending cannot help, so they leave the spool but are counted and reported in-band as a
// `lost` record with source "rejected". Shared by the sender thread (add) and the pipeline (take).
class Rejections {
 public:
  void add(uint64_t count, uint64_t first_sequence, uint64_t last_sequence);
  delivery::SpoolLoss take();

 private:
  std::mutex mu_;
  delivery::SpoolLoss pending_;
};

// What the spool holds for one formatted record (syslog: the RFC 5424 message; HTTP outputs:
// the JSON record itself, encoded per batch when sent).
using SpoolEncoder = std::function<std::string(const std::string &json)>;

// Opens <spool_dir>/<name with unsafe characters replaced>, starts the sender and returns the sink.
Status make_spooling_sink(const std::string &name, const DeliveryOptions &opt,
                          std::unique_ptr<delivery::Protocol> proto, SpoolEncoder encode,
                          std::shared_ptr<Rejections> rejections, std::unique_ptr<Sink> &out);

}  // namespace ktrail

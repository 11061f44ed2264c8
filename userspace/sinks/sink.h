// Outputs. Each receives every event already formatted; later outputs (network, spool) plug
// in here.
#pragma once
#include <cstdio>
#include <memory>
#include <string>

#include "common/status.h"
#include "decode/event.h"

namespace ktrail {

enum class Format { Json, Table };

class Sink {
 public:
  virtual ~Sink() = default;
  virtual Format format() const = 0;
  // line has no trailing newline. Returns false on a write error.
  virtual bool write(const std::string &line) = 0;
  virtual bool flush() = 0;
  virtual std::string describe() const = 0;
};

// Parses one -o spec: "stdout" or "file:PATH".
Status make_sink(const std::string &spec, Format stdout_format, std::unique_ptr<Sink> &out);

}  // namespace ktrail

// The real `ktrail run` for privileged end-to-end suites: started in a scratch directory,
// ready once it says "tracing via", stopped with a signal, its NDJSON output read back.
#pragma once
#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ktrail::test {

// Every line of an NDJSON file, parsed. A line that is not one JSON object is a test failure
// (naming it), never skipped. With `complete` false an unterminated last line is left out: the
// agent is still writing it.
std::vector<nlohmann::json> read_ndjson(const std::string &path, bool complete = true);

// The records for which pred holds, in order.
std::vector<nlohmann::json> select(const std::vector<nlohmann::json> &records,
                                   const std::function<bool(const nlohmann::json &)> &pred);

class Agent {
 public:
  Agent() = default;
  Agent(const Agent &) = delete;
  Agent &operator=(const Agent &) = delete;
  // Stops a running agent; removes the scratch directory unless the test failed.
  ~Agent();

  // `ktrail run --format json --chain-state none -o file:DIR/events.ndjson EXTRA...` in a fresh
  // scratch DIR, stderr to DIR/ktrail.err. True once it traces; false when it exited first or
  // said nothing within timeout (err() tells why).
  bool start(const std::vector<std::string> &extra = {},
             std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // Sends sig (SIGINT: drain, flush, exit 0) and reaps the agent, SIGKILL after 30 s. Its
  // exit code; -1 when a signal ended it or it had to be killed.
  int stop(int sig = SIGINT);
  // stop() with exit code 0 expected, then every record written.
  std::vector<nlohmann::json> stop_and_read();

  // Every record written so far (the agent may still be running).
  std::vector<nlohmann::json> records() const { return read_ndjson(out_, false); }
  std::string err() const;
  const std::string &out() const { return out_; }
  const std::string &dir() const { return dir_; }
  pid_t pid() const { return pid_; }

 private:
  std::string dir_, out_, err_;
  pid_t pid_ = -1;
};

}  // namespace ktrail::test

// Prometheus metrics: a registry of counters and scrape-time collectors, rendered in the text
// exposition format 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/).
//
// Hot paths never take a lock: look a counter up once (counter() locks), keep the pointer,
// and call inc() on it (a relaxed atomic add). Values that live elsewhere (spool sizes, ring
// fill, CPU time) are read by collectors when /metrics is scraped, on the server's thread.
//
// API for other modules (the alert-rules engine, outputs):
//   metrics::Registry &r = ...;                      // the agent's registry (run.cpp)
//   r.describe("ktrail_rule_hits_total", "Alerts raised, by rule id.");  // optional, once
//   metrics::Counter *c = r.counter("ktrail_rule_hits_total", {{"rule", rule.id}});
//   c->inc();                                        // any thread, lock-free
// A counter lives as long as the registry; the same name and labels give the same pointer.
// Names must match [a-zA-Z_:][a-zA-Z0-9_:]* and label names [a-zA-Z_][a-zA-Z0-9_]*
// (std::invalid_argument otherwise); label values are any UTF-8 text (escaped on output).
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace ktrail::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void inc(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

enum class Type { Counter, Gauge };

// One sample of a scrape-time family.
struct Sample {
  Labels labels;
  double value = 0;
};

// What a collector reports: a family name, its help text and type, and its samples.
struct Family {
  std::string name, help;
  Type type = Type::Gauge;
  std::vector<Sample> samples;
};

class Registry {
 public:
  // Help text and type of a family; the first call wins. Families never described get an
  // empty help line and type counter.
  void describe(const std::string &name, const std::string &help, Type type = Type::Counter);
  // The counter name{labels}, created at 0. Thread-safe (locks); keep the pointer.
  Counter *counter(const std::string &name, const Labels &labels = {});
  // Called at every scrape, on the server's thread: must be thread-safe and quick.
  void add_collector(std::function<void(std::vector<Family> &)> fn);
  // The whole exposition: families sorted by name, counters and collectors merged.
  std::string render() const;

 private:
  struct CounterFamily {
    std::string help;
    Type type = Type::Counter;
    bool described = false;
    std::map<Labels, std::unique_ptr<Counter>> series;
  };
  mutable std::mutex mu_;
  std::map<std::string, CounterFamily> families_;
  std::vector<std::function<void(std::vector<Family> &)>> collectors_;
};

// Exposition-format pieces (unit tested).
bool valid_metric_name(const std::string &name);
bool valid_label_name(const std::string &name);
std::string escape_label_value(const std::string &v);  // \ -> \\, " -> \", newline -> \n
std::string escape_help(const std::string &v);         // \ -> \\, newline -> \n
std::string format_value(double v);                    // integers exactly; +Inf, -Inf, NaN
// Appends one family (HELP, TYPE, samples) to out.
void render_family(const Family &f, std::string &out);

inline constexpr const char *kContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace ktrail::metrics

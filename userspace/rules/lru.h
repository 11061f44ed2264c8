// A string-keyed map with a capacity: inserting into a full map forgets the least recently
// used key. Rule state (thresholds, first_seen, sequences) lives in these, so memory stays
// bounded whatever the event stream holds.
#pragma once
#include <cstddef>
#include <list>
#include <string>
#include <unordered_map>
#include <utility>

namespace ktrail::rules {

template <typename V>
class LruMap {
 public:
  explicit LruMap(size_t capacity = 10000) : cap_(capacity ? capacity : 1) {}

  // The value for `key`, marked most recently used; nullptr when absent.
  V *find(const std::string &key) {
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    order_.splice(order_.begin(), order_, it->second);
    return &it->second->second;
  }
  // Inserts (or finds) `key`, evicting the least recently used key when full.
  V &get_or_add(const std::string &key) {
    if (V *v = find(key)) return *v;
    if (index_.size() >= cap_) {
      index_.erase(order_.back().first);
      order_.pop_back();
      evicted_++;
    }
    order_.emplace_front(key, V{});
    index_.emplace(key, order_.begin());
    return order_.front().second;
  }
  void erase(const std::string &key) {
    auto it = index_.find(key);
    if (it == index_.end()) return;
    order_.erase(it->second);
    index_.erase(it);
  }
  size_t size() const { return index_.size(); }
  size_t capacity() const { return cap_; }
  uint64_t evicted() const { return evicted_; }

 private:
  size_t cap_;
  uint64_t evicted_ = 0;
  std::list<std::pair<std::string, V>> order_;
  std::unordered_map<std::string, typename std::list<std::pair<std::string, V>>::iterator> index_;
};

}  // namespace ktrail::rules

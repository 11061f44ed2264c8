// pid -> T for the per-process tables of the enrichers, without a heap allocation per process.
// Under an exec storm every process is inserted once and erased once, a few hundred times a
// second; a node-based map allocates and frees a node (and the value's strings) each time.
// Here values live in slots that are recycled after erase with their strings' and vectors'
// buffers intact, found through an open-addressing index (linear probing, backward-shift
// deletion, so no tombstones accumulate under constant churn).
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

namespace ktrail {

template <typename T>
class PidMap {
 public:
  T *find(uint32_t pid) {
    size_t i = probe(pid);
    return i == kNone ? nullptr : &slots_[index_[i].slot].value;
  }
  const T *find(uint32_t pid) const { return const_cast<PidMap *>(this)->find(pid); }
  bool contains(uint32_t pid) const { return probe(pid) != kNone; }

  // pid's value. A new entry gets a recycled slot that still holds a former process's values
  // (that is the point: their buffers are reused), so the caller assigns every member.
  // References stay valid until that entry is erased (slots never move).
  T &put(uint32_t pid, bool *created = nullptr) {
    if (size_t i = probe(pid); i != kNone) {
      if (created) *created = false;
      return slots_[index_[i].slot].value;
    }
    if (created) *created = true;
    if ((size_ + 1) * 2 > index_.size()) grow();
    uint32_t s;
    if (!free_.empty()) {
      s = free_.back();
      free_.pop_back();
    } else {
      s = static_cast<uint32_t>(slots_.size());
      slots_.emplace_back();
    }
    slots_[s].pid = pid;
    place(pid, s);
    size_++;
    return slots_[s].value;
  }

  bool erase(uint32_t pid) {
    size_t i = probe(pid);
    if (i == kNone) return false;
    uint32_t s = index_[i].slot;
    slots_[s].pid = kEmpty;
    free_.push_back(s);
    size_--;
    // Backward shift: pull later members of the probe run into the hole, so lookups never
    // stop early at it.
    const size_t mask = index_.size() - 1;
    size_t hole = i;
    for (size_t j = (i + 1) & mask; index_[j].pid != kEmpty; j = (j + 1) & mask) {
      size_t home = hash(index_[j].pid) & mask;
      // j's member may move to the hole if its home is not cyclically within (hole, j].
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        index_[hole] = index_[j];
        hole = j;
      }
    }
    index_[hole].pid = kEmpty;
    return true;
  }

  // Forgets every entry; the slots keep their buffers for the next ones.
  void clear() {
    for (auto &e : index_) e.pid = kEmpty;
    free_.clear();
    for (uint32_t s = static_cast<uint32_t>(slots_.size()); s-- > 0;) {
      slots_[s].pid = kEmpty;
      free_.push_back(s);
    }
    size_ = 0;
  }

  size_t size() const { return size_; }

  // f(pid, value) for every entry; f returns true to erase it.
  template <typename F>
  size_t erase_if(F &&f) {
    size_t n = 0;
    for (auto &s : slots_)
      if (s.pid != kEmpty && f(s.pid, s.value)) n += erase(s.pid);
    return n;
  }

 private:
  // Above any pid (PID_MAX_LIMIT is 2^22), so pid 0 is an ordinary key.
  static constexpr uint32_t kEmpty = UINT32_MAX;
  static constexpr size_t kNone = SIZE_MAX;
  struct Cell {
    uint32_t pid = kEmpty;
    uint32_t slot = 0;
  };
  struct Slot {
    uint32_t pid = kEmpty;
    T value{};
  };
  // Pids are sequential: a multiplicative hash spreads neighbours over the table.
  static size_t hash(uint32_t pid) { return static_cast<size_t>((pid * 0x9E3779B1u) >> 7); }
  size_t probe(uint32_t pid) const {
    if (index_.empty()) return kNone;
    const size_t mask = index_.size() - 1;
    for (size_t i = hash(pid) & mask;; i = (i + 1) & mask) {
      if (index_[i].pid == pid) return i;
      if (index_[i].pid == kEmpty) return kNone;
    }
  }
  void place(uint32_t pid, uint32_t slot) {
    const size_t mask = index_.size() - 1;
    size_t i = hash(pid) & mask;
    while (index_[i].pid != kEmpty) i = (i + 1) & mask;
    index_[i] = Cell{pid, slot};
  }
  void grow() {
    std::vector<Cell> old;
    old.swap(index_);
    index_.assign(old.empty() ? 64 : old.size() * 2, Cell{});
    for (const Cell &c : old)
      if (c.pid != kEmpty) place(c.pid, c.slot);
  }

  std::vector<Cell> index_;   // power-of-two size, at most half full
  std::deque<Slot> slots_;    // a deque: growing it never moves a value
  std::vector<uint32_t> free_;
  size_t size_ = 0;
};

}  // namespace ktrail

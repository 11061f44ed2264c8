// uid/gid -> name from passwd/group files. Parsed directly (no NSS), so the static binary
// behaves the same; re-read when the file changes.
#pragma once
#include <cstdint>
#include <ctime>
#include <string>
#include <unordered_map>

namespace ktrail {

class NameDb {
 public:
  explicit NameDb(std::string path) : path_(std::move(path)) {}
  // Not copied: the kept answer points into names_ (a move takes the map's nodes along).
  NameDb(const NameDb &) = delete;
  NameDb &operator=(const NameDb &) = delete;
  NameDb(NameDb &&) = default;
  NameDb &operator=(NameDb &&) = default;
  // "" when unknown.
  const std::string &lookup(uint32_t id);
  void refresh();  // re-parse if the file's mtime changed
  // Same file seen through another path (a container's /etc via another /proc/PID/root):
  // the names stay until the next refresh finds the file changed.
  void set_path(std::string path) { path_ = std::move(path); }

 private:
  std::string path_;
  std::unordered_map<uint32_t, std::string> names_;
  uint32_t last_id_ = 0;
  const std::string *last_ = nullptr;  // lookup(last_id_); null: none since names_ changed
  timespec mtime_{};
  time_t last_check_ = 0;
};

class Users {
 public:
  explicit Users(const std::string &etc = "/etc")
      : passwd_(etc + "/passwd"), group_(etc + "/group") {}
  const std::string &user(uint32_t uid) { return passwd_.lookup(uid); }
  const std::string &group(uint32_t gid) { return group_.lookup(gid); }

 private:
  NameDb passwd_, group_;
};

}  // namespace ktrail

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
  // "" when unknown.
  const std::string &lookup(uint32_t id);
  void refresh();  // re-parse if the file's mtime changed
  // Same file seen through another path (a container's /etc via another /proc/PID/root):
  // the names stay until the next refresh finds the file changed.
  void set_path(std::string path) { path_ = std::move(path); }

 private:
  std::string path_;
  std::unordered_map<uint32_t, std::string> names_;
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

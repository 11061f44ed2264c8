#include "integrity/state.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace ktrail {
namespace {

constexpr const char *kFormat = "ktrail-chain-state/1";

std::string parent_dir(const std::string &path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  return dir.empty() ? "." : dir;
}

Status io_error(const std::string &what, const std::string &path) {
  return Status::error(KTRAIL_EXIT_OUTPUT, what + " " + path + ": " + strerror(errno));
}

bool write_all(int fd, const std::string &s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

Status load_chain_state(const std::string &path, ChainState &out, bool &found) {
  found = false;
  std::ifstream f(path);
  if (!f) {
    if (errno == ENOENT) return Status::ok();
    return io_error("cannot read chain state", path);
  }
  std::stringstream ss;
  ss << f.rdbuf();
  try {
    auto j = nlohmann::json::parse(ss.str());
    if (j.at("format") != kFormat) throw std::runtime_error("unknown format");
    ChainState s;
    s.host_id = j.at("host_id").get<std::string>();
    s.sequence = j.at("sequence").get<uint64_t>();
    if (!from_hex(j.at("hash").get<std::string>(), s.hash)) throw std::runtime_error("bad hash");
    s.written = j.at("written").get<uint64_t>();
    s.checkpoint_sequence = j.at("checkpoint").at("sequence").get<uint64_t>();
    s.checkpoint_signature = j.at("checkpoint").at("signature").get<std::string>();
    if (s.written > s.sequence || s.checkpoint_sequence > s.sequence)
      throw std::runtime_error("inconsistent sequences");
    out = s;
  } catch (const std::exception &e) {
    // Guessing would fork the chain; the operator decides (move the file away to start anew).
    return Status::error(KTRAIL_EXIT_USAGE, "chain state " + path + " is unreadable (" + e.what() +
                                                "); move it away to start a new chain");
  }
  found = true;
  return Status::ok();
}

Status save_chain_state(const std::string &path, const ChainState &s) {
  nlohmann::ordered_json j;
  j["format"] = kFormat;
  j["host_id"] = s.host_id;
  j["sequence"] = s.sequence;
  j["hash"] = to_hex(s.hash);
  j["written"] = s.written;
  j["checkpoint"] = {{"sequence", s.checkpoint_sequence}, {"signature", s.checkpoint_signature}};
  const std::string text = j.dump() + "\n";
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return io_error("cannot write chain state", tmp);
  if (!write_all(fd, text) || ::fsync(fd) != 0) {
    Status st = io_error("cannot write chain state", tmp);
    ::close(fd);
    return st;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return io_error("cannot replace chain state", path);
  // The rename itself must reach the disk, or a power loss brings back the older state.
  int dfd = ::open(parent_dir(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::ok();
}

Status StateLock::acquire(const std::string &state_path, std::unique_ptr<StateLock> &out) {
  const std::string dir = parent_dir(state_path);
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) {
    std::filesystem::create_directories(dir, ec);
    if (ec)
      return Status::error(KTRAIL_EXIT_OUTPUT, "cannot create the directory of chain state " +
                                                   state_path + ": " + ec.message());
    ::chmod(dir.c_str(), 0700);  // only a directory we created: nobody else needs to write there
  }
  const std::string lock = state_path + ".lock";
  int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return io_error("cannot open", lock);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK)
      return Status::error(KTRAIL_EXIT_USAGE,
                           "chain state " + state_path +
                               " is in use by another ktrail; give this run its own with "
                               "--chain-state FILE (or --chain-state none)");
    errno = err;
    return io_error("cannot lock", lock);
  }
  out.reset(new StateLock(fd));
  return Status::ok();
}

StateLock::~StateLock() { ::close(fd_); }

}  // namespace ktrail

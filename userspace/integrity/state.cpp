#include "integrity/state.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "sinks/json_writer.h"

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

// A slot: "<64 hex SHA-256 of JSON> <JSON>\n", padded with spaces to kSlotSize.
bool parse_slot(std::string_view slot, ChainState &s, uint64_t &generation) {
  size_t nl = slot.find('\n');
  if (nl == std::string_view::npos || nl < 66 || slot[64] != ' ') return false;
  std::string_view body = slot.substr(65, nl - 65);
  if (to_hex(sha256(body)) != slot.substr(0, 64)) return false;
  try {
    auto j = nlohmann::json::parse(body);
    if (j.at("format") != kFormat) return false;
    generation = j.at("generation").get<uint64_t>();
    s.host_id = j.at("host_id").get<std::string>();
    s.sequence = j.at("sequence").get<uint64_t>();
    if (!from_hex(j.at("hash").get<std::string>(), s.hash)) return false;
    s.written = j.at("written").get<uint64_t>();
    s.checkpoint_sequence = j.at("checkpoint").at("sequence").get<uint64_t>();
    s.checkpoint_signature = j.at("checkpoint").at("signature").get<std::string>();
    return s.written <= s.sequence && s.checkpoint_sequence <= s.sequence;
  } catch (const std::exception &) {
    return false;
  }
}

}  // namespace

Status StateFile::open(const std::string &path, std::unique_ptr<StateFile> &out) {
  const std::string dir = parent_dir(path);
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) {
    std::filesystem::create_directories(dir, ec);
    if (ec)
      return Status::error(KTRAIL_EXIT_OUTPUT,
                           "cannot create the directory of chain state " + path + ": " + ec.message());
    ::chmod(dir.c_str(), 0700);  // only a directory we created: nobody else needs to write there
  }
  const bool existed = std::filesystem::exists(path, ec);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return io_error("cannot open chain state", path);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK)
      return Status::error(KTRAIL_EXIT_USAGE,
                           "chain state " + path +
                               " is in use by another ktrail; give this run its own with "
                               "--chain-state FILE (or --chain-state none)");
    errno = err;
    return io_error("cannot lock chain state", path);
  }
  if (!existed) {
    // The new name must survive a power loss like its contents will.
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
  }
  out.reset(new StateFile(path, fd));
  return Status::ok();
}

StateFile::~StateFile() { ::close(fd_); }

Status StateFile::load(ChainState &out, bool &found) {
  found = false;
  std::string buf(2 * kSlotSize, '\0');
  ssize_t n = pread(fd_, buf.data(), buf.size(), 0);
  if (n < 0) return io_error("cannot read chain state", path_);
  if (n == 0) return Status::ok();
  buf.resize(static_cast<size_t>(n));
  ChainState best;
  uint64_t best_gen = 0;
  for (size_t slot = 0; slot < 2 && slot * kSlotSize < buf.size(); slot++) {
    ChainState s;
    uint64_t gen = 0;
    if (parse_slot(std::string_view(buf).substr(slot * kSlotSize, kSlotSize), s, gen) &&
        (!found || gen > best_gen)) {
      best = s;
      best_gen = gen;
      found = true;
    }
  }
  if (!found)
    // Guessing would fork the chain; the operator decides (move the file away to start anew).
    return Status::error(KTRAIL_EXIT_USAGE, "chain state " + path_ +
                                                " is unreadable; move it away to start a new chain");
  out = best;
  generation_ = best_gen;
  return Status::ok();
}

Status StateFile::save(const ChainState &s, bool durable) {
  // Saved before every release of records (about every --drain-ms): the slot is written into
  // a buffer kept from the last save, with the record writer, not through a JSON document.
  std::string &slot = slot_;
  slot.assign(65, ' ');  // the checksum goes first, once the body is known
  {
    JsonWriter w(slot);
    w.begin_object();
    w.field("format", kFormat);
    w.field("generation", generation_ + 1);
    w.field("host_id", s.host_id);
    w.field("sequence", s.sequence);
    char hex[64];
    hex_into(s.hash, hex);
    w.field("hash", std::string_view(hex, sizeof(hex)));
    w.field("written", s.written);
    w.key("checkpoint").begin_object();
    w.field("sequence", s.checkpoint_sequence).field("signature", s.checkpoint_signature);
    w.end_object();
    w.end_object();
  }
  const std::string_view body = std::string_view(slot).substr(65);
  if (slot.size() + 1 > kSlotSize) return Status::error(KTRAIL_EXIT_RUNTIME, "chain state too large");
  char sum[64];
  hex_into(sha_.update(body).finish(), sum);
  slot.replace(0, 64, sum, sizeof(sum));
  slot += '\n';
  slot.resize(kSlotSize, ' ');
  // The older slot: the newer one stays intact whatever happens to this write.
  const off_t at = static_cast<off_t>(((generation_ + 1) % 2) * kSlotSize);
  if (pwrite(fd_, slot.data(), slot.size(), at) != static_cast<ssize_t>(slot.size()))
    return io_error("cannot write chain state", path_);
  if (durable && fdatasync(fd_) != 0) return io_error("cannot sync chain state", path_);
  generation_++;
  return Status::ok();
}

}  // namespace ktrail

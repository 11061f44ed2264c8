// Raw transport bytes -> typed Event. The only user of include/ktrail/abi besides the loader.
#pragma once
#include <cstddef>
#include <string>

#include "decode/event.h"

struct ktrail_sockaddr;

namespace ktrail {

struct DecodeResult {
  bool ok = false;
  std::string error;  // why the record was rejected (counted as loss by the pipeline)
  uint32_t hook = 0;  // best-effort hook id for loss accounting
};

DecodeResult decode_record(const void *data, size_t size, Event &out);
// Resets e to a default Event (decode_record starts so) while its strings keep their heap
// buffers: the pipeline reuses one event for every record, whose paths and names then land
// in memory the previous record already allocated.
void reset_event(Event &e);

// Agent-internal records (KTRAIL_EV_CGROUP): not output events, they keep the enricher's
// cgroup id -> path map current.
struct CgroupRecord {
  uint64_t boot_ns = 0;
  uint64_t id = 0;
  uint32_t level = 0;
  std::string path;
};
// True when the record is a cgroup record (then out is filled, or r says why it is invalid).
bool decode_cgroup_record(const void *data, size_t size, CgroupRecord &out, DecodeResult &r);

// True when the record is a well-formed exit record: pid is the process that exited. Reads the
// header only (the transport's look-ahead, before the record is decoded).
bool peek_exit(const void *data, size_t size, uint32_t &pid);

// Joins leaf-first NUL-separated components into "/a/b/c".
std::string join_cwd_components(const char *buf, size_t len);
void join_cwd_components(const char *buf, size_t len, std::string &out);  // into out, replacing it
// Splits NUL-separated argv bytes.
std::vector<std::string> split_args(const char *buf, size_t len);
void split_args(const char *buf, size_t len, std::vector<std::string> &out);  // into out, replacing it

const char *cred_syscall_name(uint32_t syscall);
// "pts3" (tty->name) -> "pts/3"; other names unchanged.
std::string tty_display_name(const std::string &kernel_name);
// An address from kernel memory -> printable ip and port ("" when the family is unknown).
Endpoint decode_sockaddr(const ktrail_sockaddr &a);
const char *hook_name(uint32_t hook);
// Capability and file records (decode_cap_file.cpp); false with err set when malformed.
bool decode_capable(const void *data, size_t size, Event &e, std::string &err);
bool decode_file(const void *data, size_t size, Event &e, std::string &err);
const char *file_syscall_name(uint32_t syscall);

}  // namespace ktrail

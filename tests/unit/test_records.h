// Builders for raw transport records, as the BPF side submits them.
#pragma once
#include <cstddef>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ktrail/abi/events.h"

namespace ktrail::test {

inline void fill_header(ktrail_header &h, __u32 type, __u32 size) {
  std::memset(&h, 0, sizeof(h));
  h.boot_ns = 0x1111222233334444ull;
  h.cgroup_id = 0x5555666677778888ull;
  h.start_boot_ns = 0x0102030405060708ull;
  h.type = type;
  h.size = size;
  h.pid = 4242;
  h.tid = 4243;
  h.ppid = 1717;
  h.ns_pid = 17;
  h.mnt_ns = 4026531840u;
  h.pid_ns = 4026531836u;
  h.loginuid = 1000;
  h.sessionid = 7;
  h.creds = {1001, 1002, 1003, 1004, 2001, 2002, 2003, 2004};
  h.flags = 0;
  std::memcpy(h.comm, "bash", 5);
}

inline std::vector<char> bytes_of(const void *p, size_t n) {
  const char *c = static_cast<const char *>(p);
  return std::vector<char>(c, c + n);
}

// An exec record as submitted: the fixed part, then filename, NUL, cwd and args packed.
inline std::vector<char> exec_record(const std::string &filename, const std::string &cwd_leaf_first,
                                     const std::string &args, __u32 flags = 0, __u32 argc = 0) {
  auto x = std::make_unique<ktrail_exec>();
  std::memset(x.get(), 0, sizeof(*x));
  const size_t size = offsetof(ktrail_exec, data) + filename.size() + 1 + cwd_leaf_first.size() + args.size();
  fill_header(x->hdr, KTRAIL_EV_EXEC, static_cast<__u32>(size));
  x->flags = flags;
  x->argc = argc;
  x->args_len = static_cast<__u32>(args.size());
  x->cwd_len = static_cast<__u32>(cwd_leaf_first.size());
  x->filename_len = static_cast<__u32>(filename.size());
  std::memcpy(x->tty, "pts/3", 6);
  char *d = x->data;
  std::memcpy(d, filename.data(), filename.size());
  d += filename.size() + 1;
  std::memcpy(d, cwd_leaf_first.data(), cwd_leaf_first.size());
  d += cwd_leaf_first.size();
  std::memcpy(d, args.data(), args.size());
  return bytes_of(x.get(), size);
}

inline ktrail_cred cred_record(__u32 syscall, __s64 ret) {
  ktrail_cred c;
  std::memset(&c, 0, sizeof(c));
  fill_header(c.hdr, KTRAIL_EV_CRED, sizeof(c));
  c.ret = ret;
  c.syscall = syscall;
  c.old_creds = {11, 12, 13, 14, 21, 22, 23, 24};
  return c;
}

}  // namespace ktrail::test

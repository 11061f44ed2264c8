// The ABI in include/ktrail/abi/events.h is compiled twice: by clang -target bpf for the BPF
// programs and by the host C++ compiler for the agent. This test reads the layout the BPF
// compiler produced (BTF of the linked object) and checks it against the host layout, field
// by field, in both directions: a field added on one side only fails here.
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "ktrail/abi/events.h"

namespace {

// Mirrors of the BPF-only structs in bpf/maps.bpf.h (the agent reads these map values).
struct mirror_hook_stats {
  __u64 emitted;
  __u64 dropped;
};
struct mirror_pending {
  __u64 args[6];
  __u64 cap_old[3];
  struct ktrail_creds old_creds;
  __u32 syscall;
  __u32 compat;
  __u32 file_mode;
  __u32 file_uid;
  __u32 file_gid;
  __u32 file_known;
};

struct Field {
  size_t offset;
  size_t size;
};

struct Layout {
  std::string btf_name;
  size_t size;
  std::map<std::string, Field> fields;
};

#define F(type, member) \
  { #member, Field{offsetof(type, member), sizeof(((type *)nullptr)->member)} }

std::vector<Layout> host_layouts() {
  return {
      {"ktrail_creds",
       sizeof(ktrail_creds),
       {F(ktrail_creds, uid), F(ktrail_creds, euid), F(ktrail_creds, suid), F(ktrail_creds, fsuid),
        F(ktrail_creds, gid), F(ktrail_creds, egid), F(ktrail_creds, sgid), F(ktrail_creds, fsgid)}},
      {"ktrail_header",
       sizeof(ktrail_header),
       {F(ktrail_header, boot_ns), F(ktrail_header, cgroup_id), F(ktrail_header, start_boot_ns),
        F(ktrail_header, type), F(ktrail_header, size), F(ktrail_header, pid),
        F(ktrail_header, tid), F(ktrail_header, ppid), F(ktrail_header, ns_pid),
        F(ktrail_header, mnt_ns), F(ktrail_header, pid_ns), F(ktrail_header, loginuid),
        F(ktrail_header, sessionid), F(ktrail_header, creds), F(ktrail_header, flags),
        F(ktrail_header, _pad0), F(ktrail_header, _pad1), F(ktrail_header, comm)}},
      {"ktrail_exec",
       sizeof(ktrail_exec),
       {F(ktrail_exec, hdr), F(ktrail_exec, flags), F(ktrail_exec, argc), F(ktrail_exec, args_len),
        F(ktrail_exec, cwd_len), F(ktrail_exec, filename_len), F(ktrail_exec, sid),
        F(ktrail_exec, tty), F(ktrail_exec, data)}},
      {"ktrail_exec_failed",
       sizeof(ktrail_exec_failed),
       {F(ktrail_exec_failed, hdr), F(ktrail_exec_failed, ret), F(ktrail_exec_failed, dirfd),
        F(ktrail_exec_failed, syscall), F(ktrail_exec_failed, at_flags),
        F(ktrail_exec_failed, filename_len), F(ktrail_exec_failed, filename)}},
      {"ktrail_exit",
       sizeof(ktrail_exit),
       {F(ktrail_exit, hdr), F(ktrail_exit, exit_code), F(ktrail_exit, _pad0)}},
      {"ktrail_cred",
       sizeof(ktrail_cred),
       {F(ktrail_cred, hdr), F(ktrail_cred, ret), F(ktrail_cred, args), F(ktrail_cred, cap_req),
        F(ktrail_cred, cap_old), F(ktrail_cred, cap_new), F(ktrail_cred, old_creds),
        F(ktrail_cred, syscall), F(ktrail_cred, ngroups), F(ktrail_cred, groups)}},
      {"ktrail_sockaddr",
       sizeof(ktrail_sockaddr),
       {F(ktrail_sockaddr, addr), F(ktrail_sockaddr, port), F(ktrail_sockaddr, family),
        F(ktrail_sockaddr, _pad0)}},
      {"ktrail_ssh_accept",
       sizeof(ktrail_ssh_accept),
       {F(ktrail_ssh_accept, hdr), F(ktrail_ssh_accept, peer), F(ktrail_ssh_accept, local),
        F(ktrail_ssh_accept, fd), F(ktrail_ssh_accept, syscall)}},
      {"ktrail_ssh_log",
       sizeof(ktrail_ssh_log),
       {F(ktrail_ssh_log, hdr), F(ktrail_ssh_log, ret), F(ktrail_ssh_log, fd),
        F(ktrail_ssh_log, syscall), F(ktrail_ssh_log, fd_kind), F(ktrail_ssh_log, len),
        F(ktrail_ssh_log, data)}},
      {"ktrail_ssh_pam",
       sizeof(ktrail_ssh_pam),
       {F(ktrail_ssh_pam, hdr), F(ktrail_ssh_pam, peer), F(ktrail_ssh_pam, local),
        F(ktrail_ssh_pam, ret), F(ktrail_ssh_pam, op), F(ktrail_ssh_pam, _pad0),
        F(ktrail_ssh_pam, service), F(ktrail_ssh_pam, user)}},
      {"ktrail_cgroup",
       sizeof(ktrail_cgroup),
       {F(ktrail_cgroup, hdr), F(ktrail_cgroup, id), F(ktrail_cgroup, op), F(ktrail_cgroup, level),
        F(ktrail_cgroup, path_len), F(ktrail_cgroup, _pad0), F(ktrail_cgroup, path)}},
      {"ktrail_hook_stats",
       sizeof(mirror_hook_stats),
       {F(mirror_hook_stats, emitted), F(mirror_hook_stats, dropped)}},
      {"ktrail_pending",
       sizeof(mirror_pending),
       {F(mirror_pending, args), F(mirror_pending, cap_old), F(mirror_pending, old_creds),
        F(mirror_pending, syscall), F(mirror_pending, compat), F(mirror_pending, file_mode),
        F(mirror_pending, file_uid), F(mirror_pending, file_gid), F(mirror_pending, file_known)}},
      {"ktrail_capable",
       sizeof(ktrail_capable),
       {F(ktrail_capable, hdr), F(ktrail_capable, count), F(ktrail_capable, first_boot_ns),
        F(ktrail_capable, exe_ino), F(ktrail_capable, exe_dev), F(ktrail_capable, cap),
        F(ktrail_capable, ret), F(ktrail_capable, syscall_nr), F(ktrail_capable, audit),
        F(ktrail_capable, origin), F(ktrail_capable, hook), F(ktrail_capable, noise),
        F(ktrail_capable, _pad0)}},
      {"ktrail_cap_key",
       sizeof(ktrail_cap_key),
       {F(ktrail_cap_key, cgroup_id), F(ktrail_cap_key, exe_ino), F(ktrail_cap_key, tgid),
        F(ktrail_cap_key, exe_dev), F(ktrail_cap_key, cap), F(ktrail_cap_key, denied),
        F(ktrail_cap_key, audit), F(ktrail_cap_key, _pad0), F(ktrail_cap_key, comm)}},
      {"ktrail_cap_agg",
       sizeof(ktrail_cap_agg),
       {F(ktrail_cap_agg, count), F(ktrail_cap_agg, last_boot_ns), F(ktrail_cap_agg, first)}},
      {"ktrail_watch",
       sizeof(ktrail_watch),
       {F(ktrail_watch, w), F(ktrail_watch, len), F(ktrail_watch, flags)}},
      {"ktrail_file",
       sizeof(ktrail_file),
       {F(ktrail_file, hdr), F(ktrail_file, ret), F(ktrail_file, arg_flags),
        F(ktrail_file, syscall), F(ktrail_file, flags), F(ktrail_file, mode),
        F(ktrail_file, old_mode), F(ktrail_file, uid), F(ktrail_file, gid),
        F(ktrail_file, old_uid), F(ktrail_file, old_gid), F(ktrail_file, ino), F(ktrail_file, dev),
        F(ktrail_file, path_len), F(ktrail_file, new_path_len), F(ktrail_file, watch),
        F(ktrail_file, _pad0), F(ktrail_file, path), F(ktrail_file, new_path)}},
  };
}
#undef F

class AbiLayout : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    btf_ = btf__parse_elf(KTRAIL_BPF_OBJECT, nullptr);
    if (libbpf_get_error(btf_)) btf_ = nullptr;
  }
  static void TearDownTestSuite() {
    btf__free(btf_);
    btf_ = nullptr;
  }
  static struct btf *btf_;
};
struct btf *AbiLayout::btf_ = nullptr;

TEST_F(AbiLayout, BpfObjectHasBtf) {
  ASSERT_NE(btf_, nullptr) << "cannot parse BTF of " << KTRAIL_BPF_OBJECT;
}

TEST_F(AbiLayout, EveryStructMatchesHostLayout) {
  ASSERT_NE(btf_, nullptr);
  for (const Layout &l : host_layouts()) {
    SCOPED_TRACE(l.btf_name);
    __s32 id = btf__find_by_name_kind(btf_, l.btf_name.c_str(), BTF_KIND_STRUCT);
    ASSERT_GT(id, 0) << "struct " << l.btf_name << " missing from the BPF object's BTF";
    const struct btf_type *t = btf__type_by_id(btf_, id);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->size, l.size) << "sizeof(struct " << l.btf_name << ") differs";
    EXPECT_EQ(l.size % 8, 0u) << "struct " << l.btf_name << " size is not a multiple of 8";

    std::set<std::string> seen;
    const struct btf_member *m = btf_members(t);
    for (int i = 0; i < btf_vlen(t); i++, m++) {
      std::string name = btf__name_by_offset(btf_, m->name_off);
      SCOPED_TRACE(l.btf_name + "." + name);
      seen.insert(name);
      auto it = l.fields.find(name);
      if (it == l.fields.end()) {
        ADD_FAILURE() << "BTF member " << l.btf_name << "." << name
                      << " has no entry in the host layout table (new field? add it)";
        continue;
      }
      EXPECT_EQ(btf_member_bitfield_size(t, i), 0u) << "bitfields are not allowed in the ABI";
      __u32 bit = btf_member_bit_offset(t, i);
      EXPECT_EQ(bit % 8, 0u);
      EXPECT_EQ(bit / 8, it->second.offset) << "offset differs";
      __s64 msize = btf__resolve_size(btf_, m->type);
      EXPECT_EQ(msize, static_cast<__s64>(it->second.size)) << "member size differs";
    }
    for (const auto &[name, f] : l.fields)
      EXPECT_TRUE(seen.count(name)) << l.btf_name << "." << name << " is not in the BPF BTF";
  }
}

TEST_F(AbiLayout, ScratchUnionHoldsTheLargestRecord) {
  ASSERT_NE(btf_, nullptr);
  __s32 id = btf__find_by_name_kind(btf_, "ktrail_scratch", BTF_KIND_UNION);
  ASSERT_GT(id, 0);
  size_t largest = std::max({sizeof(ktrail_exec), sizeof(ktrail_exec_failed), sizeof(ktrail_exit),
                             sizeof(ktrail_cred), sizeof(ktrail_ssh_accept), sizeof(ktrail_ssh_log),
                             sizeof(ktrail_ssh_pam), sizeof(ktrail_cgroup)});
  EXPECT_EQ(btf__type_by_id(btf_, id)->size, largest);
}

TEST(AbiConstants, PowersOfTwoTheVerifierRelies) {
  // The BPF code bounds copies with `& (N - 1)`.
  EXPECT_EQ(KTRAIL_PATH_MAX & (KTRAIL_PATH_MAX - 1), 0);
  EXPECT_EQ(KTRAIL_ARGS_MAX & (KTRAIL_ARGS_MAX - 1), 0);
  EXPECT_EQ(KTRAIL_EXEC_PLACE & (KTRAIL_EXEC_PLACE - 1), 0);
  // The filename (with its NUL) and cwd end before the masked offset where args go.
  EXPECT_LE(KTRAIL_PATH_MAX + KTRAIL_PATH_MAX, KTRAIL_EXEC_PLACE);
  EXPECT_EQ(offsetof(ktrail_exec, data) + KTRAIL_EXEC_PLACE + KTRAIL_ARGS_MAX, sizeof(ktrail_exec));
  EXPECT_EQ(offsetof(ktrail_header, boot_ns), 0u);
  EXPECT_EQ(offsetof(ktrail_exec, hdr), 0u);
  EXPECT_EQ(offsetof(ktrail_exec_failed, hdr), 0u);
  EXPECT_EQ(offsetof(ktrail_exit, hdr), 0u);
  EXPECT_EQ(offsetof(ktrail_cred, hdr), 0u);
  EXPECT_EQ(KTRAIL_SSH_LOG_MAX & (KTRAIL_SSH_LOG_MAX - 1), 0);
  EXPECT_EQ(offsetof(ktrail_ssh_log, data) + KTRAIL_SSH_LOG_MAX, sizeof(ktrail_ssh_log));
  EXPECT_EQ(offsetof(ktrail_ssh_accept, hdr), 0u);
  EXPECT_EQ(offsetof(ktrail_ssh_log, hdr), 0u);
  EXPECT_EQ(offsetof(ktrail_ssh_pam, hdr), 0u);
  EXPECT_EQ(offsetof(ktrail_cgroup, hdr), 0u);
}

}  // namespace

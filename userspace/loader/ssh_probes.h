// libpam uprobes for the SSH signals: which libpam files sshd uses, and attaching to them.
#pragma once
#include <string>
#include <vector>

struct bpf_program;

namespace ktrail {

// libpam files mapped by running processes whose comm is in `comms`, as paths the agent can
// open (through <proc_root>/PID/root, so a containerised sshd's own library is found),
// de-duplicated by device and inode. When no sshd runs, the usual system paths that exist.
std::vector<std::string> find_libpam_paths(const std::string &proc_root,
                                           const std::vector<std::string> &comms);

// Parses one /proc/PID/maps line; returns the mapped path if it is a libpam, else "".
std::string libpam_from_maps_line(const std::string &line);

struct PamProbe {
  bpf_program *prog;
  const char *func;
  bool retprobe;
};

// Attaches every probe to every library. Returns the links; `errors` collects failures.
std::vector<void *> attach_pam_probes(const std::vector<PamProbe> &probes,
                                      const std::vector<std::string> &libs,
                                      std::vector<std::string> &errors);

}  // namespace ktrail

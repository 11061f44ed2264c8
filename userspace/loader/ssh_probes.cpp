#include "loader/ssh_probes.h"

#include <bpf/libbpf.h>
#include <dirent.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <utility>

namespace ktrail {

std::string libpam_from_maps_line(const std::string &line) {
  // "start-end perms offset dev inode   /path"; the path is everything from the first '/'.
  auto slash = line.find('/');
  if (slash == std::string::npos) return "";
  std::string path = line.substr(slash);
  if (path.size() > 10 && path.compare(path.size() - 10, 10, " (deleted)") == 0) return "";
  auto base = path.substr(path.rfind('/') + 1);
  if (base.rfind("libpam.so", 0) != 0) return "";
  return path;
}

std::vector<std::string> find_libpam_paths(const std::string &proc_root,
                                           const std::vector<std::string> &comms) {
  std::vector<std::string> out;
  std::set<std::pair<dev_t, ino_t>> seen;
  auto add = [&](const std::string &path) {
    struct stat st;
    if (stat(path.c_str(), &st) != 0) return;
    if (seen.insert({st.st_dev, st.st_ino}).second) out.push_back(path);
  };
  if (DIR *d = opendir(proc_root.c_str())) {
    while (dirent *de = readdir(d)) {
      char *end;
      unsigned long pid = strtoul(de->d_name, &end, 10);
      if (*end || pid == 0) continue;
      std::string base = proc_root + "/" + de->d_name;
      std::ifstream cf(base + "/comm");
      std::string comm;
      if (!std::getline(cf, comm)) continue;
      bool match = false;
      for (const auto &c : comms) match |= comm == c.substr(0, 15);
      if (!match) continue;
      std::ifstream maps(base + "/maps");
      std::string line;
      while (std::getline(maps, line)) {
        std::string lib = libpam_from_maps_line(line);
        if (!lib.empty()) add(base + "/root" + lib);
      }
    }
    closedir(d);
  }
  if (out.empty()) {
    for (const char *p : {"/lib/x86_64-linux-gnu/libpam.so.0", "/usr/lib/x86_64-linux-gnu/libpam.so.0",
                          "/lib64/libpam.so.0", "/usr/lib64/libpam.so.0", "/usr/lib/libpam.so.0",
                          "/lib/libpam.so.0"})
      add(p);
  }
  return out;
}

std::vector<void *> attach_pam_probes(const std::vector<PamProbe> &probes,
                                      const std::vector<std::string> &libs,
                                      std::vector<std::string> &errors) {
  std::vector<void *> links;
  for (const auto &lib : libs) {
    for (const auto &p : probes) {
      bpf_uprobe_opts opts{};
      opts.sz = sizeof(opts);
      opts.retprobe = p.retprobe;
      opts.func_name = p.func;
      bpf_link *l = bpf_program__attach_uprobe_opts(p.prog, -1, lib.c_str(), 0, &opts);
      if (!l) {
        errors.push_back(std::string(p.func) + " in " + lib + ": " + strerror(errno));
        continue;
      }
      links.push_back(l);
    }
  }
  return links;
}

}  // namespace ktrail

#include "enrich/proc_table.h"

#include <dirent.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace ktrail {

bool ProcTable::read_proc(const std::string &root, uint32_t pid, ProcInfo &out) {
  std::string base = root + "/" + std::to_string(pid);
  std::ifstream stat(base + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  // comm may contain spaces and parentheses: it ends at the last ')'.
  auto l = line.find('('), r = line.rfind(')');
  if (l == std::string::npos || r == std::string::npos || r < l) return false;
  out.comm = line.substr(l + 1, r - l - 1);
  std::istringstream rest(line.substr(r + 1));
  std::string state;
  rest >> state >> out.ppid;
  char buf[PATH_MAX];
  ssize_t n = readlink((base + "/exe").c_str(), buf, sizeof(buf) - 1);
  if (n > 0) out.executable.assign(buf, n);
  n = readlink((base + "/cwd").c_str(), buf, sizeof(buf) - 1);
  if (n > 0) out.cwd.assign(buf, n);
  std::ifstream cmd(base + "/cmdline", std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(cmd)), std::istreambuf_iterator<char>());
  out.args.clear();
  size_t i = 0;
  while (i < all.size()) {
    size_t j = all.find('\0', i);
    if (j == std::string::npos) j = all.size();
    out.args.push_back(all.substr(i, j - i));
    i = j + 1;
  }
  out.argc = static_cast<uint32_t>(out.args.size());
  return true;
}

size_t ProcTable::seed(const std::string &root) {
  DIR *d = opendir(root.c_str());
  if (!d) return 0;
  size_t n = 0;
  while (dirent *de = readdir(d)) {
    char *end;
    unsigned long pid = strtoul(de->d_name, &end, 10);
    if (*end || pid == 0) continue;
    ProcInfo info;
    if (read_proc(root, static_cast<uint32_t>(pid), info)) {
      procs_[static_cast<uint32_t>(pid)] = std::move(info);
      n++;
    }
  }
  closedir(d);
  return n;
}

const ProcInfo *ProcTable::find(uint32_t pid) const {
  auto it = procs_.find(pid);
  return it == procs_.end() ? nullptr : &it->second;
}

void ProcTable::upsert(uint32_t pid, ProcInfo info) { procs_[pid] = std::move(info); }

}  // namespace ktrail

#include "enrich/cgroup_path.h"

#include <vector>

namespace ktrail {
namespace {

bool ends_with(std::string_view s, std::string_view suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}
bool starts_with(std::string_view s, std::string_view pre) {
  return s.size() >= pre.size() && s.compare(0, pre.size(), pre) == 0;
}

std::vector<std::string_view> split_path(std::string_view p) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    if (j > i) out.push_back(p.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

// "<prefix><64hex>[.scope]" -> id, else "".
std::string_view prefixed_id(std::string_view comp, std::string_view prefix) {
  if (!starts_with(comp, prefix)) return {};
  std::string_view rest = comp.substr(prefix.size());
  if (ends_with(rest, ".scope")) rest.remove_suffix(6);
  return is_hex64(rest) ? rest : std::string_view{};
}

// systemd unit names escape '-' inside a name as '_' (kubelet) or "\x2d" (systemd-escape).
std::string unescape_pod_uid(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == '_') {
      out += '-';
    } else if (s.compare(i, 4, "\\x2d") == 0) {
      out += '-';
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

// A plain containerd container id: what `ctr run IMAGE ID` accepts.
bool valid_ctr_id(std::string_view s) {
  if (s.empty() || s.size() > 76) return false;
  if (!isalnum(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s)
    if (!isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') return false;
  return true;
}

// containerd namespaces that create /<namespace>/<id> cgroups (ctr and nerdctl use "default",
// the CRI plugin "k8s.io", dockerd "moby", buildkit "buildkit"). A looser rule (any two-level
// path) claims unrelated cgroups such as a test harness's /<name>/<random hex>.
bool containerd_namespace(std::string_view c) {
  static const std::string_view known[] = {"default", "k8s.io", "moby", "buildkit"};
  for (auto k : known)
    if (c == k) return true;
  return false;
}

}  // namespace

bool is_hex64(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

CgroupIdentity parse_cgroup_path(std::string_view path) {
  CgroupIdentity id;
  auto comps = split_path(path);

  // Kubernetes: kubepods[.slice] / [kubepods-]{burstable,besteffort}[.slice] / pod<uid> / <ctr>
  for (size_t i = 0; i < comps.size(); i++) {
    std::string_view c = comps[i];
    if (c == "kubepods" || c == "kubepods.slice") {
      id.qos_class = "guaranteed";
      continue;
    }
    if (id.qos_class.empty()) continue;
    if (c == "burstable" || c == "kubepods-burstable.slice") id.qos_class = "burstable";
    else if (c == "besteffort" || c == "kubepods-besteffort.slice") id.qos_class = "besteffort";
    std::string_view uid;
    if (starts_with(c, "pod")) uid = c.substr(3);
    else if (auto p = c.find("-pod"); starts_with(c, "kubepods") && p != std::string_view::npos) uid = c.substr(p + 4);
    if (!uid.empty()) {
      if (ends_with(uid, ".slice")) uid.remove_suffix(6);
      id.pod_uid = unescape_pod_uid(uid);
    }
  }
  if (id.pod_uid.empty()) id.qos_class.clear();

  for (size_t k = comps.size(); k-- > 0;) {
    std::string_view c = comps[k], v;
    if (!(v = prefixed_id(c, "docker-")).empty()) id.runtime = "docker";
    else if (!(v = prefixed_id(c, "cri-containerd-")).empty()) id.runtime = "containerd";
    else if (!(v = prefixed_id(c, "crio-")).empty()) id.runtime = "cri-o";
    else if (!(v = prefixed_id(c, "libpod-")).empty()) id.runtime = "podman";
    else if (is_hex64(c) && k > 0 && (comps[k - 1] == "docker" || starts_with(comps[k - 1], "docker-")))
      id.runtime = "docker", v = c;
    else if (is_hex64(c) && !id.pod_uid.empty())
      id.runtime = "cri", v = c;  // cgroupfs driver: the runtime is not in the path
    if (!v.empty()) {
      id.container_id = std::string(v);
      return id;
    }
  }
  // Plain containerd (ctr, nerdctl with cgroupfs): /<namespace>/<id>[/...]
  if (comps.size() >= 2 && id.pod_uid.empty() && containerd_namespace(comps[0]) && valid_ctr_id(comps[1])) {
    id.runtime = "containerd";
    id.ctr_namespace = std::string(comps[0]);
    id.container_id = std::string(comps[1]);
  }
  return id;
}

std::string pick_cgroup_path(std::string_view content) {
  std::string unified, first_v1_container;
  size_t i = 0;
  while (i < content.size()) {
    size_t j = content.find('\n', i);
    if (j == std::string_view::npos) j = content.size();
    std::string_view line = content.substr(i, j - i);
    i = j + 1;
    // hierarchy-id:controller-list:path (the path may itself contain ':')
    size_t a = line.find(':');
    if (a == std::string_view::npos) continue;
    size_t b = line.find(':', a + 1);
    if (b == std::string_view::npos) continue;
    std::string_view hier = line.substr(0, a), path = line.substr(b + 1);
    if (hier == "0" && line.substr(a + 1, b - a - 1).empty()) {
      unified = std::string(path);
      if (parse_cgroup_path(path).is_container()) return unified;
    } else if (first_v1_container.empty() && parse_cgroup_path(path).is_container()) {
      first_v1_container = std::string(path);
    }
  }
  return first_v1_container.empty() ? unified : first_v1_container;
}

}  // namespace ktrail

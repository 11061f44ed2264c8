#!/usr/bin/env python3
"""Structure checks for deploy/kubernetes: what a cluster would reject or what would silently
weaken the agent (no cluster runs here, so these are the offline substitute).

Usage: check_manifests.py DIR_WITH_YAML [--privileged]  (fails with a list of problems)."""
import glob
import os
import re
import sys

import yaml

problems = []


def need(cond, msg):
    if not cond:
        problems.append(msg)


def load(directory):
    docs = []
    for path in sorted(glob.glob(os.path.join(directory, "*.yaml"))):
        if os.path.basename(path) == "kustomization.yaml":
            continue
        with open(path) as f:
            for d in yaml.safe_load_all(f):
                if d:
                    docs.append(d)
    return docs


def main():
    directory = sys.argv[1]
    docs = load(directory)
    by_kind = {}
    for d in docs:
        need("apiVersion" in d and "kind" in d and "name" in d.get("metadata", {}),
             f"document without apiVersion/kind/metadata.name: {d}")
        by_kind.setdefault(d["kind"], []).append(d)

    ds_list = by_kind.get("DaemonSet", [])
    need(len(ds_list) == 1, "exactly one DaemonSet")
    if not ds_list:
        return
    ds = ds_list[0]
    ns = ds["metadata"].get("namespace")
    need(ns and any(n["metadata"]["name"] == ns for n in by_kind.get("Namespace", [])),
         f"namespace {ns} is defined")
    spec = ds["spec"]
    tmpl = spec["template"]
    need(spec["selector"]["matchLabels"].items() <= tmpl["metadata"]["labels"].items(),
         "selector matches the pod labels")
    us = spec.get("updateStrategy", {})
    need(us.get("type") == "RollingUpdate", "RollingUpdate strategy")
    ru = us.get("rollingUpdate", {})
    need(ru.get("maxUnavailable") == 0 and ru.get("maxSurge") == 1,
         "rolling update overlaps old and new agent (maxUnavailable 0, maxSurge 1)")
    pod = tmpl["spec"]
    need(pod.get("hostPID") is True, "hostPID: true")
    need(not pod.get("hostNetwork"), "no hostNetwork")

    sa = pod.get("serviceAccountName")
    need(any(s["metadata"]["name"] == sa and s["metadata"].get("namespace") == ns
             for s in by_kind.get("ServiceAccount", [])), f"ServiceAccount {sa} exists in {ns}")
    roles = {r["metadata"]["name"]: r for r in by_kind.get("ClusterRole", [])}
    bound = [b for b in by_kind.get("ClusterRoleBinding", [])
             if any(s.get("kind") == "ServiceAccount" and s.get("name") == sa and s.get("namespace") == ns
                    for s in b.get("subjects", []))]
    need(len(bound) == 1, "the ServiceAccount is bound to one ClusterRole")
    for b in bound:
        role = roles.get(b["roleRef"]["name"])
        need(role is not None, f"ClusterRole {b['roleRef']['name']} exists")
        if role:
            for rule in role["rules"]:
                need(set(rule["verbs"]) <= {"get", "list", "watch"}, f"read-only verbs only: {rule}")
                need(rule["resources"] == ["pods"], f"pods only: {rule}")

    containers = pod["containers"]
    need(len(containers) == 1, "one container")
    c = containers[0]
    need(c.get("image") and ":" in c["image"] and not c["image"].endswith(":latest"), "pinned image tag")
    sc = c.get("securityContext", {})
    caps = set(sc.get("capabilities", {}).get("add", []))
    privileged = "--privileged" in sys.argv
    if privileged:
        need(sc.get("privileged") is True, "privileged fallback sets privileged: true")
    else:
        need(sc.get("privileged") is False, "not privileged")
        need(sc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation: false")
        need(sc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem")
        need(sc.get("capabilities", {}).get("drop") == ["ALL"], "drop ALL capabilities")
        want = {"BPF", "PERFMON", "SYS_RESOURCE", "SYS_PTRACE", "DAC_READ_SEARCH"}
        need(caps == want, f"capabilities exactly {sorted(want)}, got {sorted(caps)}")

    res = c.get("resources", {})
    for k in ("requests", "limits"):
        need({"cpu", "memory"} <= set(res.get(k, {})), f"resources.{k} has cpu and memory")

    lp = c.get("livenessProbe", {}).get("httpGet", {})
    need(lp.get("path") == "/healthz", "livenessProbe on /healthz")
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    need(lp.get("port") in ports or lp.get("port") in ports.values(), "liveness port is a container port")
    rp = c.get("readinessProbe", {}).get("httpGet", {})
    need(rp.get("path") == "/healthz" and rp.get("port") == lp.get("port"), "readinessProbe on /healthz")
    # The kubelet probes the pod IP: without hostNetwork, an agent on loopback fails its probes.
    addr = [a for a in c.get("args", []) if a.startswith("--metrics-addr=")]
    port = ports.get(lp.get("port"), lp.get("port"))
    need(addr == [f"--metrics-addr=$(POD_IP):{port}"], f"metrics listen on the pod IP and the probed port, got {addr}")
    need(any(e["name"] == "POD_IP" and e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "status.podIP"
             for e in c.get("env", [])), "POD_IP from status.podIP")

    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
    for m in mounts.values():
        need(m["name"] in volumes, f"volumeMount {m['name']} has a volume")
    host = {}
    for m in mounts.values():
        v = volumes.get(m["name"], {})
        if "hostPath" in v:
            host[v["hostPath"]["path"]] = m
    for path, ro in (("/sys/kernel/btf", True), ("/sys/kernel/tracing", True), ("/sys/fs/bpf", False),
                     ("/proc", True), ("/run/containerd/containerd.sock", True)):
        need(path in host, f"host path {path} is mounted")
        if path in host and ro:
            need(host[path].get("readOnly") is True, f"{path} is mounted read-only")
    secrets = {s["metadata"]["name"] for s in by_kind.get("Secret", [])}
    need(any(v.get("secret", {}).get("secretName") in secrets for v in volumes.values()),
         "the signing-key Secret is mounted")

    cms = {m["metadata"]["name"]: m for m in by_kind.get("ConfigMap", [])}
    keys = set()
    for ef in c.get("envFrom", []):
        name = ef.get("configMapRef", {}).get("name")
        need(name in cms, f"envFrom ConfigMap {name} exists")
        if name in cms:
            keys |= set(cms[name].get("data", {}))
    keys |= {e["name"] for e in c.get("env", [])}
    for a in c.get("args", []):
        for var in re.findall(r"\$\((\w+)\)", a):
            need(var in keys, f"argument variable $({var}) is defined")
    need(c.get("args", [None])[0] == "run", "the container runs `ktrail run`")


if __name__ == "__main__":
    main()
    for p in problems:
        print("FAIL:", p)
    print(f"check_manifests: {len(problems)} problem(s) in {sys.argv[1]}")
    sys.exit(1 if problems else 0)

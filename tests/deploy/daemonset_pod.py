#!/usr/bin/env python3
"""Runs the DaemonSet's pod for real, as far as this machine allows: no kubelet, but podman.

The pod spec is read from the rendered manifests, not restated here, so the test fails when the
manifests drift: the runtime stage of deploy/Containerfile is built around the static binary,
the container gets exactly the manifest's capabilities (everything else dropped), seccomp,
read-only root, hostPID, its hostPath/configMap/secret volumes and its $(VAR)-expanded args from
the ConfigMap. A host process is then exec'd and its event must come out of the container's
stdout with the host's view of it. The liveness and readiness probes are made as the kubelet
makes them (HTTP GET on the pod IP, here inside the container's network namespace) and must
answer 200. Finally the container is stopped the kubelet's way (SIGTERM, grace period) and must
exit 0 after flushing.

Usage: daemonset_pod.py RENDERED_DIR KTRAIL_STATIC_BINARY
Exit 0 pass, 1 fail, 77 skip (no podman/runc).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import yaml

SKIP = 77


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


def load_docs(rendered_dir):
    docs = []
    for name in sorted(os.listdir(rendered_dir)):
        if name.endswith(".yaml"):
            with open(os.path.join(rendered_dir, name)) as f:
                docs += [d for d in yaml.safe_load_all(f) if d]
    return docs


def find(docs, kind, name=None):
    for d in docs:
        if d.get("kind") == kind and (name is None or d["metadata"]["name"] == name):
            return d
    fail(f"no {kind} {name or ''} in the manifests")


def expand(arg, env):
    # Kubernetes $(VAR) expansion; $$ escapes; unknown references stay as written.
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), arg)


def os_release(key):
    with open("/etc/os-release") as f:
        for line in f:
            if line.startswith(key + "="):
                return line.split("=", 1)[1].strip().strip('"')
    return None


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    rendered, binary = sys.argv[1], sys.argv[2]
    if os.geteuid() != 0:
        print("SKIP: needs root")
        return SKIP
    for tool in ("podman", "runc"):
        if not shutil.which(tool):
            print(f"SKIP: {tool} is not installed (scripts/install-deps.sh test)")
            return SKIP

    docs = load_docs(rendered)
    ds = find(docs, "DaemonSet", "ktrail")
    pod = ds["spec"]["template"]["spec"]
    (ctr,) = pod["containers"]
    sc = ctr.get("securityContext", {})

    work = tempfile.mkdtemp(prefix="ktrail-pod-")
    image = "localhost/ktrail-daemonset-test:latest"
    name = f"ktrail-ds-{os.getpid()}"
    env = dict(os.environ)
    for d in ("conf", "run", "graph", "tmp", "ctx", "vol"):
        os.makedirs(f"{work}/{d}")
    # Private podman config (ENVIRONMENT.md: cgroupfs, runc, vfs, no network, explicit ulimits).
    with open(f"{work}/conf/containers.conf", "w") as f:
        f.write('[containers]\nnetns="none"\ndefault_ulimits=["nofile=1024:1024","nproc=1024:1024"]\n'
                f'[engine]\ncgroup_manager="cgroupfs"\nevents_logger="file"\n'
                f'events_logfile_path="{work}/tmp/events.log"\nruntime="runc"\ntmp_dir="{work}/tmp"\n')
    with open(f"{work}/conf/storage.conf", "w") as f:
        f.write(f'[storage]\ndriver="vfs"\nrunroot="{work}/run"\ngraphroot="{work}/graph"\n')
    env["CONTAINERS_CONF"] = f"{work}/conf/containers.conf"
    env["CONTAINERS_STORAGE_CONF"] = f"{work}/conf/storage.conf"

    def podman(*args, **kw):
        return subprocess.run(["podman", *args], env=env, text=True, capture_output=True, **kw)

    try:
        # The image: deploy/Containerfile's final stage, with the binary this build produced in
        # place of the build stage's (that stage needs a registry, which this machine lacks).
        with open("deploy/Containerfile") as f:
            stages = f.read().split("\nFROM ")
        runtime = "FROM " + stages[-1]
        if not runtime.startswith("FROM scratch"):
            fail("the Containerfile's final stage is not scratch")
        runtime, n = re.subn(r"COPY --from=build (\S+) (\S+)", r"COPY ktrail \2", runtime)
        if n != 1:
            fail("expected exactly one COPY --from=build in the runtime stage")
        shutil.copy(binary, f"{work}/ctx/ktrail")
        with open(f"{work}/ctx/Containerfile", "w") as f:
            f.write(runtime)
        r = podman("build", "--network", "none", "-t", image, "-f", f"{work}/ctx/Containerfile", f"{work}/ctx")
        if r.returncode != 0:
            fail(f"podman build: {r.stderr[-2000:]}")

        # Environment: envFrom ConfigMaps, then env (fieldRefs get this node's name).
        cenv = {}
        for src in ctr.get("envFrom", []):
            if "configMapRef" in src:
                cenv.update(find(docs, "ConfigMap", src["configMapRef"]["name"]).get("data", {}))
        for e in ctr.get("env", []):
            if "value" in e:
                cenv[e["name"]] = expand(e["value"], cenv)
            elif "fieldRef" in e.get("valueFrom", {}):
                path = e["valueFrom"]["fieldRef"]["fieldPath"]
                if path == "spec.nodeName":
                    cenv[e["name"]] = os.uname().nodename
                elif path == "status.podIP":
                    # netns="none": the container's network namespace has only loopback, so that
                    # is its pod IP here; the probe below is made inside that namespace.
                    cenv[e["name"]] = "127.0.0.1"
                else:
                    fail(f"unsupported fieldRef {path} for {e['name']}")
            else:
                fail(f"unsupported env source for {e['name']}")

        cmd = ["run", "--name", name, "--pull", "never", "--cap-drop", "all"]
        for cap in sc.get("capabilities", {}).get("add", []):
            cmd += ["--cap-add", "CAP_" + cap]
        if sc.get("privileged"):
            cmd += ["--privileged"]
        if sc.get("readOnlyRootFilesystem"):
            cmd += ["--read-only", "--read-only-tmpfs=false"]
        if sc.get("allowPrivilegeEscalation") is False:
            cmd += ["--security-opt", "no-new-privileges"]
        if sc.get("seccompProfile", {}).get("type") == "Unconfined":
            cmd += ["--security-opt", "seccomp=unconfined"]
        if "runAsUser" in sc:
            cmd += ["--user", str(sc["runAsUser"])]
        if pod.get("hostPID"):
            cmd += ["--pid", "host"]
        for k, v in cenv.items():
            cmd += ["--env", f"{k}={v}"]

        # Volumes: hostPath as bind mounts (a missing socket is skipped, as a pod with
        # type: Socket would fail on such a node); configMap and Secret volumes as files.
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for m in ctr.get("volumeMounts", []):
            v = volumes.get(m["name"]) or fail(f"volumeMount {m['name']} has no volume")
            ro = ",ro" if m.get("readOnly") else ""
            if "hostPath" in v:
                hp = dict(v["hostPath"])
                if hp.get("type") == "DirectoryOrCreate":
                    # The agent's own state on the node (chain state, spools, logs): a fresh
                    # directory, so the test neither touches nor collides with this host's.
                    hp["path"] = f"{work}/node{hp['path']}"
                    os.makedirs(hp["path"], exist_ok=True)
                if not os.path.exists(hp["path"]):
                    if hp.get("type") == "Socket":
                        continue
                    fail(f"hostPath {hp['path']} does not exist here")
                cmd += ["--mount", f"type=bind,src={hp['path']},dst={m['mountPath']}{ro}"]
            elif "secret" in v or "configMap" in v:
                src = v.get("secret") or v.get("configMap")
                kind, ref = ("Secret", src["secretName"]) if "secret" in v else ("ConfigMap", src["name"])
                obj = find(docs, kind, ref)
                d = f"{work}/vol/{m['name']}"
                os.makedirs(d)
                data = dict(obj.get("stringData", {}))
                data.update(obj.get("data", {}) if kind == "ConfigMap" else {})
                for key, val in data.items():
                    if kind == "Secret" and key.endswith(".key"):
                        # The placeholder says "created out of band": make a real Ed25519 key.
                        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", f"{d}/{key}"],
                                       check=True, capture_output=True)
                    else:
                        with open(f"{d}/{key}", "w") as f:
                            f.write(val)
                    os.chmod(f"{d}/{key}", src.get("defaultMode", 0o644))
                cmd += ["--mount", f"type=bind,src={d},dst={m['mountPath']}{ro}"]
            elif "emptyDir" in v:
                cmd += ["--mount", f"type=tmpfs,dst={m['mountPath']}"]
            else:
                fail(f"unsupported volume type for {m['name']}")

        args = [expand(a, cenv) for a in ctr.get("args", [])]
        cmd += ["--entrypoint", (ctr.get("command") or ["/ktrail"])[0], image, *args]
        out = open(f"{work}/stdout", "w")
        errf = open(f"{work}/stderr", "w")
        proc = subprocess.Popen(["podman", *cmd], env=env, stdout=out, stderr=errf, text=True)

        # A host process the agent in the container must see, with the host's view of it.
        marker = f"{work}/ktpod-marker"  # short: process.name is the 15-byte comm
        shutil.copy("/bin/true", marker)
        deadline = time.time() + 60
        found = None
        while time.time() < deadline and found is None:
            if proc.poll() is not None:
                break
            subprocess.run([marker, "pod-check"])
            time.sleep(0.5)
            with open(f"{work}/stdout") as f:
                for line in f:
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        continue
                    if rec.get("event", {}).get("action") == "exec" and \
                            rec.get("process", {}).get("executable") == marker:
                        found = rec
                        break
        if found is None:
            with open(f"{work}/stderr") as f:
                err = f.read()
            fail(f"no exec event for {marker} from the pod (exit {proc.poll()}); stderr:\n{err[-3000:]}")

        p = found["process"]
        checks = {
            "process.args": (p.get("args"), [marker, "pod-check"]),
            "process.parent.pid": (p.get("parent", {}).get("pid"), os.getpid()),
            "process.name": (p.get("name"), "ktpod-marker"),
            "process.user.id": (p.get("user", {}).get("id"), 0),
            "process.user.name": (p.get("user", {}).get("name"), "root"),
            "host.name": (found.get("host", {}).get("name"), os.uname().nodename),
            # The scratch image has no os-release: these must be the host's, via /proc/1/root.
            "host.os.family": (found.get("host", {}).get("os", {}).get("family"), os_release("ID")),
            "host.os.version": (found.get("host", {}).get("os", {}).get("version"), os_release("VERSION_ID")),
            "process.working_directory": (p.get("working_directory"), os.getcwd()),
        }
        bad = [f"{k}: got {g!r}, want {w!r}" for k, (g, w) in checks.items() if g != w]
        if bad:
            fail("exec event from the pod has wrong fields:\n  " + "\n  ".join(bad) + "\n" + json.dumps(found))

        # The kubelet's probes: an HTTP GET on the pod IP from outside the container (here:
        # from the host's filesystem, inside the container's network namespace).
        ports = {p["name"]: p["containerPort"] for p in ctr.get("ports", [])}
        cpid = podman("inspect", "-f", "{{.State.Pid}}", name).stdout.strip()
        for kind in ("livenessProbe", "readinessProbe"):
            get = ctr.get(kind, {}).get("httpGet")
            if not get:
                continue
            port = ports.get(get["port"], get["port"])
            url = f"http://{cenv.get('POD_IP', '127.0.0.1')}:{port}{get['path']}"
            probe = ("import sys, urllib.request\n"
                     f"r = urllib.request.urlopen({url!r}, timeout=5)\n"
                     "sys.stdout.write(str(r.status) + ' ' + r.read().decode())\n")
            r = subprocess.run(["nsenter", "-t", cpid, "-n", sys.executable, "-c", probe],
                               capture_output=True, text=True)
            if r.returncode != 0 or not r.stdout.startswith("200 "):
                fail(f"{kind} GET {url}: {r.stdout[-500:]} {r.stderr[-1500:]}")
            if json.loads(r.stdout[4:]).get("status") != "ok":
                fail(f"{kind} GET {url} body: {r.stdout[4:500]}")

        # The kubelet's stop: SIGTERM, then SIGKILL after the grace period.
        grace = pod.get("terminationGracePeriodSeconds", 30)
        r = podman("stop", "-t", str(grace), name)
        rc = proc.wait(timeout=grace + 30)
        if rc != 0:
            with open(f"{work}/stderr") as f:
                fail(f"the agent exited {rc} on SIGTERM; stderr:\n{f.read()[-3000:]}")
        with open(f"{work}/stdout") as f:
            last = [json.loads(l) for l in f if l.startswith("{")][-1]
        # A clean stop ends with the final checkpoint (integrity/: written at every shutdown).
        if last.get("event", {}).get("action") != "checkpoint":
            fail(f"the last record after SIGTERM is not the final checkpoint: {json.dumps(last)[:500]}")
        print(f"daemonset pod: PASS (caps {sc.get('capabilities', {}).get('add')}, exec seen, probes 200, clean stop)")
        return 0
    finally:
        podman("rm", "-f", "-t", "0", name)
        podman("rmi", "-f", image)
        subprocess.run(f"grep -o ' {work}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l",
                       shell=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

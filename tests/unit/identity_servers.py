#!/usr/bin/env python3
"""Local stand-ins for the services identity enrichment talks to, speaking their documented
protocols strictly (no kube-apiserver or cloud metadata service can run on the test machines).

  kube  : kube-apiserver /api/v1/pods list + watch (chunked JSON event stream), bearer token
          (401 otherwise), TLS with a generated CA, fieldSelector=spec.nodeName=<node>,
          resourceVersion resume, 410 Gone both as an HTTP status and as a watch ERROR event.
  aws   : IMDSv2: PUT /latest/api/token with X-aws-ec2-metadata-token-ttl-seconds, then
          GET /latest/dynamic/instance-identity/document with X-aws-ec2-metadata-token (401
          without). --delay makes it slow.
  gcp   : GCE metadata: Metadata-Flavor: Google required (403 without), echoed in responses.
  azure : Azure IMDS: Metadata: true and api-version required (400 without).
  silent: accepts connections and never answers (a hop-limited or filtered service).

Writes the bound port to --port-file and one line per request to --log.
"""
import argparse
import json
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARGS = None
LOCK = threading.Lock()


def log(line):
    with LOCK, open(ARGS.log, "a") as f:
        f.write(line + "\n")


def pod(uid, name, rv, cid, labels):
    return {
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {"uid": uid, "name": name, "namespace": "shop", "resourceVersion": str(rv), "labels": labels},
        "spec": {"nodeName": ARGS.node},
        "status": {"containerStatuses": [{"name": "main", "image": "registry.local/%s:1" % name,
                                          "containerID": "containerd://" + cid}]},
    }


CID_A = "a" * 64
CID_B = "b" * 64


class Kube:
    """The scenario, step by step (each list/watch request advances it):
    list#1 (rv 100: pod cart) -> watch from 100: ADDED pay (101), MODIFIED cart (102), then an
    ERROR 410 event -> list#2 (rv 200: cart v2, pay) -> watch from 200: HTTP 410 -> list#3
    (rv 300) -> watch from 300: DELETED pay (301), then BOOKMARKs until the client leaves."""

    def __init__(self):
        self.lists = 0
        self.watches = 0


KUBE = Kube()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send_json(self, code, obj, extra=None):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def send_text(self, code, text, extra=None):
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def chunk(self, obj):
        data = (json.dumps(obj) + "\n").encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    # ---- kube-apiserver -------------------------------------------------------------------
    def kube(self):
        u = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(u.query)
        log("%s %s auth=%s" % (self.command, self.path, self.headers.get("Authorization", "")))
        if self.headers.get("Authorization") != "Bearer " + ARGS.token:
            return self.send_json(401, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                        "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
        if u.path != "/api/v1/pods" or q.get("fieldSelector") != ["spec.nodeName=" + ARGS.node]:
            return self.send_json(400, {"kind": "Status", "code": 400, "message": "bad request"})
        if "watch" not in q:
            KUBE.lists += 1
            n = KUBE.lists
            if n == 1:
                items, rv = [pod("uid-cart", "cart", 90, CID_A, {"app": "cart"})], 100
            elif n == 2:
                items, rv = [pod("uid-cart", "cart", 102, CID_A, {"app": "cart", "v": "2"}),
                             pod("uid-pay", "pay", 101, CID_B, {"app": "pay"})], 200
            else:
                items, rv = [pod("uid-cart", "cart", 102, CID_A, {"app": "cart", "v": "2"}),
                             pod("uid-pay", "pay", 101, CID_B, {"app": "pay"})], 300
            return self.send_json(200, {"kind": "PodList", "apiVersion": "v1",
                                        "metadata": {"resourceVersion": str(rv)}, "items": items})
        if q.get("watch") != ["1"]:
            return self.send_json(400, {"kind": "Status", "code": 400})
        rv = int(q.get("resourceVersion", ["0"])[0] or 0)
        KUBE.watches += 1
        if rv == 200:
            return self.send_json(410, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                        "message": "too old resource version: 200 (250)", "reason": "Expired",
                                        "code": 410})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if rv == 100:
            self.chunk({"type": "ADDED", "object": pod("uid-pay", "pay", 101, CID_B, {"app": "pay"})})
            self.chunk({"type": "MODIFIED", "object": pod("uid-cart", "cart", 102, CID_A, {"app": "cart", "v": "2"})})
            self.chunk({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                                    "message": "too old resource version: 102 (150)",
                                                    "reason": "Expired", "code": 410}})
            self.wfile.write(b"0\r\n\r\n")
            return
        if rv >= 300:
            self.chunk({"type": "DELETED", "object": pod("uid-pay", "pay", 301, CID_B, {"app": "pay"})})
            try:
                for i in range(600):
                    time.sleep(0.1)
                    if i % 10 == 9:
                        self.chunk({"type": "BOOKMARK", "object": {"kind": "Pod", "metadata": {"resourceVersion": str(301 + i)}}})
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        self.wfile.write(b"0\r\n\r\n")

    # ---- cloud metadata ---------------------------------------------------------------------
    def cloud(self):
        log("%s %s" % (self.command, self.path))
        if ARGS.delay:
            time.sleep(ARGS.delay)
        m = ARGS.mode
        if m == "aws":
            if self.command == "PUT" and self.path == "/latest/api/token":
                if not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                    return self.send_text(400, "missing ttl")
                return self.send_text(200, "TOKEN-abc123")
            if self.command == "GET" and self.path == "/latest/dynamic/instance-identity/document":
                if self.headers.get("X-aws-ec2-metadata-token") != "TOKEN-abc123":
                    return self.send_text(401, "")
                return self.send_json(200, {"accountId": "123456789012", "availabilityZone": "eu-west-1b",
                                            "instanceId": "i-0123456789abcdef0", "instanceType": "m5.large",
                                            "region": "eu-west-1", "version": "2017-09-30"})
            return self.send_text(404, "")
        if m == "gcp":
            if self.headers.get("Metadata-Flavor") != "Google":
                return self.send_text(403, "Missing Metadata-Flavor:Google header.")
            vals = {"/computeMetadata/v1/instance/id": "4520031799277581759",
                    "/computeMetadata/v1/instance/zone": "projects/123456/zones/us-central1-a",
                    "/computeMetadata/v1/instance/machine-type": "projects/123456/machineTypes/e2-medium",
                    "/computeMetadata/v1/project/project-id": "my-proj"}
            if self.path in vals:
                return self.send_text(200, vals[self.path], {"Metadata-Flavor": "Google"})
            return self.send_text(404, "", {"Metadata-Flavor": "Google"})
        if m == "azure":
            u = urllib.parse.urlparse(self.path)
            q = urllib.parse.parse_qs(u.query)
            if self.headers.get("Metadata") != "true" or "api-version" not in q:
                return self.send_json(400, {"error": "Bad request. Required metadata header not specified"})
            if u.path == "/metadata/instance":
                return self.send_json(200, {"compute": {"location": "westeurope", "zone": "2",
                                                        "vmId": "02aab8a4-74ef-476e-8182-f6d2ba4166a6",
                                                        "subscriptionId": "8d10da13-8125-4ba9-a717-bf7490507b3d",
                                                        "vmSize": "Standard_D2s_v3"}})
            return self.send_json(404, {})
        return self.send_text(404, "")

    def do_GET(self):
        self.kube() if ARGS.mode == "kube" else self.cloud()

    def do_PUT(self):
        length = int(self.headers.get("Content-Length", "0"))
        if length:
            self.rfile.read(length)
        self.cloud()


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["kube", "aws", "gcp", "azure", "silent"])
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--token", default="")
    p.add_argument("--node", default="node-1")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--delay", type=float, default=0)
    ARGS = p.parse_args()
    open(ARGS.log, "w").close()
    if ARGS.mode == "silent":
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        open(ARGS.port_file, "w").write(str(s.getsockname()[1]))
        conns = []
        while True:
            c, _ = s.accept()
            conns.append(c)  # never answer, never close
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    if ARGS.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(ARGS.cert, ARGS.key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    with open(ARGS.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(ARGS.port_file + ".tmp", ARGS.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())

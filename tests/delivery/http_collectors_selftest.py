#!/usr/bin/env python3
"""The stand-ins in http_collectors.py must refuse what the real servers refuse, or the output
tests prove nothing. Each case sends one valid request (accepted) and deviations from it
(refused with the real server's status, and logged as a violation)."""
import gzip
import http.client
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
failures = []
passed = []
dirs = []


def start(kind, *args):
    d = tempfile.mkdtemp(prefix="ktrail-standin-")
    dirs.append(d)
    p = subprocess.Popen([sys.executable, os.path.join(HERE, "http_collectors.py"), kind, "--dir", d, *args])
    for _ in range(300):
        if os.path.exists(os.path.join(d, "port")):
            return p, d, int(open(os.path.join(d, "port")).read())
        time.sleep(0.02)
    raise SystemExit("stand-in did not start")


def post(port, path, body, headers):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("POST", path, body=body, headers=headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def expect(name, got, want):
    if got != want:
        failures.append("%s: status %s, want %s" % (name, got, want))
    else:
        passed.append(name)
        print("ok   %s (%s)" % (name, got))


def record(seq, action="exec"):
    return json.dumps({"@timestamp": "2026-11-26T16:40:00.123456789Z",
                       "event": {"kind": "event", "category": ["process"], "type": ["start"], "action": action,
                                 "outcome": "success", "sequence": seq},
                       "host": {"name": "n1", "id": "abc", "os": {"type": "linux"}},
                       "ktrail": {"chain": {"hash": "%064x" % seq}}}, separators=(",", ":"))


TS = 1795711200123456789  # 2026-11-26T16:40:00.123456789Z


# ---- protobuf encoder for the valid OTLP request (and its mutations)
def varint(v):
    out = b""
    while v >= 0x80:
        out += bytes([(v & 0x7F) | 0x80])
        v >>= 7
    return out + bytes([v])


def ld(num, data):
    return varint(num << 3 | 2) + varint(len(data)) + data


def kv(key, s=None, i=None):
    anyv = ld(1, s.encode()) if s is not None else varint(3 << 3) + varint(i)
    return ld(1, key.encode()) + ld(2, anyv)


def otlp_pb(seq, time_field=None, extra=b""):
    lr = (time_field if time_field is not None else varint(1 << 3 | 1) + struct.pack("<Q", TS))
    lr += varint(2 << 3) + varint(9) + ld(3, b"INFO") + ld(5, ld(1, record(seq).encode()))
    lr += ld(6, kv("event.action", "exec")) + ld(6, kv("event.outcome", "success")) + ld(6, kv("event.sequence", i=seq))
    lr += varint(11 << 3 | 1) + struct.pack("<Q", time.time_ns()) + extra
    res = ld(1, kv("service.name", "ktrail")) + ld(1, kv("host.name", "n1")) + ld(1, kv("host.id", "abc")) + \
        ld(1, kv("os.type", "linux"))
    sl = ld(1, ld(1, b"ktrail")) + ld(2, lr)
    return ld(1, ld(1, res) + ld(2, sl))


def otlp_json(seq, snake=False, int_time=False):
    attrs = lambda d: [{"key": k, "value": ({"intValue": str(v)} if isinstance(v, int) else {"stringValue": v})}
                       for k, v in d.items()]
    lr = {"timeUnixNano": TS if int_time else str(TS), "observedTimeUnixNano": str(time.time_ns()),
          "severityNumber": 9, "severityText": "INFO", "body": {"stringValue": record(seq)},
          "attributes": attrs({"event.action": "exec", "event.outcome": "success", "event.sequence": seq})}
    doc = {"resourceLogs": [{"resource": {"attributes": attrs({"service.name": "ktrail", "host.name": "n1",
                                                                "host.id": "abc", "os.type": "linux"})},
                             "scopeLogs": [{"scope": {"name": "ktrail"}, "logRecords": [lr]}]}]}
    if snake:
        doc = {"resource_logs": doc["resourceLogs"]}
    return json.dumps(doc).encode()


def main():
    gz = {"Content-Encoding": "gzip"}
    # OTLP protobuf
    p, d, port = start("otlp")
    H = dict(gz, **{"Content-Type": "application/x-protobuf"})
    expect("otlp valid protobuf", post(port, "/v1/logs", gzip.compress(otlp_pb(1)), H)[0], 200)
    expect("otlp wrong content type", post(port, "/v1/logs", gzip.compress(otlp_pb(2)),
                                           dict(gz, **{"Content-Type": "text/plain"}))[0], 415)
    expect("otlp not gzip", post(port, "/v1/logs", otlp_pb(3), H)[0], 400)
    expect("otlp no gzip at all", post(port, "/v1/logs", otlp_pb(3), {"Content-Type": "application/x-protobuf"})[0], 415)
    expect("otlp time as varint", post(port, "/v1/logs", gzip.compress(otlp_pb(4, varint(1 << 3) + varint(TS))), H)[0], 400)
    expect("otlp unknown field 99", post(port, "/v1/logs", gzip.compress(otlp_pb(5, extra=ld(99, b"x"))), H)[0], 400)
    expect("otlp wrong path", post(port, "/v1/traces", gzip.compress(otlp_pb(6)), H)[0], 404)
    p.terminate()
    p.wait()
    # OTLP JSON
    p, d, port = start("otlp", "--encoding", "json")
    H = dict(gz, **{"Content-Type": "application/json"})
    expect("otlp valid json", post(port, "/v1/logs", gzip.compress(otlp_json(1)), H)[0], 200)
    expect("otlp json snake_case", post(port, "/v1/logs", gzip.compress(otlp_json(2, snake=True)), H)[0], 400)
    expect("otlp json int64 as number", post(port, "/v1/logs", gzip.compress(otlp_json(3, int_time=True)), H)[0], 400)
    p.terminate()
    p.wait()
    # Loki
    p, d, port = start("loki", "--tenant", "t1")
    H = dict(gz, **{"Content-Type": "application/json", "X-Scope-OrgID": "t1"})
    push = lambda labels, ts: gzip.compress(json.dumps({"streams": [{"stream": labels, "values": [[ts, record(1)]]}]}).encode())
    good = {"job": "ktrail", "host": "n1", "event_category": "process", "event_action": "exec"}
    expect("loki valid", post(port, "/loki/api/v1/push", push(good, str(TS)), H)[0], 204)
    expect("loki high-cardinality label", post(port, "/loki/api/v1/push", push(dict(good, pid="42"), str(TS)), H)[0], 400)
    expect("loki timestamp as number", post(port, "/loki/api/v1/push", push(good, TS), H)[0], 400)
    expect("loki missing tenant", post(port, "/loki/api/v1/push", push(good, str(TS)),
                                       dict(gz, **{"Content-Type": "application/json"}))[0], 401)
    p.terminate()
    p.wait()
    # Splunk HEC
    p, d, port = start("splunk", "--auth", "Splunk tok", "--gzip", "optional")
    ev = lambda **kw: json.dumps(dict({"time": TS / 1e9, "host": "n1", "source": "ktrail", "sourcetype": "ktrail",
                                       "event": json.loads(record(1))}, **kw)).encode()
    H = {"Content-Type": "application/json", "Authorization": "Splunk tok"}
    expect("hec valid", post(port, "/services/collector/event", ev() + b"\n" + ev(), H)[0], 200)
    expect("hec no auth", post(port, "/services/collector/event", ev(), {"Content-Type": "application/json"})[0], 401)
    st, body = post(port, "/services/collector/event", ev(), dict(H, Authorization="Splunk nope"))
    expect("hec wrong token", (st, json.loads(body)["code"]), (403, 4))
    noevent = json.dumps({"time": 1, "host": "n1", "source": "ktrail", "sourcetype": "ktrail"}).encode()
    st, body = post(port, "/services/collector/event", noevent, H)
    expect("hec no event field", (st, json.loads(body)["code"]), (400, 12))
    p.terminate()
    p.wait()
    # Elasticsearch
    p, d, port = start("elasticsearch", "--gzip", "optional")
    H = {"Content-Type": "application/x-ndjson"}
    act = lambda op, seq: json.dumps({op: {"_index": "ktrail", "_id": "%064x" % seq}})
    expect("bulk valid", post(port, "/_bulk", (act("create", 1) + "\n" + record(1) + "\n").encode(), H)[0], 200)
    expect("bulk no trailing newline", post(port, "/_bulk", (act("create", 2) + "\n" + record(2)).encode(), H)[0], 400)
    expect("bulk index action", post(port, "/_bulk", (act("index", 3) + "\n" + record(3) + "\n").encode(), H)[0], 400)
    expect("bulk json content type", post(port, "/_bulk", (act("create", 4) + "\n" + record(4) + "\n").encode(),
                                          {"Content-Type": "application/json"})[0], 415)
    st, body = post(port, "/_bulk", (act("create", 1) + "\n" + record(1) + "\n").encode(), H)
    expect("bulk resend is a 409 item", json.loads(body)["items"][0]["create"]["status"], 409)
    p.terminate()
    p.wait()
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)
    if failures:
        print("\n".join("FAIL " + f for f in failures))
    print("%d passed, %d failed" % (len(passed), len(failures)))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

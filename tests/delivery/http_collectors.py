#!/usr/bin/env python3
"""Protocol-faithful stand-ins for the collectors ktrail's HTTP outputs talk to: an
OpenTelemetry collector's OTLP/HTTP logs receiver, Grafana Loki's push API, Splunk's HTTP Event
Collector and Elasticsearch's _bulk API. None of them can run on the test machines, so each is
implemented here from its documentation and checks every request strictly: method, path,
headers, authentication, gzip framing and the body schema (for OTLP protobuf, the wire format
is decoded here field by field against opentelemetry-proto). A deviation is answered the way
the real server would (400/401/403/415) and written to DIR/violations.txt, which tests assert
empty. Python standard library only.

Accepted records go to DIR/records.jsonl, one {"sequence": N, "record": <the record>} per line;
DIR/stats.json counts requests, connections, duplicates (by sequence) and injected faults.
"""
import argparse
import base64
import gzip
import json
import os
import re
import ssl
import struct
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Violation(Exception):
    def __init__(self, msg, status=400, body=None):
        super().__init__(msg)
        self.status = status
        self.body = body


def ts_ns(s):
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z", s)
    if not m:
        raise Violation("bad @timestamp %r" % s)
    sec = int(datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp())
    return sec * 10**9 + int((m.group(2) or "0").ljust(9, "0"))


def record_of(text):
    try:
        rec = json.loads(text)
    except ValueError as e:
        raise Violation("record is not JSON: %s" % e)
    if not isinstance(rec, dict) or "event" not in rec or "@timestamp" not in rec:
        raise Violation("record is not a ktrail record")
    return rec


def dig(rec, *path):
    for p in path:
        if not isinstance(rec, dict) or p not in rec:
            return None
        rec = rec[p]
    return rec


# ---------------------------------------------------------------- protobuf (wire format)

def read_varint(b, p):
    v = shift = 0
    while True:
        if p >= len(b):
            raise Violation("protobuf: truncated varint")
        c = b[p]
        p += 1
        v |= (c & 0x7F) << shift
        if not c & 0x80:
            return v, p
        shift += 7
        if shift >= 64:
            raise Violation("protobuf: varint too long")


def fields(b):
    """(field number, wire type, value) for every field of a serialized message."""
    p, out = 0, []
    while p < len(b):
        key, p = read_varint(b, p)
        num, wt = key >> 3, key & 7
        if num == 0:
            raise Violation("protobuf: field number 0")
        if wt == 0:
            v, p = read_varint(b, p)
        elif wt == 1:
            if p + 8 > len(b):
                raise Violation("protobuf: truncated fixed64")
            v = struct.unpack_from("<Q", b, p)[0]
            p += 8
        elif wt == 2:
            n, p = read_varint(b, p)
            if p + n > len(b):
                raise Violation("protobuf: length-delimited field runs past its message")
            v = b[p:p + n]
            p += n
        elif wt == 5:
            if p + 4 > len(b):
                raise Violation("protobuf: truncated fixed32")
            v = struct.unpack_from("<I", b, p)[0]
            p += 4
        else:
            raise Violation("protobuf: wire type %d not used by proto3" % wt)
        out.append((num, wt, v))
    return out


# opentelemetry-proto: message -> {field: (name, type, repeated)}; type is a scalar kind or a
# message name. Wire types follow: varint (uint32/int64/bool/enum), fixed64, fixed32, bytes.
SCHEMA = {
    "ExportLogsServiceRequest": {1: ("resource_logs", "ResourceLogs", True)},
    "ResourceLogs": {1: ("resource", "Resource", False), 2: ("scope_logs", "ScopeLogs", True),
                     3: ("schema_url", "string", False)},
    "Resource": {1: ("attributes", "KeyValue", True), 2: ("dropped_attributes_count", "uint32", False),
                 3: ("entity_refs", "bytes", True)},
    "ScopeLogs": {1: ("scope", "InstrumentationScope", False), 2: ("log_records", "LogRecord", True),
                  3: ("schema_url", "string", False)},
    "InstrumentationScope": {1: ("name", "string", False), 2: ("version", "string", False),
                             3: ("attributes", "KeyValue", True), 4: ("dropped_attributes_count", "uint32", False)},
    "LogRecord": {1: ("time_unix_nano", "fixed64", False), 11: ("observed_time_unix_nano", "fixed64", False),
                  2: ("severity_number", "enum", False), 3: ("severity_text", "string", False),
                  5: ("body", "AnyValue", False), 6: ("attributes", "KeyValue", True),
                  7: ("dropped_attributes_count", "uint32", False), 8: ("flags", "fixed32", False),
                  9: ("trace_id", "bytes", False), 10: ("span_id", "bytes", False),
                  12: ("event_name", "string", False)},
    "KeyValue": {1: ("key", "string", False), 2: ("value", "AnyValue", False)},
    "AnyValue": {1: ("string_value", "string", False), 2: ("bool_value", "bool", False),
                 3: ("int_value", "int64", False), 4: ("double_value", "double", False),
                 5: ("array_value", "ArrayValue", False), 6: ("kvlist_value", "KeyValueList", False),
                 7: ("bytes_value", "bytes", False)},
    "ArrayValue": {1: ("values", "AnyValue", True)},
    "KeyValueList": {1: ("values", "KeyValue", True)},
}
WIRE = {"uint32": 0, "int64": 0, "bool": 0, "enum": 0, "fixed64": 1, "double": 1, "fixed32": 5,
        "string": 2, "bytes": 2}


def decode(msg, b, where=""):
    """A dict (repeated fields: lists) per the schema; anything off the proto is a violation."""
    out = {}
    for num, wt, v in fields(b):
        if num not in SCHEMA[msg]:
            raise Violation("protobuf: %s%s has no field %d" % (where, msg, num))
        name, typ, rep = SCHEMA[msg][num]
        want = WIRE.get(typ, 2)
        if wt != want:
            raise Violation("protobuf: %s%s.%s (field %d) has wire type %d, the proto says %d"
                            % (where, msg, name, num, wt, want))
        if typ in SCHEMA:
            v = decode(typ, v, where + msg + "." + name + " > ")
        elif typ == "string":
            try:
                v = v.decode("utf-8")
            except UnicodeDecodeError:
                raise Violation("protobuf: %s.%s is not UTF-8" % (msg, name))
        elif typ == "int64" and v >= 1 << 63:
            v -= 1 << 64
        if rep:
            out.setdefault(name, []).append(v)
        elif name in out:
            # Legal proto3 (last one wins), but an encoder that repeats a singular field is buggy.
            raise Violation("protobuf: %s.%s (field %d) appears twice" % (msg, name, num))
        else:
            out[name] = v
    if msg == "AnyValue" and len(out) != 1:
        raise Violation("protobuf: AnyValue must hold exactly one value, has %d" % len(out))
    return out


def pb_attrs(kvs):
    out = {}
    for kv in kvs or []:
        if "key" not in kv or "value" not in kv:
            raise Violation("KeyValue without key or value")
        val = kv["value"]
        if "string_value" in val:
            out[kv["key"]] = val["string_value"]
        elif "int_value" in val:
            out[kv["key"]] = val["int_value"]
        else:
            out[kv["key"]] = val
    return out


# ---------------------------------------------------------------- OTLP/JSON mapping

JSON_KEYS = {
    "req": {"resourceLogs"},
    "rl": {"resource", "scopeLogs", "schemaUrl"},
    "res": {"attributes", "droppedAttributesCount", "entityRefs"},
    "sl": {"scope", "logRecords", "schemaUrl"},
    "scope": {"name", "version", "attributes", "droppedAttributesCount"},
    "lr": {"timeUnixNano", "observedTimeUnixNano", "severityNumber", "severityText", "body", "attributes",
           "droppedAttributesCount", "flags", "traceId", "spanId", "eventName"},
    "kv": {"key", "value"},
    "any": {"stringValue", "boolValue", "intValue", "doubleValue", "arrayValue", "kvlistValue", "bytesValue"},
}


def keys_ok(obj, kind, where):
    if not isinstance(obj, dict):
        raise Violation("OTLP/JSON: %s is not an object" % where)
    extra = set(obj) - JSON_KEYS[kind]
    if extra:
        raise Violation("OTLP/JSON: %s has unknown keys %s (the mapping uses lowerCamelCase)" % (where, sorted(extra)))


def json_int64(v, where):
    # The mapping writes 64-bit integers as decimal strings.
    if not isinstance(v, str) or not re.fullmatch(r"-?\d+", v):
        raise Violation("OTLP/JSON: %s must be a decimal string, got %r" % (where, v))
    return int(v)


def json_any(v, where):
    keys_ok(v, "any", where)
    if len(v) != 1:
        raise Violation("OTLP/JSON: %s must hold exactly one value" % where)
    k, x = next(iter(v.items()))
    if k == "stringValue":
        if not isinstance(x, str):
            raise Violation("OTLP/JSON: %s.stringValue is not a string" % where)
        return {"string_value": x}
    if k == "intValue":
        return {"int_value": json_int64(x, where + ".intValue")}
    return {k: x}


def json_kvs(lst, where):
    if not isinstance(lst, list):
        raise Violation("OTLP/JSON: %s is not an array" % where)
    out = []
    for i, kv in enumerate(lst):
        keys_ok(kv, "kv", "%s[%d]" % (where, i))
        if not isinstance(kv.get("key"), str):
            raise Violation("OTLP/JSON: %s[%d].key missing" % (where, i))
        out.append({"key": kv["key"], "value": json_any(kv.get("value"), "%s[%d].value" % (where, i))})
    return out


def otlp_from_json(doc):
    keys_ok(doc, "req", "request")
    out = {"resource_logs": []}
    for i, rl in enumerate(doc.get("resourceLogs", [])):
        keys_ok(rl, "rl", "resourceLogs[%d]" % i)
        res = rl.get("resource", {})
        keys_ok(res, "res", "resource")
        r = {"resource": {"attributes": json_kvs(res.get("attributes", []), "resource.attributes")},
             "scope_logs": []}
        for sl in rl.get("scopeLogs", []):
            keys_ok(sl, "sl", "scopeLogs")
            keys_ok(sl.get("scope", {}), "scope", "scope")
            recs = []
            for j, lr in enumerate(sl.get("logRecords", [])):
                w = "logRecords[%d]" % j
                keys_ok(lr, "lr", w)
                if not isinstance(lr.get("severityNumber"), int):
                    raise Violation("OTLP/JSON: %s.severityNumber must be an integer (enums are numbers)" % w)
                recs.append({
                    "time_unix_nano": json_int64(lr.get("timeUnixNano"), w + ".timeUnixNano"),
                    "observed_time_unix_nano": json_int64(lr.get("observedTimeUnixNano"), w + ".observedTimeUnixNano"),
                    "severity_number": lr["severityNumber"],
                    "severity_text": lr.get("severityText"),
                    "body": json_any(lr.get("body"), w + ".body"),
                    "attributes": json_kvs(lr.get("attributes", []), w + ".attributes"),
                })
            r["scope_logs"].append({"scope": {"name": sl.get("scope", {}).get("name")}, "log_records": recs})
        out["resource_logs"].append(r)
    return out


def otlp_check(req):
    """Semantic checks shared by both encodings; returns the records."""
    out = []
    if not req.get("resource_logs"):
        raise Violation("ExportLogsServiceRequest without resource_logs")
    for rl in req["resource_logs"]:
        res = pb_attrs(rl.get("resource", {}).get("attributes"))
        if res.get("service.name") != "ktrail":
            raise Violation("resource service.name is %r, want ktrail" % res.get("service.name"))
        for sl in rl.get("scope_logs", []):
            if sl.get("scope", {}).get("name") != "ktrail":
                raise Violation("scope name is not ktrail")
            for lr in sl.get("log_records", []):
                body = lr.get("body", {})
                if "string_value" not in body:
                    raise Violation("log record body is not a string")
                rec = record_of(body["string_value"])
                attrs = pb_attrs(lr.get("attributes"))
                seq = rec["event"]["sequence"]
                if attrs.get("event.sequence") != seq:
                    raise Violation("attribute event.sequence %r != record %r" % (attrs.get("event.sequence"), seq))
                for k in ("action", "outcome"):
                    if attrs.get("event." + k) != rec["event"][k]:
                        raise Violation("attribute event.%s != record" % k)
                if lr.get("time_unix_nano") != ts_ns(rec["@timestamp"]):
                    raise Violation("time_unix_nano %r != @timestamp %s" % (lr.get("time_unix_nano"), rec["@timestamp"]))
                obs = lr.get("observed_time_unix_nano", 0)
                if not abs(obs - time.time_ns()) < 600 * 10**9:
                    raise Violation("observed_time_unix_nano is not now")
                want_sev = (13, "WARN") if rec["event"]["action"] == "lost" else (9, "INFO")
                if (lr.get("severity_number"), lr.get("severity_text")) != want_sev:
                    raise Violation("severity %r/%r, want %r" % (lr.get("severity_number"), lr.get("severity_text"), want_sev))
                host = rec.get("host", {})
                cloud = rec.get("cloud", {})
                expect = {"host.name": host.get("name"), "os.type": dig(host, "os", "type"),
                          "host.id": dig(cloud, "instance", "id") or host.get("id"),
                          "cloud.provider": cloud.get("provider"), "cloud.region": cloud.get("region"),
                          "cloud.account.id": dig(cloud, "account", "id"),
                          "host.type": dig(cloud, "machine", "type")}
                for k, v in expect.items():
                    if v is not None and res.get(k) != v:
                        raise Violation("resource %s is %r, the record says %r" % (k, res.get(k), v))
                out.append((seq, body["string_value"]))
    return out


# ---------------------------------------------------------------- the server

class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.fail_left = args.fail_count
        self.stats = {"requests": 0, "connections": 0, "records": 0, "duplicates": 0, "faults": 0,
                      "refused": 0, "gzip": 0, "partial": 0,
                      "ack_polls": 0}
        self.seen = set()
        self.acks = {}
        self.docs = set()
        self.out = open(os.path.join(args.dir, "records.jsonl"), "a")
        self.viol = open(os.path.join(args.dir, "violations.txt"), "a")
        self.reqlog = open(os.path.join(args.dir, "requests.log"), "a")

    def save_stats(self):
        tmp = os.path.join(self.args.dir, "stats.json.tmp")
        with open(tmp, "w") as f:
            json.dump(self.stats, f)
        os.replace(tmp, os.path.join(self.args.dir, "stats.json"))
        self.out.flush()

    def accept(self, seq, record):
        if seq in self.seen:
            self.stats["duplicates"] += 1
            return
        self.seen.add(seq)
        self.stats["records"] += 1
        self.out.write(json.dumps({"sequence": seq, "record": record}) + "\n")


class Refusal(Exception):
    """A 400 the test asked for."""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real servers

    def setup(self):
        super().setup()
        with S.lock:
            S.stats["connections"] += 1
            S.save_stats()

    def log_message(self, fmt, *a):
        S.reqlog.write("%s %s\n" % (self.address_string(), fmt % a))
        S.reqlog.flush()

    def reply(self, status, body=b"", ctype="application/json", headers=()):
        self.send_response(status)
        if status != 204:
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if status != 204:
            self.wfile.write(body)

    def do_GET(self):
        self.reply(405, b'{"error":"method not allowed"}')

    def do_POST(self):
        a = S.args
        n = self.headers.get("Content-Length")
        if n is None or not n.isdigit():
            self.reply(411, b'{"error":"length required"}')
            return
        raw = self.rfile.read(int(n))
        try:
            with S.lock:
                S.stats["requests"] += 1
                S.save_stats()
            self.check_auth()
            if S.fail_left > 0:
                with S.lock:
                    S.fail_left -= 1
                    S.stats["faults"] += 1
                    S.save_stats()
                hdr = [("Retry-After", str(a.retry_after))] if a.retry_after is not None else []
                self.reply(a.fail_status, b'{"error":"injected fault"}', headers=hdr)
                return
            if a.discard:
                return self.discard(raw)
            path = self.path
            if a.kind == "splunk" and a.ack and path.startswith("/services/collector/ack"):
                return hec_ack_poll(self, raw)
            if path != a.path:
                raise Violation("path %s, want %s" % (path, a.path), 404)
            body = self.unwrap(raw)
            KINDS[a.kind](self, body)
        except Refusal as r:
            with S.lock:
                S.stats["partial"] += 1
                S.stats["refused"] += 1
                S.save_stats()
            self.reply(400, (str(r) + "\n").encode(), "text/plain; charset=utf-8")
        except Violation as v:
            with S.lock:
                if v.status not in (401, 403) or not a.quiet_auth:
                    S.viol.write("%s\n" % v)
                    S.viol.flush()
                S.stats["refused"] += 1
                S.save_stats()
            self.reply(v.status, v.body if v.body is not None else json.dumps({"error": str(v)}).encode())

    def discard(self, raw):
        """Benchmarks: count the records and answer success, checking nothing (the client's
        cost is what is measured)."""
        body = gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
        n = body.count(b"@timestamp")
        with S.lock:
            S.stats["records"] += n
            S.save_stats()
        a = S.args
        if a.kind == "loki":
            self.reply(204)
        elif a.kind == "splunk":
            self.reply(200, b'{"text":"Success","code":0}')
        elif a.kind == "elasticsearch":
            self.reply(200, b'{"took":1,"errors":false,"items":[' +
                       b",".join([b'{"create":{"status":201}}'] * n) + b"]}")
        else:
            self.reply(200, b"", self.headers.get("Content-Type"))

    def check_auth(self):
        a = S.args
        got = self.headers.get("Authorization")
        if a.auth is None:
            if got is not None:
                raise Violation("unexpected Authorization header")
            return
        if got is None:
            raise Violation("missing Authorization", 401, AUTH_BODY[a.kind][0])
        if got != a.auth:
            raise Violation("wrong credentials", 403 if a.kind == "splunk" else 401, AUTH_BODY[a.kind][1])

    def unwrap(self, raw):
        a = S.args
        enc = self.headers.get("Content-Encoding")
        if a.gzip == "required" and enc != "gzip":
            raise Violation("Content-Encoding %r, want gzip" % enc, 415)
        if enc == "gzip":
            if raw[:2] != b"\x1f\x8b":
                raise Violation("Content-Encoding gzip but the body is not gzip (magic %r)" % raw[:2])
            try:
                raw = gzip.decompress(raw)
            except Exception as e:
                raise Violation("bad gzip: %s" % e)
            S.stats["gzip"] += 1
        elif enc is not None:
            raise Violation("unsupported Content-Encoding %r" % enc, 415)
        return raw

    def content_type(self, *want):
        ct = self.headers.get("Content-Type")
        if ct not in want:
            raise Violation("Content-Type %r, want %s" % (ct, " or ".join(want)), 415)
        return ct


AUTH_BODY = {
    "otlp": (b'{"code":16,"message":"missing credentials"}', b'{"code":16,"message":"unauthenticated"}'),
    "loki": (b"no org id\n", b"unauthorized\n"),
    "splunk": (b'{"text":"Token is required","code":2}', b'{"text":"Invalid token","code":4}'),
    "elasticsearch": (b'{"error":{"type":"security_exception","reason":"missing authentication credentials"},"status":401}',
                      b'{"error":{"type":"security_exception","reason":"unable to authenticate"},"status":401}'),
}


def otlp(h, body):
    ct = h.content_type("application/x-protobuf", "application/json")
    if ct != "application/x-" + S.args.encoding and ct != "application/" + S.args.encoding:
        raise Violation("Content-Type %s, the test expects %s" % (ct, S.args.encoding), 415)
    if ct == "application/json":
        try:
            doc = json.loads(body)
        except ValueError as e:
            raise Violation("OTLP/JSON body: %s" % e)
        req = otlp_from_json(doc)
    else:
        req = decode("ExportLogsServiceRequest", body)
    recs = otlp_check(req)
    with S.lock:
        reject = 0
        for seq, rec in recs:
            if seq in S.args.reject_seq:
                reject += 1
                continue
            S.accept(seq, rec)
        S.stats["partial"] += reject
        S.save_stats()
    if ct == "application/json":
        resp = json.dumps({"partialSuccess": {"rejectedLogRecords": str(reject), "errorMessage": "test rejects"}}
                          if reject else {}).encode()
    else:
        resp = b""
        if reject:
            inner = b"\x08" + bytes([reject]) + b"\x12\x0ctest rejects"
            resp = b"\x0a" + bytes([len(inner)]) + inner
    h.reply(200, resp, ct)


LOKI_LABELS = {"job", "host", "event_category", "event_action", "container_runtime", "k8s_namespace"}


def loki(h, body):
    h.content_type("application/json")
    if S.args.tenant and h.headers.get("X-Scope-OrgID") != S.args.tenant:
        raise Violation("X-Scope-OrgID %r, want %r" % (h.headers.get("X-Scope-OrgID"), S.args.tenant), 401, b"no org id\n")
    try:
        doc = json.loads(body)
    except ValueError as e:
        raise Violation("push body: %s" % e)
    if set(doc) != {"streams"} or not isinstance(doc["streams"], list) or not doc["streams"]:
        raise Violation("push body must be {\"streams\":[...]}")
    got = []
    for st in doc["streams"]:
        if set(st) != {"stream", "values"}:
            raise Violation("stream object keys %s, want stream and values" % sorted(st))
        labels = st["stream"]
        if not labels or not all(isinstance(v, str) for v in labels.values()):
            raise Violation("stream labels must be a non-empty map of strings")
        for k in labels:
            if not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", k):
                raise Violation("label name %r is invalid" % k)
            if k not in LOKI_LABELS:
                raise Violation("label %r is not one of the low-cardinality labels" % k)
        if labels.get("job") != "ktrail":
            raise Violation("job label is %r" % labels.get("job"))
        for v in st["values"]:
            if not isinstance(v, list) or len(v) != 2 or not all(isinstance(x, str) for x in v):
                raise Violation("a value must be [\"<ns>\", \"<line>\"]")
            if not re.fullmatch(r"\d{1,19}", v[0]):
                raise Violation("timestamp %r is not nanoseconds as a string" % v[0])
            rec = record_of(v[1])
            if int(v[0]) != ts_ns(rec["@timestamp"]):
                raise Violation("entry timestamp %s != @timestamp %s" % (v[0], rec["@timestamp"]))
            want = {"host": rec["host"]["name"], "event_action": rec["event"]["action"],
                    "event_category": rec["event"]["category"][0],
                    "container_runtime": dig(rec, "container", "runtime"),
                    "k8s_namespace": dig(rec, "orchestrator", "namespace")}
            for k, x in want.items():
                if labels.get(k) != x:
                    raise Violation("label %s is %r, the record says %r" % (k, labels.get(k), x))
            if rec["event"]["sequence"] in S.args.reject_seq:
                # What Loki does with an entry it will not take (too old, too long): the whole
                # push is a 400 naming it. Expected by the test, so not a violation.
                raise Refusal("entry for stream '%s' has timestamp too old" % json.dumps(labels))
            got.append((rec["event"]["sequence"], v[1]))
    with S.lock:
        for seq, rec in got:
            S.accept(seq, rec)
        S.save_stats()
    h.reply(204)


HEC_KEYS = {"time", "host", "source", "sourcetype", "index", "event", "fields"}


def splunk(h, body):
    h.content_type("application/json")
    text = body.decode("utf-8")
    dec = json.JSONDecoder()
    p, n, got = 0, 0, []
    while True:
        while p < len(text) and text[p] in " \t\r\n":
            p += 1
        if p == len(text):
            break
        try:
            ev, p = dec.raw_decode(text, p)
        except ValueError:
            raise Violation("event %d is not JSON" % n, 400, json.dumps({"text": "Invalid data format", "code": 6,
                                                                          "invalid-event-number": n}).encode())
        if not isinstance(ev, dict) or set(ev) - HEC_KEYS:
            raise Violation("event %d has keys %s" % (n, sorted(ev) if isinstance(ev, dict) else ev), 400,
                            json.dumps({"text": "Invalid data format", "code": 6, "invalid-event-number": n}).encode())
        if "event" not in ev:
            raise Violation("event %d without event" % n, 400, b'{"text":"Event field is required","code":12}')
        rec = ev["event"]
        if not isinstance(rec, dict) or not rec:
            raise Violation("event %d: event is blank" % n, 400, b'{"text":"Event field cannot be blank","code":13}')
        if not isinstance(ev.get("time"), (int, float)) or abs(ev["time"] * 1e9 - ts_ns(rec["@timestamp"])) > 2e3:
            raise Violation("event %d: time %r != @timestamp %s" % (n, ev.get("time"), rec["@timestamp"]))
        if ev.get("host") != rec["host"]["name"]:
            raise Violation("event %d: host %r" % (n, ev.get("host")))
        if ev.get("source") != S.args.source or ev.get("sourcetype") != S.args.sourcetype:
            raise Violation("event %d: source/sourcetype %r/%r" % (n, ev.get("source"), ev.get("sourcetype")))
        if S.args.index and ev.get("index") != S.args.index:
            raise Violation("event %d: index %r" % (n, ev.get("index")), 400, b'{"text":"Incorrect index","code":7}')
        got.append((rec["event"]["sequence"], rec))
        n += 1
    if not n:
        raise Violation("no events", 400, b'{"text":"No data","code":5}')
    channel = h.headers.get("X-Splunk-Request-Channel")
    if S.args.ack and not re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", channel or ""):
        raise Violation("channel %r is not a GUID" % channel, 400, b'{"text":"Data channel is missing","code":10}')
    with S.lock:
        for seq, rec in got:
            S.accept(seq, rec)
        S.save_stats()
        if not S.args.ack:
            h.reply(200, b'{"text":"Success","code":0}')
            return
        acks = S.acks.setdefault(channel, {})
        ack_id = len(acks)
        acks[ack_id] = 0  # polls seen
    h.reply(200, json.dumps({"text": "Success", "code": 0, "ackId": ack_id}).encode())


def hec_ack_poll(h, raw):
    """POST /services/collector/ack?channel=GUID {"acks":[ids]} -> {"acks":{"id":bool}}."""
    m = re.fullmatch(r"/services/collector/ack\?channel=([0-9a-f-]{36})", h.path)
    if not m:
        raise Violation("ack poll path %s without a channel" % h.path, 400, b'{"text":"Data channel is missing","code":10}')
    try:
        ids = json.loads(raw)["acks"]
        assert isinstance(ids, list) and ids and all(isinstance(i, int) for i in ids)
    except Exception:
        raise Violation("ack poll body %r" % raw[:100], 400, b'{"text":"Invalid data format","code":6}')
    out = {}
    with S.lock:
        acks = S.acks.get(m.group(1), {})
        S.stats["ack_polls"] += 1
        for i in ids:
            if i not in acks:
                raise Violation("ack poll for unknown ackId %d" % i, 400, b'{"text":"Invalid data format","code":6}')
            acks[i] += 1
            out[str(i)] = not S.args.ack_never and acks[i] > S.args.ack_delay
        S.save_stats()
    h.reply(200, json.dumps({"acks": out}).encode())


def elasticsearch(h, body):
    h.content_type("application/x-ndjson")
    text = body.decode("utf-8")
    if not text.endswith("\n"):
        raise Violation("the bulk request must be terminated by a newline [\\n]")
    lines = text[:-1].split("\n")
    if len(lines) % 2:
        raise Violation("odd number of lines: an action without its document")
    items, errors = [], False
    with S.lock:
        fault = S.args.item_429 > 0
        if fault:
            S.args.item_429 -= 1
        for i in range(0, len(lines), 2):
            try:
                action, doc = json.loads(lines[i]), json.loads(lines[i + 1])
            except ValueError as e:
                raise Violation("line %d: %s" % (i + 1, e))
            if not isinstance(action, dict) or list(action) != ["create"]:
                raise Violation("action line %d is %r, want a create action" % (i + 1, lines[i]))
            meta = action["create"]
            if set(meta) != {"_index", "_id"} or meta["_index"] != S.args.index:
                raise Violation("action metadata %r" % meta)
            rec = doc
            if meta["_id"] != dig(rec, "ktrail", "chain", "hash"):
                raise Violation("_id %r is not the record's chain hash" % meta["_id"])
            seq = rec["event"]["sequence"]
            item = {"_index": meta["_index"], "_id": meta["_id"]}
            if fault:
                item.update(status=429, error={"type": "es_rejected_execution_exception", "reason": "queue full"})
                errors = True
            elif seq in S.args.reject_seq:
                item.update(status=400, error={"type": "mapper_parsing_exception", "reason": "test rejects"})
                errors = True
                S.stats["partial"] += 1
            elif (meta["_index"], meta["_id"]) in S.docs:
                item.update(status=409, error={"type": "version_conflict_engine_exception",
                                               "reason": "document already exists"})
                errors = True
                S.stats["duplicates"] += 1
            else:
                S.docs.add((meta["_index"], meta["_id"]))
                item.update(_version=1, result="created", status=201)
                S.accept(seq, rec)
            items.append({"create": item})
        S.save_stats()
    h.reply(200, json.dumps({"took": 1, "errors": errors, "items": items}).encode())


KINDS = {"otlp": otlp, "loki": loki, "splunk": splunk, "elasticsearch": elasticsearch}
PATHS = {"otlp": "/v1/logs", "loki": "/loki/api/v1/push", "splunk": "/services/collector/event",
         "elasticsearch": "/_bulk"}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("kind", choices=sorted(KINDS))
    p.add_argument("--dir", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--client-ca", help="require a client certificate signed by this CA")
    p.add_argument("--auth", help="the exact Authorization header expected")
    p.add_argument("--quiet-auth", action="store_true", help="auth failures are expected: not violations")
    p.add_argument("--gzip", choices=["required", "optional"], default="required")
    p.add_argument("--encoding", choices=["x-protobuf", "json"], default="x-protobuf")
    p.add_argument("--tenant")
    p.add_argument("--index", default="")
    p.add_argument("--source", default="ktrail")
    p.add_argument("--sourcetype", default="ktrail")
    p.add_argument("--fail-count", type=int, default=0, help="answer the first N requests with --fail-status")
    p.add_argument("--fail-status", type=int, default=503)
    p.add_argument("--retry-after", type=int)
    p.add_argument("--item-429", type=int, default=0, help="elasticsearch: N bulk requests get 429 items")
    p.add_argument("--ack", action="store_true", help="splunk: indexer acknowledgement (channel, ackId)")
    p.add_argument("--ack-delay", type=int, default=1, help="splunk: an ackId is true from this many polls on")
    p.add_argument("--ack-never", action="store_true", help="splunk: no ackId ever becomes true")
    p.add_argument("--discard", action="store_true", help="benchmarks: count records, check nothing")
    p.add_argument("--reject-seq", type=lambda s: {int(x) for x in s.split(",") if x}, default=set())
    a = p.parse_args()
    a.path = PATHS[a.kind]
    if a.kind == "elasticsearch" and not a.index:
        a.index = "ktrail"
    global S
    S = State(a)
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    if a.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(a.cert, a.key)
        if a.client_ca:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(a.client_ca)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    S.save_stats()
    with open(os.path.join(a.dir, "port.tmp"), "w") as f:
        f.write(str(srv.server_address[1]))
    os.replace(os.path.join(a.dir, "port.tmp"), os.path.join(a.dir, "port"))
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

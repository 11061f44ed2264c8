// HTTP log outputs: OTLP/HTTP logs, Loki push, Splunk HEC and Elasticsearch _bulk. Each is a
// delivery::Protocol behind the same durable spool and sender thread as syslog: at-least-once,
// a kept-alive connection, TLS verified by default. Bodies: sinks/http_formats.h.
//
//   otlp+https://HOST[:PORT][/PREFIX]           4318, POST PREFIX/v1/logs
//   loki+https://HOST[:PORT][/PREFIX]           3100, POST PREFIX/loki/api/v1/push
//   splunk+https://HOST[:PORT][/PREFIX]         8088, POST PREFIX/services/collector/event
//   elasticsearch+https://HOST[:PORT][/PREFIX]  9200, POST PREFIX/_bulk
// (+http:// for a collector on the same host or pod.) Query parameters:
//   ca=FILE cert=FILE key=FILE            TLS trust and mutual TLS
//   token_file=FILE | token_env=VAR       OTLP/Loki: Bearer; Splunk: "Splunk <token>";
//                                         Elasticsearch: "ApiKey <token>" (the encoded key)
//   user=NAME & password_file=FILE | password_env=VAR   HTTP basic auth (Loki, Elasticsearch)
//   gzip=on|off (on; true|false too)   timeout_ms=N (10000)
//   otlp:    encoding=protobuf|json (protobuf)
//   loki:    tenant=ID (X-Scope-OrgID)
//   splunk:  index=NAME source=S sourcetype=T ack=on|off (indexer acknowledgement, off)
//   elasticsearch: index=NAME (ktrail)
// Secrets are only ever read from files or the environment (never the URL, which shows in ps
// and logs), re-read at every connect so a rotated token is picked up, and never logged.
#pragma once
#include <memory>
#include <string>

#include "delivery/sender.h"
#include "net/http.h"
#include "sinks/http_formats.h"
#include "sinks/sink.h"
#include "sinks/spooling_sink.h"

namespace ktrail {

enum class HttpKind { Otlp, Loki, Splunk, Elasticsearch };

struct HttpTarget {
  HttpKind kind = HttpKind::Otlp;
  net::Endpoint ep;
  std::string name;  // "otlp+https://host:4318": logs, lost events, spool directory
  std::string token_file, token_env;
  std::string user, password_file, password_env;
  bool gzip = true;
  bool otlp_json = false;
  std::string tenant;
  std::string index;
  http_formats::HecOptions hec;
  bool hec_ack = false;  // Splunk indexer acknowledgement: delivered once the indexer says so
  int timeout_ms = 10000;
};

// True for the schemes above (whatever the rest of the URL).
bool is_http_output(const std::string &spec);
// Parses an HTTP output URL; err is precise (which part, which parameter).
bool parse_http_output_url(const std::string &url, HttpTarget &out, std::string &err);

// The delivery side of one HTTP output. A batch counts as delivered when the collector
// answered 2xx; 408/429/5xx (honouring Retry-After), 401/403/404 and network or TLS failures
// are retried with the batch kept in the spool; other 4xx answers are narrowed down by halving
// the batch until the single records the collector refuses are known, and only those are
// dropped, counted in `rejections` (reported in-band as a `lost` record, source "rejected").
std::unique_ptr<delivery::Protocol> make_http_protocol(HttpTarget t, std::shared_ptr<Rejections> rejections);

Status make_http_sink(const std::string &spec, const DeliveryOptions &opt, std::unique_ptr<Sink> &out);

}  // namespace ktrail

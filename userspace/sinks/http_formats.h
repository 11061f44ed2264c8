// Request bodies for the HTTP log outputs and the parsing of their answers. Pure functions over
// formatted records (the JSON lines the pipeline emits), unit tested on their own; the
// transport, retries and spooling are in sinks/http_output.h.
//
// Every output carries the record itself byte for byte (OTLP body, Loki line, HEC event,
// Elasticsearch document), so a receiver can still check the trail's hash chain.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ktrail::http_formats {

// The fields the outputs lift out of a record (resource, labels, metadata).
struct RecordView {
  std::string_view json;  // the record as emitted (the caller keeps it alive)
  int64_t time_ns = 0;  // @timestamp (Unix epoch ns)
  uint64_t sequence = 0;
  std::string action, outcome, category;
  std::string chain_hash;
  // Resource identity (OTel semantic conventions / Loki labels).
  std::string host_name, host_id, os_type, os_name, os_version, os_kernel;
  std::string cloud_provider, cloud_region, cloud_zone, cloud_account, cloud_instance, cloud_machine_type;
  std::string container_id, container_runtime, container_name, pod_name, pod_namespace;
};

// False (with err) when the line is not a JSON object.
bool view_record(const std::string &json, RecordView &out, std::string &err);

// RFC 3339 UTC with up to 9 fraction digits -> Unix ns; false if malformed.
bool parse_rfc3339_ns(const std::string &s, int64_t &out);

// --- OTLP/HTTP logs (opentelemetry-proto logs/v1, collector/logs/v1) ---
// ExportLogsServiceRequest: one ResourceLogs per distinct resource in the batch (records keep
// their order within it), scope "ktrail", body = the record as a string.
std::string otlp_protobuf(const std::vector<RecordView> &recs, int64_t observed_ns);
std::string otlp_json(const std::vector<RecordView> &recs, int64_t observed_ns);
// ExportLogsServiceResponse.partial_success: rejected_log_records and error_message.
// An empty body is a full success. False if the body does not parse.
bool otlp_response(const std::string &body, bool json, int64_t &rejected, std::string &message);

// --- Loki push API (POST /loki/api/v1/push, JSON) ---
// Streams by low-cardinality labels: job, host, event_category, event_action, and when the
// record has them container_runtime and k8s_namespace.
std::string loki_push(const std::vector<RecordView> &recs);

// --- Splunk HTTP Event Collector (POST /services/collector/event) ---
struct HecOptions {
  std::string source = "ktrail";
  std::string sourcetype = "ktrail";
  std::string index;  // "" = the token's default index
};
std::string hec_events(const std::vector<RecordView> &recs, const HecOptions &opt);
// {"text":"Success","code":0[,"ackId":N]}: code and text; ack_id -1 when absent.
bool hec_response(const std::string &body, int &code, std::string &text, int64_t &ack_id);
// /services/collector/ack answer {"acks":{"0":true,"1":false}}: the ids acknowledged.
bool hec_acks(const std::string &body, std::vector<int64_t> &acked);

// --- Elasticsearch _bulk (NDJSON, create actions: a resent record is a 409, not a copy) ---
// _id: the record's ktrail.chain.hash (unique and stable across resends), else host.id-sequence.
std::string es_bulk(const std::vector<RecordView> &recs, const std::string &index);
enum class BulkItem { Ok, Duplicate, Retry, Rejected };
// Per item, in request order. False if the body does not parse or the item count is off.
bool es_bulk_response(const std::string &body, size_t expected, std::vector<BulkItem> &items,
                      std::string &first_error);

// gzip (RFC 1952) of data.
bool gzip(const std::string &data, std::string &out);

}  // namespace ktrail::http_formats

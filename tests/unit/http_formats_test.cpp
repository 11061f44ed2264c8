// The HTTP outputs' pure parts: field extraction from records (against nlohmann as the
// reference), timestamps, gzip framing, and the parsing of collector answers.
#include <gtest/gtest.h>
#include <zlib.h>

#include <nlohmann/json.hpp>
#include <random>

#include "sinks/http_formats.h"

namespace ktrail::http_formats {
namespace {

using nlohmann::json;

TEST(HttpFormats, Rfc3339ToUnixNanoseconds) {
  int64_t ns = 0;
  ASSERT_TRUE(parse_rfc3339_ns("2026-11-26T16:40:00.123456789Z", ns));
  EXPECT_EQ(ns, 1795711200123456789LL);
  ASSERT_TRUE(parse_rfc3339_ns("1970-01-01T00:00:01.5Z", ns));
  EXPECT_EQ(ns, 1500000000LL);
  ASSERT_TRUE(parse_rfc3339_ns("2000-02-29T12:00:00Z", ns));
  EXPECT_EQ(ns, 951825600000000000LL);
  for (const char *bad : {"", "2026-11-26 16:40:00Z", "2026-11-26T16:40:00", "2026-11-26T16:40:00.1234567890Z",
                          "2026-11-26T16:40:00.Z1", "2026-1x-26T16:40:00Z"})
    EXPECT_FALSE(parse_rfc3339_ns(bad, ns)) << bad;
}

TEST(HttpFormats, ViewRecordTakesTheFieldsTheOutputsNeed) {
  std::string line =
      R"({"@timestamp":"2026-11-26T16:40:00.000000001Z","event":{"kind":"event","category":["process","x"],)"
      R"("action":"exec","outcome":"failure","sequence":18446744073709551615},"host":{"name":"h\u00e9\"q","id":"m1",)"
      R"("os":{"type":"linux","kernel":"6.1","name":"Debian","version":"12"}},"process":{"args":["a\\b","\ud83d\ude00"],)"
      R"("name":"x","pid":-1,"f":1.5e3,"t":true,"n":null},"container":{"id":"c1","runtime":"podman","name":"web"},)"
      R"("orchestrator":{"namespace":"ns1","resource":{"name":"pod1"}},"cloud":{"provider":"gcp","region":"r",)"
      R"("availability_zone":"z","account":{"id":"a"},"instance":{"id":"i"},"machine":{"type":"t"}},)"
      R"("ktrail":{"chain":{"hash":"ab"}}})";
  RecordView v;
  std::string err;
  ASSERT_TRUE(view_record(line, v, err)) << err;
  EXPECT_EQ(v.json, line);
  EXPECT_EQ(v.time_ns, 1795711200000000001LL);
  EXPECT_EQ(v.sequence, UINT64_MAX);
  EXPECT_EQ(v.category, "process");  // the first element
  EXPECT_EQ(v.action, "exec");
  EXPECT_EQ(v.outcome, "failure");
  EXPECT_EQ(v.host_name, "h\xc3\xa9\"q");
  EXPECT_EQ(v.host_id, "m1");
  EXPECT_EQ(v.os_type, "linux");
  EXPECT_EQ(v.os_kernel, "6.1");
  EXPECT_EQ(v.os_name, "Debian");
  EXPECT_EQ(v.os_version, "12");
  EXPECT_EQ(v.container_id, "c1");
  EXPECT_EQ(v.container_runtime, "podman");
  EXPECT_EQ(v.container_name, "web");
  EXPECT_EQ(v.pod_namespace, "ns1");
  EXPECT_EQ(v.pod_name, "pod1");
  EXPECT_EQ(v.cloud_provider, "gcp");
  EXPECT_EQ(v.cloud_region, "r");
  EXPECT_EQ(v.cloud_zone, "z");
  EXPECT_EQ(v.cloud_account, "a");
  EXPECT_EQ(v.cloud_instance, "i");
  EXPECT_EQ(v.cloud_machine_type, "t");
  EXPECT_EQ(v.chain_hash, "ab");
}

TEST(HttpFormats, ViewRecordRefusesWhatIsNotOneJsonObject) {
  RecordView v;
  std::string err;
  for (const char *bad : {"", "[]", "{", R"({"a":1}x)", R"({"a":"\x"})", R"({"a":"\ud800"})", R"({"a":01x})",
                          "{\"a\":\"\x01\"}", R"({"a":tru})", R"({"a" 1})", R"({"a":1,})"})
    EXPECT_FALSE(view_record(bad, v, err)) << bad;
}

// Host names with every kind of escape survive extraction exactly as a JSON library reads them.
TEST(HttpFormats, ViewRecordUnescapesLikeAJsonLibrary) {
  std::mt19937 rng(7);
  const std::vector<std::string> pieces = {"a", "\"", "\\", "/", "\b", "\f", "\n", "\r", "\t", "\x01",
                                           "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", " "};
  for (int i = 0; i < 500; i++) {
    std::string name;
    for (int k = rng() % 12; k > 0; k--) name += pieces[rng() % pieces.size()];
    json rec = {{"@timestamp", "2026-11-26T16:40:00Z"}, {"event", {{"sequence", i}}}, {"host", {{"name", name}}}};
    std::string line = rec.dump(-1, ' ', rng() % 2 == 0);  // sometimes \uXXXX for non-ASCII
    RecordView v;
    std::string err;
    ASSERT_TRUE(view_record(line, v, err)) << line;
    EXPECT_EQ(v.host_name, name) << line;
    EXPECT_EQ(v.sequence, static_cast<uint64_t>(i));
  }
}

std::string gunzip(const std::string &in) {
  z_stream z{};
  EXPECT_EQ(inflateInit2(&z, 15 + 16), Z_OK);  // gzip only: a zlib or raw stream fails
  std::string out(in.size() * 20 + 64, '\0');
  z.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef *>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  inflateEnd(&z);
  return out;
}

TEST(HttpFormats, GzipIsGzipFramed) {
  std::string data;
  for (int i = 0; i < 1000; i++) data += R"({"event":{"sequence":)" + std::to_string(i) + "}}\n";
  std::string z;
  ASSERT_TRUE(gzip(data, z));
  ASSERT_GE(z.size(), 18u);
  EXPECT_EQ(static_cast<unsigned char>(z[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>(z[1]), 0x8b);
  EXPECT_LT(z.size(), data.size() / 4);
  EXPECT_EQ(gunzip(z), data);
}

TEST(HttpFormats, OtlpPartialSuccessInBothEncodings) {
  int64_t rejected = -1;
  std::string msg;
  ASSERT_TRUE(otlp_response("", false, rejected, msg));
  EXPECT_EQ(rejected, 0);
  // partial_success{rejected_log_records=300, error_message="bad"}
  std::string pb = std::string("\x0a\x08\x08\xac\x02\x12\x03" "bad", 10);
  ASSERT_TRUE(otlp_response(pb, false, rejected, msg));
  EXPECT_EQ(rejected, 300);
  EXPECT_EQ(msg, "bad");
  EXPECT_FALSE(otlp_response(std::string("\x0a\x09\x08", 3), false, rejected, msg));  // runs past the end
  ASSERT_TRUE(otlp_response(R"({"partialSuccess":{"rejectedLogRecords":"7","errorMessage":"x"}})", true, rejected, msg));
  EXPECT_EQ(rejected, 7);
  ASSERT_TRUE(otlp_response(R"({})", true, rejected, msg));
  EXPECT_EQ(rejected, 0);
  EXPECT_FALSE(otlp_response(R"({"partialSuccess":{"rejectedLogRecords":true}})", true, rejected, msg));
}

TEST(HttpFormats, HecAnswersAndAcks) {
  int code = -1;
  int64_t ack = 0;
  std::string text;
  ASSERT_TRUE(hec_response(R"({"text":"Success","code":0})", code, text, ack));
  EXPECT_EQ(code, 0);
  EXPECT_EQ(ack, -1);
  ASSERT_TRUE(hec_response(R"({"text":"Success","code":0,"ackId":12})", code, text, ack));
  EXPECT_EQ(ack, 12);
  EXPECT_FALSE(hec_response("Success", code, text, ack));
  std::vector<int64_t> acked;
  ASSERT_TRUE(hec_acks(R"({"acks":{"0":true,"1":false,"2":true}})", acked));
  EXPECT_EQ(acked, (std::vector<int64_t>{0, 2}));
  EXPECT_FALSE(hec_acks(R"({"acks":{"x":true}})", acked));
  EXPECT_FALSE(hec_acks(R"({"acks":[0]})", acked));
}

TEST(HttpFormats, BulkItemsByStatus) {
  std::vector<BulkItem> items;
  std::string err;
  ASSERT_TRUE(es_bulk_response(
      R"({"errors":true,"items":[{"create":{"status":201}},{"create":{"status":409}},{"create":{"status":429}},)"
      R"({"create":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"bad"}}},{"create":{"status":503}}]})",
      5, items, err));
  EXPECT_EQ(items, (std::vector<BulkItem>{BulkItem::Ok, BulkItem::Duplicate, BulkItem::Retry, BulkItem::Rejected,
                                          BulkItem::Retry}));
  EXPECT_EQ(err, "mapper_parsing_exception: bad");
  EXPECT_FALSE(es_bulk_response(R"({"errors":false,"items":[{"create":{"status":201}}]})", 2, items, err));
  EXPECT_FALSE(es_bulk_response(R"({"error":"x"})", 1, items, err));
}

TEST(HttpFormats, BulkBodyIsActionAndDocumentPerRecordWithTrailingNewline) {
  std::vector<RecordView> recs(2);
  std::string a = R"({"event":{"sequence":1}})", b = R"({"event":{"sequence":2}})";
  recs[0].json = a, recs[0].chain_hash = "h1";
  recs[1].json = b, recs[1].host_id = "m", recs[1].sequence = 2;  // no chain: host.id-sequence
  EXPECT_EQ(es_bulk(recs, "audit"), "{\"create\":{\"_index\":\"audit\",\"_id\":\"h1\"}}\n" + a +
                                        "\n{\"create\":{\"_index\":\"audit\",\"_id\":\"m-2\"}}\n" + b + "\n");
}

}  // namespace
}  // namespace ktrail::http_formats

namespace ktrail::http_formats {
namespace {

// --schema ocsf: the outputs find time, sequence, action, outcome, host and chain under the
// OCSF names.
TEST(HttpFormats, ViewRecordReadsOcsfRecords) {
  std::string line =
      R"({"time":1795711200123,"metadata":{"version":"1.1.0","event_code":"exec","sequence":42,"uid":"m:42"},)"
      R"("category_name":"System Activity","class_name":"Process Activity","status":"Failure",)"
      R"("device":{"hostname":"node-1","uid":"m","os":{"name":"Debian GNU/Linux","type":"Linux","version":"12"}},)"
      R"("container":{"uid":"c9","runtime":"podman"},"cloud":{"provider":"aws","region":"r","zone":"z",)"
      R"("account":{"uid":"a"}},"unmapped":{"chain":{"hash":"cafe"}}})";
  RecordView v;
  std::string err;
  ASSERT_TRUE(view_record(line, v, err)) << err;
  EXPECT_EQ(v.time_ns, 1795711200123000000LL);
  EXPECT_EQ(v.sequence, 42u);
  EXPECT_EQ(v.action, "exec");
  EXPECT_EQ(v.outcome, "failure");
  EXPECT_EQ(v.category, "System Activity");
  EXPECT_EQ(v.host_name, "node-1");
  EXPECT_EQ(v.host_id, "m");
  EXPECT_EQ(v.os_type, "linux");
  EXPECT_EQ(v.os_name, "Debian GNU/Linux");
  EXPECT_EQ(v.container_id, "c9");
  EXPECT_EQ(v.container_runtime, "podman");
  EXPECT_EQ(v.cloud_zone, "z");
  EXPECT_EQ(v.cloud_account, "a");
  EXPECT_EQ(v.chain_hash, "cafe");
}

}  // namespace
}  // namespace ktrail::http_formats

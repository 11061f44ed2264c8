// libFuzzer target for the rule-condition parser: any input must either compile or fail with an
// error whose offset lies within the input, never crash, hang or leak; what compiles must
// evaluate on events of every kind. Built with clang (-fsanitize=fuzzer,address), see
// tests/fuzz/CMakeLists.txt; the seed corpus is tests/fuzz/corpus/.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "ktrail/abi/events.h"
#include "rules/expr.h"

namespace {

std::vector<ktrail::Event> sample_events() {
  using ktrail::Event;
  using ktrail::EventKind;
  std::vector<Event> out;
  for (EventKind k : {EventKind::Exec, EventKind::ExecFailed, EventKind::Exit, EventKind::Cred, EventKind::Lost,
                      EventKind::SshAccept, EventKind::SshAuth, EventKind::SshSessionStart, EventKind::SshSessionEnd,
                      EventKind::Capable, EventKind::File}) {
    Event e;
    e.kind = k;
    e.executable = "/usr/bin/bash";
    e.proc.comm = "bash";
    e.args = {"bash", "-c", "cat /etc/shadow"};
    e.syscall = k == EventKind::File ? KTRAIL_SYS_OPENAT : KTRAIL_SYS_SETRESUID;
    e.file.path = "/etc/shadow";
    e.ssh.source = {"10.0.0.1", 22};
    e.ssh.user = "root";
    e.cap.cap = 21;
    e.container = std::make_shared<ktrail::ContainerInfo>();
    out.push_back(e);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const std::vector<ktrail::Event> events = sample_events();
  std::string_view src(reinterpret_cast<const char *>(data), size);
  ktrail::rules::Expr x;
  ktrail::rules::ExprError err;
  if (!x.compile(src, err)) {
    if (err.offset > size || err.message.empty()) abort();
    return 0;
  }
  std::string scratch;
  for (const auto &e : events) x.eval(e, scratch);
  return 0;
}

#include "sinks/sink.h"

#include <cerrno>
#include <cstring>

namespace ktrail {
namespace {

class FileSink : public Sink {
 public:
  FileSink(FILE *f, bool owned, Format fmt, std::string name)
      : f_(f), owned_(owned), fmt_(fmt), name_(std::move(name)) {
    if (owned_) setvbuf(f_, nullptr, _IOFBF, 1 << 16);
  }
  ~FileSink() override {
    fflush(f_);
    if (owned_) fclose(f_);
  }
  Format format() const override { return fmt_; }
  bool write(const std::string &line) override {
    if (fwrite(line.data(), 1, line.size(), f_) != line.size() || fputc('\n', f_) == EOF) return fail();
    return true;
  }
  bool flush() override { return fflush(f_) == 0 || fail(); }
  std::string describe() const override { return name_; }

 private:
  bool fail() {
    clearerr(f_);
    return false;
  }
  FILE *f_;
  bool owned_;
  Format fmt_;
  std::string name_;
};

}  // namespace

Status make_sink(const std::string &spec, Format stdout_format, std::unique_ptr<Sink> &out) {
  if (spec == "stdout" || spec == "-") {
    out = std::make_unique<FileSink>(stdout, false, stdout_format, "stdout");
    return Status::ok();
  }
  if (spec.rfind("file:", 0) == 0) {
    std::string path = spec.substr(5);
    if (path.empty()) return Status::error(KTRAIL_EXIT_USAGE, "output 'file:' needs a path");
    FILE *f = fopen(path.c_str(), "ae");
    if (!f)
      return Status::error(KTRAIL_EXIT_OUTPUT, "cannot open output " + path + ": " + strerror(errno));
    out = std::make_unique<FileSink>(f, true, Format::Json, "file:" + path);
    return Status::ok();
  }
  return Status::error(KTRAIL_EXIT_USAGE,
                       "unknown output '" + spec + "' (expected stdout or file:PATH)");
}

}  // namespace ktrail

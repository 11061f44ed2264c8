// Random tampering: no tampered trail may verify. 12,000 cases over small signed trails (one
// run; and two runs with rotation), each a random edit an attacker or an accident could make.
#include <gtest/gtest.h>

#include <random>

#include "integrity_helpers.h"

namespace ktrail {
namespace {

struct Base {
  std::string text;
  std::vector<std::string> lines;
  std::optional<uint64_t> first, last;  // verified range of the untouched trail
  // Line indexes where a trail may legitimately start (genesis, a rotation checkpoint, a
  // restart) or end (a shutdown checkpoint).
  std::set<size_t> starts, ends;
};

class IntegrityProperty : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    log::set_level(log::Level::Error);
    dir_ = new test::TempDir();
    keys_ = new test::Keys(test::make_keys(*dir_, "k"));
    attacker_ = new test::Keys(test::make_keys(*dir_, "a"));
    bases_ = new std::vector<Base>();
    auto make = [](const std::string &name, int runs, FileRotation rot, const HostInfo &host,
                   const test::Keys &k) {
      for (int i = 0; i < runs; i++) {
        test::AgentRun r;
        r.state = *dir_ / (name + ".state");
        r.key = k.key_path;
        r.outputs = {*dir_ / name};
        r.rotation = rot;
        r.checkpoint_records = 7;
        r.events = 22;
        r.event_base = static_cast<uint64_t>(i) * 100;
        r.host = host;
        r.scratch = dir_->path();
        test::run_agent(r);
      }
      // The rotated set, oldest first, as one text.
      std::vector<std::pair<uint64_t, std::string>> files;
      for (auto &e : std::filesystem::directory_iterator(dir_->path())) {
        std::string f = e.path().filename().string();
        if (f == name || f.rfind(name + ".", 0) == 0) {
          if (f.ends_with(".state") || f.ends_with(".lock")) continue;
          std::string t = test::read_file(e.path().string());
          files.emplace_back(test::seq_of(test::split_lines(t).front()), t);
        }
      }
      std::sort(files.begin(), files.end());
      Base b;
      for (auto &[s, t] : files) b.text += t;
      b.lines = test::split_lines(b.text);
      for (size_t i = 0; i < b.lines.size(); i++) {
        std::string a = test::action_of(b.lines[i]);
        if (i == 0 || a == "agent_start" || b.lines[i].find("\"reason\":\"rotation\"") != std::string::npos)
          b.starts.insert(i);
        if (b.lines[i].find("\"reason\":\"shutdown\"") != std::string::npos) b.ends.insert(i);
      }
      return b;
    };
    bases_->push_back(make("one.ndjson", 1, {}, HostInfo{"h1", "11111111111111111111111111111111"}, *keys_));
    bases_->push_back(make("two.ndjson", 2, FileRotation{6000, 100}, HostInfo{"h1", "11111111111111111111111111111111"}, *keys_));
    foreign_ = new Base(make("foreign.ndjson", 1, {}, HostInfo{"h2", "22222222222222222222222222222222"}, *attacker_));
    for (auto &b : *bases_) {
      VerifyReport r = test::verify_text(b.text, {keys_});
      ASSERT_EQ(r.result, VerifyReport::Ok) << test::describe(r);
      b.first = r.verified_first;
      b.last = r.verified_last;
    }
  }
  static void TearDownTestSuite() {
    delete bases_;
    delete foreign_;
    delete keys_;
    delete attacker_;
    delete dir_;
    log::set_level(log::Level::Info);
  }

  static test::TempDir *dir_;
  static test::Keys *keys_, *attacker_;
  static std::vector<Base> *bases_;
  static Base *foreign_;
};

test::TempDir *IntegrityProperty::dir_;
test::Keys *IntegrityProperty::keys_;
test::Keys *IntegrityProperty::attacker_;
std::vector<Base> *IntegrityProperty::bases_;
Base *IntegrityProperty::foreign_;

TEST_F(IntegrityProperty, RandomTamperingNeverPasses) {
  const uint32_t seed = 20261126;
  std::mt19937_64 rng(seed);
  auto pick = [&](size_t n) { return static_cast<size_t>(std::uniform_int_distribution<uint64_t>(0, n - 1)(rng)); };
  const int kCases = 12000;
  int tested = 0, false_passes = 0, segment_cuts = 0, noops = 0;
  std::map<std::string, int> kinds;
  std::string first_false_pass;

  for (int c = 0; c < kCases; c++) {
    const Base &b = (*bases_)[c % bases_->size()];
    std::vector<std::string> lines = b.lines;
    std::string text;
    const int op = static_cast<int>(pick(15));
    const size_t n = lines.size();
    auto as_text = [&] { text = test::join_lines(lines); };
    switch (op) {
      case 0: {  // flip one bit anywhere (newlines included)
        text = b.text;
        text[pick(text.size())] ^= static_cast<char>(1 << pick(8));
        break;
      }
      case 1: {  // overwrite one byte with a printable character
        text = b.text;
        text[pick(text.size())] = static_cast<char>(0x20 + pick(95));
        break;
      }
      case 2: {  // delete one byte
        text = b.text;
        text.erase(pick(text.size()), 1);
        break;
      }
      case 3: lines.erase(lines.begin() + static_cast<long>(pick(n))); as_text(); break;
      case 4: {  // duplicate a line somewhere
        std::string l = lines[pick(n)];
        lines.insert(lines.begin() + static_cast<long>(pick(n + 1)), l);
        as_text();
        break;
      }
      case 5: std::swap(lines[pick(n)], lines[pick(n)]); as_text(); break;
      case 6: {  // move a line
        size_t from = pick(n);
        std::string l = lines[from];
        lines.erase(lines.begin() + static_cast<long>(from));
        lines.insert(lines.begin() + static_cast<long>(pick(n)), l);
        as_text();
        break;
      }
      case 7: text = b.text.substr(0, pick(b.text.size())); break;  // cut anywhere
      case 8: {  // delete a run of lines
        size_t a = pick(n), len = 1 + pick(5);
        lines.erase(lines.begin() + static_cast<long>(a), lines.begin() + static_cast<long>(std::min(n, a + len)));
        as_text();
        break;
      }
      case 9: {  // a record from another host's trail
        const auto &f = foreign_->lines;
        lines.insert(lines.begin() + static_cast<long>(pick(n + 1)), f[pick(f.size())]);
        as_text();
        break;
      }
      case 10: {  // change a digit in a number
        size_t i = pick(n);
        std::string &l = lines[i];
        std::vector<size_t> digits;
        for (size_t k = 0; k < l.size(); k++)
          if (l[k] >= '0' && l[k] <= '9') digits.push_back(k);
        size_t k = digits[pick(digits.size())];
        l[k] = static_cast<char>('0' + (l[k] - '0' + 1 + pick(9)) % 10);
        as_text();
        break;
      }
      case 11: lines.erase(lines.begin(), lines.begin() + static_cast<long>(1 + pick(n - 1))); as_text(); break;
      case 12: {  // edit a record and rechain everything after it (no key)
        size_t i = pick(n);
        test::tweak(lines[i]);
        test::rechain(lines, i, pick(2) == 1);
        as_text();
        break;
      }
      case 13: {  // edit, rechain, re-sign every later checkpoint with another key
        size_t i = pick(n);
        test::tweak(lines[i]);
        test::rechain(lines, i, true, attacker_->key.get());
        as_text();
        break;
      }
      default: {  // line-ending and blank-line accidents
        size_t i = pick(n);
        if (pick(2)) lines[i] += "\r";
        else lines.insert(lines.begin() + static_cast<long>(i), "");
        as_text();
        break;
      }
    }
    if (text == b.text) {
      noops++;
      continue;
    }
    tested++;
    VerifyReport r = test::verify_text(text, {keys_});
    if (r.failure) kinds[damage_name(r.failure->kind)]++;
    if (r.result != VerifyReport::Ok) continue;
    // By design a trail may be cut at a segment boundary (start of the chain, a rotated file or
    // a run; end at a clean stop): the result is a valid shorter trail, and the verified range
    // it reports shows the cut. Anything else that passes is a false pass.
    auto got = test::split_lines(text);
    bool segment = false;
    for (size_t s : b.starts)
      if (s + got.size() <= b.lines.size() && b.ends.count(s + got.size() - 1) &&
          std::equal(got.begin(), got.end(), b.lines.begin() + static_cast<long>(s)) &&
          test::join_lines(got) == text)
        segment = true;
    if (segment && (r.verified_first != b.first || r.verified_last != b.last)) {
      segment_cuts++;
      continue;
    }
    if (false_passes++ == 0) first_false_pass = "case " + std::to_string(c) + " op " + std::to_string(op);
  }
  std::string summary;
  for (auto &[k, v] : kinds) summary += " " + k + "=" + std::to_string(v);
  RecordProperty("tested", tested);
  std::printf("seed %u: %d tampered trails, %d false passes, %d segment-aligned cuts (reported range shows it), "
              "%d no-op edits skipped;%s\n",
              seed, tested, false_passes, segment_cuts, noops, summary.c_str());
  EXPECT_GE(tested, 10000);
  EXPECT_EQ(false_passes, 0) << first_false_pass;
}

}  // namespace
}  // namespace ktrail

#include "agent.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#ifndef KTRAIL_BIN
#error "KTRAIL_BIN must name the ktrail binary"
#endif

namespace ktrail::test {
namespace {

std::string slurp(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Polls cond every 20 ms until it holds or the deadline passes; the last word is cond's.
bool wait_until(std::chrono::steady_clock::time_point deadline, const std::function<bool()> &cond) {
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return cond();
}

}  // namespace

std::vector<nlohmann::json> read_ndjson(const std::string &path, bool complete) {
  std::string text = slurp(path);
  if (!complete) text.erase(text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1);
  else if (!text.empty() && text.back() != '\n')
    ADD_FAILURE() << path << ": the last record is not terminated";
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  size_t n = 0;
  for (std::string line; std::getline(in, line);) {
    ++n;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object())
      ADD_FAILURE() << path << ":" << n << " is not one JSON record: " << line;
    else
      out.push_back(std::move(j));
  }
  return out;
}

std::vector<nlohmann::json> select(const std::vector<nlohmann::json> &records,
                                   const std::function<bool(const nlohmann::json &)> &pred) {
  std::vector<nlohmann::json> out;
  for (const auto &r : records)
    if (pred(r)) out.push_back(r);
  return out;
}

Agent::~Agent() {
  if (pid_ > 0) stop();
  if (dir_.empty()) return;
  if (::testing::Test::HasFailure()) {
    std::printf("ktrail agent output kept in %s\n", dir_.c_str());
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

bool Agent::start(const std::vector<std::string> &extra, std::chrono::milliseconds timeout) {
  char tmpl[] = "/tmp/ktrail-agent-XXXXXX";
  if (!mkdtemp(tmpl)) {
    ADD_FAILURE() << "mkdtemp: " << strerror(errno);
    return false;
  }
  dir_ = tmpl;
  out_ = dir_ + "/events.ndjson";
  err_ = dir_ + "/ktrail.err";
  std::vector<std::string> argv = {KTRAIL_BIN, "run", "--format", "json", "--chain-state", "none",
                                   "-o", "file:" + out_};
  argv.insert(argv.end(), extra.begin(), extra.end());
  std::vector<char *> av;
  for (auto &a : argv) av.push_back(a.data());
  av.push_back(nullptr);
  pid_ = fork();
  if (pid_ < 0) {
    ADD_FAILURE() << "fork: " << strerror(errno);
    return false;
  }
  if (pid_ == 0) {
    int err = open(err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (err < 0 || null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(err, 2) < 0) _exit(126);
    execv(av[0], av.data());
    _exit(127);
  }
  bool exited = false;
  bool ready = wait_until(std::chrono::steady_clock::now() + timeout, [&] {
    if (err().find("tracing via") != std::string::npos) return true;
    exited = waitpid(pid_, nullptr, WNOHANG) == pid_;
    return exited;
  });
  if (exited) pid_ = -1;
  return ready && !exited;
}

int Agent::stop(int sig) {
  if (pid_ <= 0) return -1;
  kill(pid_, sig);
  int st = 0;
  bool done = wait_until(std::chrono::steady_clock::now() + std::chrono::seconds(30),
                         [&] { return waitpid(pid_, &st, WNOHANG) == pid_; });
  if (!done) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  pid_ = -1;
  return done && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

std::vector<nlohmann::json> Agent::stop_and_read() {
  EXPECT_EQ(stop(), 0) << err();
  return read_ndjson(out_);
}

std::string Agent::err() const { return slurp(err_); }

}  // namespace ktrail::test

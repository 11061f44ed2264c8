// A real rsyslog for delivery tests: each test starts its own instance with its own config,
// certificates and a free loopback port, reads what it wrote (omfile, the message only), and
// stops it. Also the small utilities those tests share.
#pragma once
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>

namespace ktrail::test {

using namespace std::chrono_literals;

inline uint16_t free_port(int type) {
  int fd = socket(AF_INET, type, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

inline bool tcp_listening(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof(a)) == 0;
  close(fd);
  return ok;
}

inline int sh(const std::string &cmd) { return system(cmd.c_str()); }

inline std::string slurp(const std::string &path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Every `"sequence":N` in a file of test records (records made by the test itself, which carry
// no other field of that name).
inline std::set<uint64_t> sequences_in(const std::string &path) {
  std::set<uint64_t> out;
  std::string s = slurp(path);
  static const std::regex re("\"sequence\":([0-9]+)");
  for (auto it = std::sregex_iterator(s.begin(), s.end(), re); it != std::sregex_iterator(); ++it)
    out.insert(std::stoull((*it)[1]));
  return out;
}

// CA, a server certificate for localhost/127.0.0.1, a client certificate, and an unrelated CA.
inline void make_certs(const std::string &d) {
  std::string q = " >/dev/null 2>&1";
  ASSERT_EQ(sh("cd " + d + " && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=ktrail-test-ca" + q), 0);
  ASSERT_EQ(sh("cd " + d + " && openssl req -x509 -newkey rsa:2048 -nodes -keyout wrong-ca.key -out wrong-ca.pem -days 2 -subj /CN=other-ca" + q), 0);
  for (std::string n : {"server", "client"}) {
    ASSERT_EQ(sh("cd " + d + " && openssl req -newkey rsa:2048 -nodes -keyout " + n + ".key -out " + n +
                 ".csr -subj /CN=localhost" + q), 0);
    ASSERT_EQ(sh("cd " + d + " && printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > " + n +
                 ".ext && openssl x509 -req -in " + n + ".csr -CA ca.pem -CAkey ca.key -CAcreateserial -out " +
                 n + ".pem -days 2 -extfile " + n + ".ext" + q), 0);
  }
}

class Rsyslog {
 public:
  Rsyslog(std::string dir, std::string inputs) : dir_(std::move(dir)), inputs_(std::move(inputs)) {}
  ~Rsyslog() { stop(); }
  std::string out() const { return dir_ + "/out.log"; }
  void start(uint16_t wait_tcp_port = 0) {
    sh("mkdir -p " + dir_ + "/work");
    std::ofstream(dir_ + "/rsyslog.conf")
        << "global(workDirectory=\"" << dir_ << "/work\" " << global_ << ")\n"
        << inputs_ << "\n"
        << "template(name=\"msgonly\" type=\"string\" string=\"%msg%\\n\")\n"
        << "action(type=\"omfile\" file=\"" << out() << "\" template=\"msgonly\")\n";
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);  // a crashed test must not leave a collector behind
      freopen((dir_ + "/rsyslogd.stderr").c_str(), "a", stderr);
      freopen((dir_ + "/rsyslogd.stderr").c_str(), "a", stdout);
      execlp("rsyslogd", "rsyslogd", "-n", "-f", (dir_ + "/rsyslog.conf").c_str(), "-i",
             (dir_ + "/rsyslogd.pid").c_str(), nullptr);
      _exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + 10s;
    if (wait_tcp_port)
      while (!tcp_listening(wait_tcp_port) && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(50ms);
    else
      std::this_thread::sleep_for(1s);  // UDP: nothing to probe
  }
  void stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGCONT);  // a paused collector cannot act on SIGTERM
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  // A collector that stops reading (its TCP window fills) without closing anything.
  void pause() { kill(pid_, SIGSTOP); }
  void resume() { kill(pid_, SIGCONT); }
  std::string global_;

 private:
  std::string dir_, inputs_;
  pid_t pid_ = -1;
};

inline bool have_rsyslog() { return sh("command -v rsyslogd >/dev/null 2>&1") == 0; }

inline std::string imtcp_input(uint16_t port) {
  return "module(load=\"imtcp\")\ninput(type=\"imtcp\" address=\"127.0.0.1\" port=\"" + std::to_string(port) +
         "\")";
}

}  // namespace ktrail::test

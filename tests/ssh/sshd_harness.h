// A real sshd for tests: its own config, host key, loopback port and log file (-E), or
// syslog(3) to a private /dev/log. Shared by tests/ssh and tests/rules.
#pragma once
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace ktrail::test {

using namespace std::chrono_literals;

struct Cmd {
  int rc;
  std::string out;
};

inline Cmd sh(const std::string &cmd) {
  Cmd r{-1, ""};
  FILE *p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  int st = pclose(p);
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

inline std::string read_file(const std::string &path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline bool wait_for(const std::function<bool()> &cond, std::chrono::milliseconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return cond();
}

inline uint16_t free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

inline pid_t spawn(const std::vector<std::string> &argv, const std::string &out_path) {
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 1);
    dup2(fd, 2);
    int null = open("/dev/null", O_RDONLY);
    dup2(null, 0);
    std::vector<char *> av;
    for (const auto &a : argv) av.push_back(const_cast<char *>(a.c_str()));
    av.push_back(nullptr);
    execv(av[0], av.data());
    _exit(127);
  }
  return pid;
}

// One sshd with its own config, host key and log file.
struct Sshd {
  std::string dir, log, conf;
  uint16_t port = 0;
  pid_t pid = -1;

  // syslog: no -E; sshd logs with syslog(3) to /dev/log, a datagram socket that exists only
  // in a private mount namespace (the host's /dev is left alone), received into syslog_file.
  bool syslog = false;
  std::string syslog_file;

  bool start(const std::string &base, const std::string &loglevel) {
    dir = base;
    port = free_port();
    log = dir + "/sshd.log";
    conf = dir + "/sshd_config";
    if (sh("ssh-keygen -q -t ed25519 -N '' -f " + dir + "/host_key").rc != 0) return false;
    std::ofstream c(conf);
    c << "Port " << port << "\nListenAddress 127.0.0.1\nHostKey " << dir << "/host_key\n"
      << "UsePAM yes\nPasswordAuthentication yes\nKbdInteractiveAuthentication no\n"
      << "PubkeyAuthentication yes\nAuthorizedKeysFile .ssh/authorized_keys\n"
      << "PidFile " << dir << "/sshd.pid\nLogLevel " << loglevel << "\n";
    c.close();
    mkdir("/run/sshd", 0755);
    if (!syslog) {
      pid = spawn({"/usr/sbin/sshd", "-D", "-f", conf, "-E", log}, dir + "/sshd.out");
      return wait_for([&] { return read_file(log).find("Server listening") != std::string::npos; }, 10s);
    }
    syslog_file = log;
    std::ofstream ns(dir + "/ns.sh");
    ns << "set -e\nmkdir -p " << dir << "/olddev\nmount --rbind /dev " << dir << "/olddev\n"
       << "mount -t tmpfs none /dev\n"
       << "for n in null zero urandom random tty ptmx; do touch /dev/$n; mount --bind " << dir
       << "/olddev/$n /dev/$n; done\nmkdir /dev/pts\nmount --bind " << dir << "/olddev/pts /dev/pts\n"
       << "python3 -c 'import socket\ns=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\ns.bind(\"/dev/log\")\n"
       << "f=open(\"" << log << "\", \"ab\", 0)\nwhile True: f.write(s.recv(4096) + b\"\\n\")' &\n"
       << "echo $! > " << dir << "/receiver.pid\n"
       << "while [ ! -S /dev/log ]; do sleep 0.05; done\n"
       << "exec /usr/sbin/sshd -D -f " << conf << "\n";
    ns.close();
    pid = spawn({"/usr/bin/unshare", "-m", "--propagation", "private", "/bin/bash", dir + "/ns.sh"}, dir + "/sshd.out");
    return wait_for([&] { return read_file(log).find("Server listening") != std::string::npos; }, 10s);
  }
  void stop() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
      pid = -1;
    }
    if (syslog) {
      std::string rx = read_file(dir + "/receiver.pid");
      if (!rx.empty()) kill(std::stoi(rx), SIGTERM);
    }
  }
  // Client ports sshd logged for `pattern` lines ("Accepted publickey for U"), in order.
  std::vector<int> logged_ports(const std::string &pattern) const {
    std::vector<int> out;
    std::istringstream in(read_file(log));
    std::string line;
    std::regex port_re(R"(127\.0\.0\.1 port (\d+))");
    while (std::getline(in, line)) {
      std::smatch m;
      if (line.find(pattern) != std::string::npos && std::regex_search(line, m, port_re))
        out.push_back(std::stoi(m[1]));
    }
    return out;
  }
};

inline std::string ssh_opts(uint16_t port) {
  // IdentitiesOnly: the keys of whoever runs the tests must not add attempts.
  return "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR "
         "-o ConnectTimeout=10 -o IdentitiesOnly=yes -p " + std::to_string(port);
}

// One prompt: with more, sshpass now and then answers ssh's second prompt with an empty line,
// a real second attempt that sshd logs ("Failed password", no PAM call for an empty password)
// and ktrail rightly reports, so a test counting one failure per client would flake.
inline std::string password_opts(uint16_t port) {
  return ssh_opts(port) + " -o PubkeyAuthentication=no -o PreferredAuthentications=password"
                          " -o NumberOfPasswordPrompts=1";
}

}  // namespace ktrail::test

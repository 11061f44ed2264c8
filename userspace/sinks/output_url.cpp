#include "sinks/output_url.h"

namespace ktrail {

bool split_authority(const std::string &scheme, const std::string &authority, std::string &host,
                     std::string &port, std::string &err) {
  host = authority;
  port.clear();
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string::npos) {
      err = scheme + " output: unterminated '[' in the host";
      return false;
    }
    host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') {
        err = scheme + " output: expected ':PORT' after ']'";
        return false;
      }
      port = authority.substr(close + 2);
    }
  } else if (size_t c = authority.rfind(':'); c != std::string::npos) {
    host = authority.substr(0, c);
    port = authority.substr(c + 1);
  }
  return true;
}

bool valid_port(const std::string &s, uint16_t &port) {
  if (s.empty() || s.size() > 5 || s.find_first_not_of("0123456789") != std::string::npos) return false;
  unsigned long v = std::stoul(s);
  if (v == 0 || v > 65535) return false;
  port = static_cast<uint16_t>(v);
  return true;
}

}  // namespace ktrail

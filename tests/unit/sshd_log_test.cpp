// The sshd log parser: every message shape OpenSSH 9.x writes for an authentication outcome.
#include <gtest/gtest.h>

#include "enrich/sshd_log.h"

namespace ktrail {
namespace {

using Kind = SshdLogMsg::Kind;

SshdLogMsg parse(const std::string &line) {
  auto m = parse_sshd_log_message(line);
  EXPECT_TRUE(m.has_value()) << line;
  return m.value_or(SshdLogMsg{});
}

TEST(SshdLog, AcceptedPublickeyWithKey) {
  SshdLogMsg m = parse("Accepted publickey for alice from 127.0.0.1 port 48374 ssh2: ED25519 "
                       "SHA256:BMQtCgPWm6IhaEi+cM36doy8j8ASFPUiO/BPSOPVlyA\r\n");
  EXPECT_EQ(m.kind, Kind::Accepted);
  EXPECT_EQ(m.method, "publickey");
  EXPECT_EQ(m.user, "alice");
  EXPECT_FALSE(m.invalid_user);
  EXPECT_EQ(m.ip, "127.0.0.1");
  EXPECT_EQ(m.port, 48374);
  EXPECT_EQ(m.key_type, "ED25519");
  EXPECT_EQ(m.fingerprint, "SHA256:BMQtCgPWm6IhaEi+cM36doy8j8ASFPUiO/BPSOPVlyA");
  EXPECT_EQ(m.message, "Accepted publickey for alice from 127.0.0.1 port 48374 ssh2: ED25519 "
                       "SHA256:BMQtCgPWm6IhaEi+cM36doy8j8ASFPUiO/BPSOPVlyA");
}

TEST(SshdLog, AcceptedCertificateKeepsTheUserKey) {
  SshdLogMsg m = parse("Accepted publickey for bob from 10.1.2.3 port 22 ssh2: ED25519-CERT SHA256:abc "
                       "ID alice ssh2 (serial 7) CA ED25519 SHA256:def");
  EXPECT_EQ(m.key_type, "ED25519-CERT");
  EXPECT_EQ(m.fingerprint, "SHA256:abc");
  EXPECT_EQ(m.port, 22);
}

TEST(SshdLog, PasswordOutcomes) {
  SshdLogMsg ok = parse("Accepted password for alice from 127.0.0.1 port 1 ssh2");
  EXPECT_EQ(ok.kind, Kind::Accepted);
  EXPECT_EQ(ok.method, "password");
  EXPECT_TRUE(ok.key_type.empty());
  SshdLogMsg bad = parse("Failed password for alice from 127.0.0.1 port 2 ssh2");
  EXPECT_EQ(bad.kind, Kind::Failed);
  EXPECT_FALSE(bad.invalid_user);
  SshdLogMsg inv = parse("Failed password for invalid user mallory from 192.0.2.9 port 65535 ssh2");
  EXPECT_EQ(inv.kind, Kind::Failed);
  EXPECT_TRUE(inv.invalid_user);
  EXPECT_EQ(inv.user, "mallory");
  EXPECT_EQ(inv.ip, "192.0.2.9");
  EXPECT_EQ(inv.port, 65535);
  SshdLogMsg kbd = parse("Failed keyboard-interactive/pam for alice from 127.0.0.1 port 3 ssh2");
  EXPECT_EQ(kbd.method, "keyboard-interactive/pam");
  SshdLogMsg part = parse("Partial publickey for alice from 127.0.0.1 port 4 ssh2: RSA SHA256:x");
  EXPECT_EQ(part.kind, Kind::Partial);
}

TEST(SshdLog, InvalidUserAndNamesWithSpaces) {
  SshdLogMsg m = parse("Invalid user admin from 203.0.113.4 port 4242");
  EXPECT_EQ(m.kind, Kind::InvalidUser);
  EXPECT_TRUE(m.invalid_user);
  EXPECT_EQ(m.user, "admin");
  EXPECT_EQ(m.ip, "203.0.113.4");
  EXPECT_EQ(m.port, 4242);
  // Typed names are arbitrary bytes: anchor on the right.
  SshdLogMsg s = parse("Invalid user a b from c from 1.2.3.4 port 5");
  EXPECT_EQ(s.user, "a b from c");
  SshdLogMsg f = parse("Failed password for invalid user x port 9 ssh2 from 1.2.3.4 port 5 ssh2");
  EXPECT_EQ(f.user, "x port 9 ssh2");
  EXPECT_EQ(f.port, 5);
}

TEST(SshdLog, IPv6Source) {
  SshdLogMsg m = parse("Failed password for alice from 2001:db8::1 port 50000 ssh2");
  EXPECT_EQ(m.ip, "2001:db8::1");
  EXPECT_EQ(m.port, 50000);
}

TEST(SshdLog, PreauthEndings) {
  SshdLogMsg c = parse("Connection closed by authenticating user alice 127.0.0.1 port 48418 [preauth]");
  EXPECT_EQ(c.kind, Kind::ClosedPreauth);
  EXPECT_EQ(c.user, "alice");
  EXPECT_FALSE(c.invalid_user);
  EXPECT_EQ(c.port, 48418);
  SshdLogMsg i = parse("Connection closed by invalid user nosuch 127.0.0.1 port 48404 [preauth]");
  EXPECT_TRUE(i.invalid_user);
  EXPECT_EQ(i.user, "nosuch");
  SshdLogMsg d = parse("Disconnected from authenticating user alice 10.0.0.1 port 7 [preauth]");
  EXPECT_EQ(d.kind, Kind::ClosedPreauth);
  EXPECT_EQ(d.ip, "10.0.0.1");
  SshdLogMsg t = parse("Disconnecting authenticating user alice 10.0.0.1 port 8: Too many authentication "
                       "failures [preauth]");
  EXPECT_EQ(t.kind, Kind::ClosedPreauth);
  EXPECT_EQ(t.user, "alice");
  EXPECT_EQ(t.port, 8);
}

TEST(SshdLog, SyslogHeaderIsStripped) {
  SshdLogMsg m = parse("<38>Nov 26 16:53:49 sshd[10048]: Accepted password for alice from 127.0.0.1 port 1 ssh2");
  EXPECT_EQ(m.user, "alice");
  EXPECT_EQ(m.message, "Accepted password for alice from 127.0.0.1 port 1 ssh2");
  EXPECT_EQ(strip_syslog_header("no header"), "no header");
}

TEST(SshdLog, OtherLinesAreIgnored) {
  for (const char *l : {"Server listening on 127.0.0.1 port 22.", "Received disconnect from 1.2.3.4 port 5:11: bye",
                        "Disconnected from user alice 127.0.0.1 port 48364", "Accepted", "Failed password for",
                        "Failed password for alice from 1.2.3.4 port notaport ssh2", "\x01\x02 binary", ""})
    EXPECT_FALSE(parse_sshd_log_message(l).has_value()) << l;
}

TEST(SshdLog, OneWriteSeveralLines) {
  auto v = parse_sshd_log_write("Invalid user x from 1.2.3.4 port 5\nnoise\r\n"
                                "Failed password for invalid user x from 1.2.3.4 port 5 ssh2\n");
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].kind, Kind::InvalidUser);
  EXPECT_EQ(v[1].kind, Kind::Failed);
}

}  // namespace
}  // namespace ktrail

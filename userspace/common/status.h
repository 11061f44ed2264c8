// Exit codes and the error type that crosses module edges.
#pragma once
#include <string>
#include <utility>

namespace ktrail {

// Documented in README "Exit codes"; scripts depend on them.
enum ExitCode : int {
  KTRAIL_EXIT_OK = 0,
  KTRAIL_EXIT_RUNTIME = 1,     // unexpected runtime failure
  KTRAIL_EXIT_USAGE = 2,       // bad command line or configuration
  KTRAIL_EXIT_PRIVILEGE = 3,   // missing root / capabilities
  KTRAIL_EXIT_NO_BTF = 4,      // no kernel BTF
  KTRAIL_EXIT_LOCKDOWN = 5,    // kernel lockdown blocks the programs
  KTRAIL_EXIT_NO_HOOKS = 6,    // no hook could be attached
  KTRAIL_EXIT_OUTPUT = 7,      // an output cannot be opened
  // `ktrail verify`
  KTRAIL_EXIT_TRAIL_DAMAGED = 10,          // modified, deleted, inserted, reordered, truncated
  KTRAIL_EXIT_TRAIL_SIGNATURE = 11,        // bad signature, unknown key, unsigned checkpoint
  KTRAIL_EXIT_TRAIL_UNAUTHENTICATED = 12,  // intact, but signatures unsigned or not checked
};

struct Status {
  int code = KTRAIL_EXIT_OK;
  std::string message;

  static Status ok() { return {}; }
  static Status error(int code, std::string msg) { return {code, std::move(msg)}; }
  explicit operator bool() const { return code == KTRAIL_EXIT_OK; }
};

}  // namespace ktrail

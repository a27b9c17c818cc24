// The client side of a handover: find a ready standby in a pool directory, claim it so that no
// other client gets it, and make sure it is what it claims to be before anything is sent to it.
//
// Pool directory entries (see pool.h for the rest):
//   s-<16 hex: monotonic ns when ready>-<pid>   a fresh standby's listening socket (never used)
//   a-<16 hex: monotonic ns when ready>-<pid>   an action server's: a standby that served
//                                                actions and waits for the next one (JIT-warm)
//   c-<pid>-<claimer pid>                        either, renamed by the client claiming it
//
// Claiming is a rename: exactly one of several racing clients wins a given socket; the others
// move on to the next one or to the cold path. Fresh standbys are tried oldest first, action
// servers newest first (the one used last is the warmest, and the others idle out).
#pragma once
#include <sys/types.h>

#include <string>

namespace warm {

// A file's identity. statx: glibc's stat() is a GLIBC_2.33 symbol; the addon's floor is 2.28.
struct FileId {
  unsigned long long dev = 0;
  unsigned long long ino = 0;
};
bool IdOf(const char* path, FileId* id);

struct Standby {
  int fd = -1;          // the connection, HELLO already read and checked
  pid_t pid = 0;        // verified with SO_PEERCRED
  int pidfd = -1;       // for killing it without a pid-reuse race (-1 without pidfd_open)
  bool server = false;  // an action server (a-...), not a fresh standby
};

// Which entries a claim may take, in order: kActionFirst (actions: an action server, else a
// fresh standby) or kFreshOnly (the daemon role: a fresh process, nothing left of earlier work).
constexpr const char* kActionFirst = "as";
constexpr const char* kFreshOnly = "s";

// Claims and verifies one standby of `pool` of the `kinds` above (the peer runs as our uid, is
// the pid its socket name announces, runs `node` (same file as `node`), was booted as a standby
// of this pool, and says HELLO ready for this pool within `hello_timeout_ms`). Returns false when none is
// available; `why` says what was tried, for the trace.
bool Claim(const std::string& pool, const FileId& node, int hello_timeout_ms, const char* kinds,
           Standby* out, std::string* why);

// Closes the connection (the standby sees EOF and exits if it got no request).
void Release(Standby* s);

// SIGKILLs a standby that took a request and did not answer in time, then releases it.
void Kill(Standby* s);

// Names in a pool directory.
bool ParseReadyName(const char* name, unsigned long long* ready_ns, pid_t* pid);  // s-...
bool ParseServerName(const char* name, unsigned long long* ready_ns, pid_t* pid);  // a-...
bool ParseClaimedName(const char* name, pid_t* pid, pid_t* claimer);

// Whether a process exists (kill 0; EPERM counts as existing) and is not a zombie.
bool ProcessExists(pid_t pid);

}  // namespace warm

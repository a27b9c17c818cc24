// The warm-start control protocol. A standby is a booted Node process of one shim build waiting
// on its own unix socket in the pool directory; a client (the launcher for `start`/`delete`, or a
// shim process handing its daemon role over) claims it and hands it one piece of work:
//
//   standby -> client   HELLO    magic, version, status (ready | stale), pid, pool directory
//   client  -> standby  REQUEST  magic, version, kind (action | daemon), payload length, fd count,
//                                the fds (SCM_RIGHTS), then the payload: cwd, args[], env[]
//   standby -> client   RESULT   magic, status: an action's exit status; 0 when a daemon took
//                                over; kDeclined when it did nothing (the client goes cold);
//                                final: nothing more will be written (sent once the exit
//                                handlers ran; a non-final status leaves the client to wait
//                                for the connection to close, i.e. the standby's exit)
//
// Plain C++ over syscalls (no N-API): compiled into the launcher and into the addon.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace warm {

constexpr uint16_t kVersion = 1;
constexpr uint32_t kHelloMagic = 0x48575343;    // "CSWH"
constexpr uint32_t kRequestMagic = 0x52575343;  // "CSWR"
constexpr uint32_t kResultMagic = 0x41575343;   // "CSWA"
constexpr size_t kMaxPayload = 8u << 20;        // argv + environment; ARG_MAX is far below
constexpr size_t kMaxStrings = 1u << 16;
constexpr int kMaxFds = 4;

enum Kind : uint16_t { kAction = 1, kDaemon = 2 };
enum HelloStatus : uint16_t { kReady = 0, kStale = 1 };
// RESULT status of a standby that did nothing with the request.
constexpr int32_t kDeclined = -1;

// The environment variable that marks a standby (value: its pool directory). A client reads it
// from /proc/<pid>/environ before trusting a peer.
constexpr const char* kStandbyEnv = "__CONTAINERD_SHIM_STANDBY";
// Set by the launcher for the Node process it runs (cold or warm): the pool directory, so the
// shim's `start` can hand its daemon role to a standby.
constexpr const char* kPoolEnv = "__CONTAINERD_SHIM_POOL";

struct Request {
  uint16_t kind = 0;
  std::string cwd;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::vector<int> fds;  // received close-on-exec; the receiver owns them
};

// Writes everything; waits (poll) on a non-blocking fd. False with errno set on failure.
bool WriteAll(int fd, const void* data, size_t len);

// Reads exactly `len` bytes, waiting at most `timeout_ms` in total (< 0: forever). Descriptors
// that arrive with the bytes are appended to `fds` (closed when `fds` is null). False with errno
// set (ECONNRESET on EOF, ETIMEDOUT on timeout) otherwise.
bool ReadExact(int fd, void* data, size_t len, int timeout_ms, std::vector<int>* fds = nullptr);

bool SendHello(int fd, uint16_t status, const std::string& pool);
bool RecvHello(int fd, int timeout_ms, uint16_t* status, uint32_t* pid, std::string* pool);

bool SendRequest(int fd, uint16_t kind, const std::string& cwd,
                 const std::vector<std::string>& args, const std::vector<std::string>& env,
                 const int* fds, int nfds);
// False on EOF, timeout, malformed input (errno EPROTO) or too much (EMSGSIZE); no fd leaks.
bool RecvRequest(int fd, int timeout_ms, Request* out);

bool SendResult(int fd, int32_t status, bool final);
// 1: `status` (and `final`) read; 0: EOF or error; -1: timed out.
int RecvResult(int fd, int timeout_ms, int32_t* status, bool* final = nullptr);

// Waits until the peer closes the connection (bytes after RESULT are discarded).
void WaitClosed(int fd);

// Monotonic milliseconds.
int64_t NowMs();

}  // namespace warm

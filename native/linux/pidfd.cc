// Waiting for one child without a reaper: a pidfd (Linux 5.3) becomes readable when its process
// exits, so libuv can poll it (FdWatcher) and the exit is then collected for that child alone.
// A waitpid(-1) would also take child_process's exits (libuv reaps its children by pid), and a
// SIGCHLD handler would race libuv's own. Used by lib/runc/launch.ts where the reaper is not
// running (the action server's `delete`).
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "../errors.h"
#include "linux.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace shim {

namespace {

// pidfdOpen(pid): a close-on-exec pidfd (pidfd_open always sets O_CLOEXEC); ENOSYS before 5.3.
Napi::Value PidfdOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) throw ArgError(env, "pidfdOpen(pid)");
  int pid = info[0].As<Napi::Number>().Int32Value();
  if (pid <= 0) throw ArgError(env, "pidfdOpen: pid must be positive");
  long fd = ::syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0) throw ErrnoError(env, errno, "pidfd_open");
  return Napi::Number::New(env, static_cast<double>(fd));
}

// pidfdReap(pidfd, pid): [exitStatus, signal] once the child has exited (signal 0 when it exited,
// else exitStatus is 128 + signal, as the reaper reports), null while it runs. waitid(P_PIDFD) is
// 5.4; on 5.3, or with pidfd -1 (none could be opened), P_PID on the pid is as safe: an unreaped
// child's pid cannot be reused.
Napi::Value PidfdReap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) throw ArgError(env, "pidfdReap(pidfd, pid)");
  int pidfd = info[0].As<Napi::Number>().Int32Value();
  int pid = info[1].As<Napi::Number>().Int32Value();
  if (pid <= 0) throw ArgError(env, "pidfdReap: pid must be positive");
  siginfo_t done{};
  int rc = -1;
  errno = EINVAL;
  while (pidfd >= 0) {
    rc = ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &done, WEXITED | WNOHANG);
    if (rc == 0 || errno != EINTR) break;
  }
  if (rc != 0 && errno == EINVAL) {
    do {
      rc = ::waitid(P_PID, static_cast<id_t>(pid), &done, WEXITED | WNOHANG);
    } while (rc != 0 && errno == EINTR);
  }
  if (rc != 0) throw ErrnoError(env, errno, "waitid");
  if (done.si_pid == 0) return env.Null();
  bool exited = done.si_code == CLD_EXITED;
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, exited ? done.si_status : 128 + done.si_status));
  out.Set(1u, Napi::Number::New(env, exited ? 0 : done.si_status));
  return out;
}

}  // namespace

Napi::Object InitPidfd(Napi::Env env, Napi::Object exports) {
  exports.Set("pidfdOpen", Napi::Function::New(env, PidfdOpen, "pidfdOpen"));
  exports.Set("pidfdReap", Napi::Function::New(env, PidfdReap, "pidfdReap"));
  return exports;
}

}  // namespace shim

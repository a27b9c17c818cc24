// Process primitives for shims: becoming a child subreaper, and spawning a process with an exact
// fd layout (stdio plus extra fds such as the listening socket on fd 3) in a new session.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "../errors.h"
#include "linux.h"

extern char** environ;

namespace shim {

namespace {

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

// setSubreaper(on): prctl(PR_SET_CHILD_SUBREAPER); orphaned descendants are reparented to us.
Napi::Value SetSubreaper(const Napi::CallbackInfo& info) {
  unsigned long on = info.Length() == 0 || info[0].ToBoolean().Value() ? 1 : 0;
  if (::prctl(PR_SET_CHILD_SUBREAPER, on, 0, 0, 0) != 0) throw ErrnoError(info.Env(), errno, "prctl");
  return info.Env().Undefined();
}

Napi::Value IsSubreaper(const Napi::CallbackInfo& info) {
  int value = 0;
  if (::prctl(PR_GET_CHILD_SUBREAPER, &value, 0, 0, 0) != 0) throw ErrnoError(info.Env(), errno, "prctl");
  return Napi::Boolean::New(info.Env(), value != 0);
}

std::vector<std::string> StringArray(Napi::Env env, Napi::Value value, const char* what) {
  std::vector<std::string> out;
  if (value.IsUndefined() || value.IsNull()) return out;
  if (!value.IsArray()) throw ArgError(env, std::string(what) + " must be an array of strings");
  Napi::Array array = value.As<Napi::Array>();
  for (uint32_t i = 0; i < array.Length(); i++) {
    Napi::Value item = array.Get(i);
    if (!item.IsString()) throw ArgError(env, std::string(what) + " must be an array of strings");
    out.push_back(item.As<Napi::String>().Utf8Value());
  }
  return out;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(&s[0]);
  out.push_back(nullptr);
  return out;
}

struct ChildFailure {
  int err;
  int stage;
};

enum Stage { kSetsid = 1, kSetpgid, kDup, kOpen, kChdir, kExec };

const char* StageName(int stage) {
  switch (stage) {
    case kSetsid: return "setsid";
    case kSetpgid: return "setpgid";
    case kDup: return "dup2";
    case kOpen: return "open";
    case kChdir: return "chdir";
    default: return "execve";
  }
}

[[noreturn]] void Fail(int fd, int stage) {
  ChildFailure f{errno, stage};
  ssize_t ignored = ::write(fd, &f, sizeof(f));
  (void)ignored;
  ::_exit(127);
}

// Runs in the forked child: async-signal-safe calls only.
[[noreturn]] void Child(const char* file, char** argv, char** envp, const char* cwd,
                        const std::vector<int>& fds, bool setsid, bool setpgid, int report) {
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dfl, nullptr);
  }
  if (setsid && ::setsid() < 0) Fail(report, kSetsid);
  if (!setsid && setpgid && ::setpgid(0, 0) != 0) Fail(report, kSetpgid);
  int n = static_cast<int>(fds.size());
  // Move the report pipe and every source above the target range so no dup2 clobbers a source.
  if (report < n) {
    int moved = ::fcntl(report, F_DUPFD_CLOEXEC, n);
    if (moved < 0) ::_exit(127);
    report = moved;
  }
  int temp[64];
  for (int i = 0; i < n; i++) {
    int src = fds[i];
    if (src < 0) {
      src = ::open("/dev/null", O_RDWR | O_CLOEXEC);
      if (src < 0) Fail(report, kOpen);
    }
    temp[i] = ::fcntl(src, F_DUPFD_CLOEXEC, n);
    if (temp[i] < 0) Fail(report, kDup);
  }
  for (int i = 0; i < n; i++) {
    if (::dup2(temp[i], i) < 0) Fail(report, kDup);
  }
  // Everything above the layout is closed at exec; fall back to a loop on old kernels.
  if (::syscall(SYS_close_range, static_cast<unsigned>(n), ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    long max = ::sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536) max = 65536;
    for (int fd = n; fd < max; fd++) {
      if (fd != report) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
  }
  if (cwd != nullptr && ::chdir(cwd) != 0) Fail(report, kChdir);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execve(file, argv, envp);
  Fail(report, kExec);
}

// spawn(file, args, env | null, cwd | null, fds, setsid, setpgid): pid.
// fds[i] is the parent fd that becomes fd i in the child, or -1 for /dev/null. `file` must be a
// path (no PATH search). The child's signal handlers and mask are reset to defaults.
Napi::Value Spawn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 7 || !info[0].IsString())
    throw ArgError(env, "spawn(file, args, env, cwd, fds, setsid, setpgid)");
  std::string file = info[0].As<Napi::String>().Utf8Value();
  std::vector<std::string> args = StringArray(env, info[1], "args");
  if (args.empty()) args.push_back(file);
  bool inherit_env = info[2].IsUndefined() || info[2].IsNull();
  std::vector<std::string> envs = StringArray(env, info[2], "env");
  std::string cwd = info[3].IsString() ? info[3].As<Napi::String>().Utf8Value() : "";
  std::vector<int> fds;
  if (info[4].IsArray()) {
    Napi::Array array = info[4].As<Napi::Array>();
    for (uint32_t i = 0; i < array.Length(); i++) fds.push_back(array.Get(i).As<Napi::Number>().Int32Value());
  }
  if (fds.size() > 64) throw ArgError(env, "at most 64 fds can be passed");
  bool setsid = info[5].ToBoolean().Value();
  bool setpgid = info[6].ToBoolean().Value();

  std::vector<char*> argv = Pointers(args);
  std::vector<char*> envp = Pointers(envs);
  char** child_env = inherit_env ? environ : envp.data();

  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) throw ErrnoError(env, errno, "pipe2");
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(report[0]);
    Child(file.c_str(), argv.data(), child_env, cwd.empty() ? nullptr : cwd.c_str(), fds, setsid, setpgid,
          report[1]);
  }
  int fork_err = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ::close(report[1]);
  if (pid < 0) {
    ::close(report[0]);
    throw ErrnoError(env, fork_err, "fork");
  }
  ChildFailure failure{0, 0};
  ssize_t n;
  do {
    n = ::read(report[0], &failure, sizeof(failure));
  } while (n < 0 && errno == EINTR);
  ::close(report[0]);
  if (n == static_cast<ssize_t>(sizeof(failure))) {
    // The child never ran the program: collect it here so no zombie is left for the reaper.
    int status;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    throw ErrnoError(env, failure.err, StageName(failure.stage), failure.stage == kChdir ? cwd : file);
  }
  return Napi::Number::New(env, pid);
}

// dup2(oldfd, newfd): e.g. the shim's log FIFO onto stderr, so crashes land in containerd's log.
Napi::Value Dup2(const Napi::CallbackInfo& info) {
  int from = info[0].As<Napi::Number>().Int32Value();
  int to = info[1].As<Napi::Number>().Int32Value();
  int r;
  do {
    r = ::dup2(from, to);
  } while (r < 0 && errno == EINTR);
  if (r < 0) throw ErrnoError(info.Env(), errno, "dup2");
  return info.Env().Undefined();
}

}  // namespace

Napi::Object InitProcess(Napi::Env env, Napi::Object exports) {
  exports.Set("setSubreaper", Napi::Function::New(env, SetSubreaper, "setSubreaper"));
  exports.Set("isSubreaper", Napi::Function::New(env, IsSubreaper, "isSubreaper"));
  exports.Set("spawn", Napi::Function::New(env, Spawn, "spawn"));
  exports.Set("dup2", Napi::Function::New(env, Dup2, "dup2"));
  return exports;
}

}  // namespace shim

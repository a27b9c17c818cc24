// Spawning a process with an exact fd layout (stdio plus extra fds such as the listening socket
// on fd 3), optionally in a new session: what a shim's `start` needs to launch its daemon, and
// what the Linux reaper's spawnProcess (and through it the runc command runner) builds on.
//
// On Linux the child is a clone(CLONE_VM | CLONE_VFORK) on a small stack of its own, as glibc's
// posix_spawn makes it: a fork would copy the page tables of the whole Node process (tens of MiB
// of RSS: milliseconds of the main thread per spawn). Until it execs, that child shares the
// parent's memory while the calling thread waits; so it makes async-signal-safe calls only, writes
// nothing but its own stack, and runs with every signal blocked until its handlers are back to
// SIG_DFL (a Node handler run by the child would act on the parent's state). Elsewhere fork/exec.
// close_range and pipe2 where available (features.h).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <string>
#include <vector>

#include "../errors.h"
#include "features.h"
#include "posix.h"

#if defined(SHIM_HAVE_CLOSE_RANGE)
#include <sys/syscall.h>
#endif
#if defined(SHIM_LINUX)
#include <sched.h>
#include <sys/mman.h>
#endif

extern char** environ;

namespace shim {

namespace {

#if defined(SHIM_HAVE_CLOSE_RANGE) && !defined(CLOSE_RANGE_CLOEXEC)
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

constexpr int kMaxFds = 64;

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

// Everything the child needs, prepared by the parent (the child allocates nothing).
struct ChildArgs {
  const char* file;
  char** argv;
  char** envp;
  const char* cwd;
  const int* fds;
  int nfds;
  bool setsid;
  bool setpgid;
  int report;  // write end of the close-on-exec failure pipe
};

[[noreturn]] void Fail(int fd, int stage) {
  ChildFailure f{errno, stage};
  ssize_t ignored = ::write(fd, &f, sizeof(f));
  (void)ignored;
  ::_exit(127);
}

// Runs in the child: async-signal-safe calls only, no allocation, no writes outside its stack.
[[noreturn]] void Child(const ChildArgs& a) {
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dfl, nullptr);
  }
  int report = a.report;
  if (a.setsid && ::setsid() < 0) Fail(report, kSetsid);
  if (!a.setsid && a.setpgid && ::setpgid(0, 0) != 0) Fail(report, kSetpgid);
  int n = a.nfds;
  // Move the report pipe and every source above the target range so no dup2 clobbers a source.
  if (report < n) {
    int moved = ::fcntl(report, F_DUPFD_CLOEXEC, n);
    if (moved < 0) ::_exit(127);
    report = moved;
  }
  int temp[kMaxFds];
  for (int i = 0; i < n; i++) {
    int src = a.fds[i];
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
  // Everything above the layout is closed at exec: close_range where the kernel has it (the
  // report pipe is close-on-exec already), else a loop.
  bool marked = false;
#if defined(SHIM_HAVE_CLOSE_RANGE)
  marked = ::syscall(SYS_close_range, static_cast<unsigned>(n), ~0U, CLOSE_RANGE_CLOEXEC) == 0;
#endif
  if (!marked) {
    long max = ::sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536) max = 65536;
    for (int fd = n; fd < max; fd++) {
      if (fd != report) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
  }
  if (a.cwd != nullptr && ::chdir(a.cwd) != 0) Fail(report, kChdir);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execve(a.file, a.argv, a.envp);
  Fail(report, kExec);
}

#if defined(SHIM_LINUX)
// The child's stack: what Child and the libc calls in it need, with room to spare (pages are
// only committed when touched), and a guard page below it.
constexpr size_t kChildStack = 256 * 1024;
constexpr size_t kGuard = 4096;

int CloneEntry(void* arg) { Child(*static_cast<const ChildArgs*>(arg)); }

// clone(CLONE_VM | CLONE_VFORK): returns once the child has exec'd or exited; errno on -1.
pid_t StartChild(const ChildArgs& args) {
  void* stack = ::mmap(nullptr, kChildStack + kGuard, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
  if (stack == MAP_FAILED) return -1;
  ::mprotect(stack, kGuard, PROT_NONE);
  char* top = static_cast<char*>(stack) + kGuard + kChildStack;  // grows down; 16-byte aligned
  pid_t pid = ::clone(CloneEntry, top, CLONE_VM | CLONE_VFORK | SIGCHLD, const_cast<ChildArgs*>(&args));
  int err = errno;
  ::munmap(stack, kChildStack + kGuard);  // the child no longer runs on it
  errno = err;
  return pid;
}
#else
pid_t StartChild(const ChildArgs& args) {
  pid_t pid = ::fork();
  if (pid == 0) Child(args);
  return pid;
}
#endif

// spawn(file, args, env | null, cwd | null, fds, setsid, setpgid): pid.
// fds[i] is the parent fd that becomes fd i in the child, or -1 for /dev/null. `file` must be a
// path (no PATH search). The child's signal handlers and mask are reset to defaults; it stays in
// this process's session and process group unless setsid/setpgid.
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
  if (fds.size() > kMaxFds) throw ArgError(env, "at most 64 fds can be passed");
  bool setsid = info[5].ToBoolean().Value();
  bool setpgid = info[6].ToBoolean().Value();

  std::vector<char*> argv = Pointers(args);
  std::vector<char*> envp = Pointers(envs);
  if (inherit_env) {
    // A snapshot of the array: the child reads it while other threads run.
    envp.clear();
    for (char** e = environ; e != nullptr && *e != nullptr; e++) envp.push_back(*e);
    envp.push_back(nullptr);
  }

  int report[2];
  if (CloexecPipe(report) != 0) throw ErrnoError(env, errno, "pipe");
  ChildArgs child{file.c_str(), argv.data(), envp.data(), cwd.empty() ? nullptr : cwd.c_str(),
                  fds.data(),   static_cast<int>(fds.size()), setsid, setpgid, report[1]};
  // Every signal blocked from before the child exists until its handlers are reset.
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = StartChild(child);
  int spawn_err = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ::close(report[1]);
  if (pid < 0) {
    ::close(report[0]);
#if defined(SHIM_LINUX)
    throw ErrnoError(env, spawn_err, "clone");
#else
    throw ErrnoError(env, spawn_err, "fork");
#endif
  }
  // Closed by the exec, or holding the failure: a vfork child has done either by now.
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

}  // namespace

Napi::Object InitSpawn(Napi::Env env, Napi::Object exports) {
  exports.Set("spawn", Napi::Function::New(env, Spawn, "spawn"));
  return exports;
}

}  // namespace shim

// containerd-shim launcher: the runtime binary containerd executes for a shim written with this
// package (`containerd-shim package` appends which node and entry script it runs; config.h).
//
// Every invocation that ends (start, delete, -info, -v) is handed to a standby, an already booted
// Node process of the same build, when one is ready: the launcher claims it (claim.h), sends
// argv, environment, cwd and, as descriptors, its stdin bytes (in a memfd) and two memfds for
// stdout/stderr, waits for the exit status and the standby's exit, and only then copies the
// captured output to its own stdout/stderr: if the standby dies first, nothing has reached
// containerd yet and the launcher runs the action itself (cold). The cold path execs node with
// the same argv and environment as before warm starts existed. Actions prefer an action server
// (a standby that served actions before and went back to waiting: JIT-warm, no boot needed);
// missing fresh standbys are booted off the critical path (pool.h). Serving (no action) always
// execs node: the serving daemon is handed to a fresh standby by the shim's `start`
// (lib/shim/spawn.ts), not by the launcher.
//
// Switches (environment, i.e. containerd's): CONTAINERD_SHIM_WARM=0 forces the cold path;
// CONTAINERD_SHIM_WARM_POOL, _BOOTS, _DIR, _LOG, _IDLE_MS (see the README).
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "../warm/claim.h"
#include "../warm/pool.h"
#include "../warm/protocol.h"
#include "config.h"
#include "receipt.h"
#include "settings.h"

extern char** environ;

namespace launcher {

namespace {

constexpr int kHelloTimeoutMs = 5000;
constexpr size_t kStdinLimit = 10u << 20;  // lib/shim/bootstrap.ts reads at most this much
constexpr off_t kOutputLimit = 16 << 20;   // captured stdout/stderr of one action
constexpr const char* kPrewarm = "--containerd-shim-prewarm";

#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 0x0001U
#define MFD_ALLOW_SEALING 0x0002U
#endif
#ifndef F_ADD_SEALS
#define F_ADD_SEALS 1033
#define F_SEAL_SEAL 0x0001
#define F_SEAL_SHRINK 0x0002
#define F_SEAL_GROW 0x0004
#endif

std::string program;

void Fail(const std::string& message) {
  std::string line = program + ": " + message + "\n";
  warm::WriteAll(2, line.data(), line.size());
}

// What containerd asks for, read with Go's flag syntax (lib/shim/flags.ts).
struct Invocation {
  std::string action;         // start, delete, serve, or "flags" for -v/-info
  bool serve = false;         // no action and no -v/-info: the one that does not end by itself
  bool reads_stdin = false;   // start and -info read stdin (lib/shim/run.ts)
  // A command line as containerd builds it for `delete`: known flags only, a namespace, the
  // action last. Only such a delete may be answered from a receipt (run() would answer it so).
  bool plain_delete = false;
  std::string id, bundle;
};

Invocation Parse(int argc, char** argv) {
  static const char* const with_value[] = {"namespace", "id",     "address",     "publish-binary",
                                           "bundle",    "socket", "debug-socket"};
  bool oneshot_flag = false;
  bool info = false;
  bool known = true;
  Invocation inv;
  std::string ns;
  int i = 1;
  for (; i < argc; i++) {
    std::string arg = argv[i];
    if (arg == "--") {
      i++;
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') break;
    std::string body = arg.substr(arg[1] == '-' ? 2 : 1);
    size_t eq = body.find('=');
    std::string name = body.substr(0, eq);
    if (name == "v" || name == "version" || name == "info") oneshot_flag = true;
    if (name == "info") info = true;
    bool takes_value = false;
    for (const char* f : with_value) takes_value = takes_value || name == f;
    if (!takes_value && (name != "debug" || eq != std::string::npos)) known = false;
    std::string value;
    if (takes_value && eq == std::string::npos) {
      if (++i >= argc) {
        known = false;
        break;
      }
      value = argv[i];
    } else if (takes_value) {
      value = body.substr(eq + 1);
    }
    if (name == "id") inv.id = value;
    if (name == "bundle") inv.bundle = value;
    if (name == "namespace") ns = value;
  }
  inv.action = i < argc ? argv[i] : (oneshot_flag ? "flags" : "serve");
  inv.serve = i >= argc && !oneshot_flag;
  inv.reads_stdin = inv.action == "start" || (info && i >= argc);
  inv.plain_delete = inv.action == "delete" && i == argc - 1 && known && !ns.empty();
  return inv;
}

// NAME=value entries of `defaults` are appended where `env` does not set NAME: the package's boot
// settings (nodeBoot()) give way to an operator's, as a cold daemon's environment does (boot.ts).
void AddDefaults(std::vector<std::string>* env, const std::vector<std::string>& defaults) {
  for (const auto& entry : defaults) {
    size_t eq = entry.find('=');
    std::string prefix = entry.substr(0, eq == std::string::npos ? entry.size() : eq + 1);
    bool set = false;
    for (const auto& e : *env) {
      if (e.compare(0, prefix.size(), prefix) == 0) {
        set = true;
        break;
      }
    }
    if (!set) env->push_back(entry);
  }
}

int MemFd(const char* name, unsigned flags) {
  return static_cast<int>(::syscall(SYS_memfd_create, name, flags));
}

// The launcher's stdin, read to EOF into a memfd, for the actions that read it (bounded: more
// than the shim accepts is kept only up to the limit + 1, so the shim still reports it as too
// large). The bytes survive a standby that dies: the cold path gets the same memfd.
int StdinCopy() {
  int fd = MemFd("stdin", MFD_CLOEXEC);
  if (fd < 0) return -1;
  if (::isatty(0)) return fd;  // as lib/shim/bootstrap.ts: a terminal means no input
  char buf[65536];
  size_t total = 0;
  while (total <= kStdinLimit) {
    ssize_t n = ::read(0, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF, or no usable stdin (EBADF...): empty like the shim sees it
    if (!warm::WriteAll(fd, buf, static_cast<size_t>(n))) break;
    total += static_cast<size_t>(n);
  }
  ::lseek(fd, 0, SEEK_SET);
  return fd;
}

int OutputFd(const char* name) {
  int fd = MemFd(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return -1;
  // Room for kOutputLimit bytes (sparse), then no growth: a runaway action cannot eat memory.
  if (::ftruncate(fd, kOutputLimit) == 0)
    ::fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
  return fd;
}

bool SameFile(int a, int b) {
  struct stat x, y;
  return ::fstat(a, &x) == 0 && ::fstat(b, &y) == 0 && x.st_dev == y.st_dev &&
         x.st_ino == y.st_ino;
}

// Copies what the standby wrote into `from` (its length is the shared file offset) to `to`.
void Relay(int from, int to) {
  off_t size = ::lseek(from, 0, SEEK_CUR);
  char buf[65536];
  for (off_t at = 0; at < size;) {
    size_t want = static_cast<size_t>(size - at) < sizeof(buf) ? size - at : sizeof(buf);
    ssize_t n = ::pread(from, buf, want, at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    if (!warm::WriteAll(to, buf, static_cast<size_t>(n))) return;
    at += n;
  }
}

// The action in a standby: its exit status, or -1 when the caller must run it cold (nothing has
// been written to our stdout/stderr then). `stdin_copy` receives the stdin memfd either way.
int RunWarm(warm::Standby* standby, const Invocation& inv, int argc, char** argv,
            const std::vector<std::string>& env, int* stdin_copy, std::string* why) {
  // Actions that do not read stdin get ours as it is (a terminal or an open pipe included).
  int in = inv.reads_stdin ? StdinCopy() : ::fcntl(0, F_DUPFD_CLOEXEC, 3);
  if (in < 0 && !inv.reads_stdin) in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (inv.reads_stdin) *stdin_copy = in;
  bool combined = SameFile(1, 2);
  int out = OutputFd("stdout");
  int err = combined ? out : OutputFd("stderr");
  char cwd[4096];
  if (in < 0 || out < 0 || err < 0 || ::getcwd(cwd, sizeof(cwd)) == nullptr) {
    *why = std::string("cannot prepare the handover: ") + strerror(errno);
    if (out >= 0) ::close(out);
    if (err >= 0 && err != out) ::close(err);
    if (!inv.reads_stdin && in >= 0) ::close(in);
    warm::Release(standby);
    return -1;
  }
  std::vector<std::string> args(argv + 1, argv + argc);
  int fds[3] = {in, out, err};
  int32_t status = 0;
  bool final = false;
  int r = 0;
  if (!warm::SendRequest(standby->fd, warm::kAction, cwd, args, env, fds, 3)) {
    *why = std::string("send: ") + strerror(errno);
  } else {
    r = warm::RecvResult(standby->fd, -1, &status, &final);
    if (r != 1) *why = "standby " + std::to_string(standby->pid) + " died before answering";
    else if (status == warm::kDeclined) *why = "standby " + std::to_string(standby->pid) + " declined";
  }
  if (r == 1 && status != warm::kDeclined) {
    // The status comes when the action exits; a final one once every exit handler ran (all
    // output is written). Otherwise what exit handlers write still counts: wait for the exit.
    while (!final) {
      int32_t later = 0;
      if (warm::RecvResult(standby->fd, -1, &later, &final) != 1) break;  // closed: exited
      status = later;
    }
    warm::Release(standby);
    Relay(out, 1);
    if (!combined) Relay(err, 2);
  } else {
    warm::Release(standby);
    status = -1;
  }
  ::close(out);
  if (err != out) ::close(err);
  if (!inv.reads_stdin && in >= 0) ::close(in);
  return status < 0 ? -1 : (status & 0xff);
}

int ExecCold(const Config& config, const std::vector<std::string>& argv,
             const std::vector<std::string>& env, int stdin_fd) {
  if (stdin_fd >= 0) {
    ::lseek(stdin_fd, 0, SEEK_SET);
    if (::dup2(stdin_fd, 0) < 0) {
      Fail(std::string("dup2 stdin: ") + strerror(errno));
      return 1;
    }
    ::close(stdin_fd);
  }
  std::vector<char*> args, envp;
  for (const auto& s : argv) args.push_back(const_cast<char*>(s.c_str()));
  args.push_back(nullptr);
  for (const auto& s : env) envp.push_back(const_cast<char*>(s.c_str()));
  envp.push_back(nullptr);
  ::execve(config.node.c_str(), args.data(), envp.data());
  Fail("cannot run " + config.node + ": " + strerror(errno));
  return 1;
}

int Main(int argc, char** argv) {
  warm::SetCommandLineArea(argc, argv);
  program = argc > 0 && argv[0] != nullptr ? argv[0] : "containerd-shim";
  size_t slash = program.rfind('/');
  if (slash != std::string::npos) program = program.substr(slash + 1);

  Config config;
  std::string error;
  if (!LoadConfig(&config, &error)) {
    Fail(error);
    return 1;
  }
  struct stat node_st, entry_st;
  if (::stat(config.node.c_str(), &node_st) != 0) {
    Fail("node " + config.node + ": " + strerror(errno));
    return 1;
  }
  if (::stat(config.entry.c_str(), &entry_st) != 0) {
    Fail("entry script " + config.entry + ": " + strerror(errno));
    return 1;
  }

  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; e++) env.emplace_back(*e);
  AddDefaults(&env, config.env);
  std::vector<std::string> node_argv{config.node};
  node_argv.insert(node_argv.end(), config.args.begin(), config.args.end());
  node_argv.push_back(config.entry);
  std::vector<std::string> boot_argv = node_argv;
  bool prewarm = argc == 2 && std::string(argv[1]) == kPrewarm;
  for (int i = 1; i < argc && !prewarm; i++) node_argv.emplace_back(argv[i]);

  Invocation inv = Parse(argc, argv);
  const std::string& action = inv.action;
  Settings settings = ReadSettings();
  if (!settings.enabled || !config.warm) {
    Trace(settings, action + (config.warm ? " cold: CONTAINERD_SHIM_WARM is off"
                                          : " cold: packaged with --no-warm"));
    return prewarm ? 0 : ExecCold(config, node_argv, env, -1);
  }
  bool written = false;
  bool receipt = inv.plain_delete && AnswerFromReceipt(inv.bundle, inv.id, &written);
  std::string why;
  std::string pool = PreparePool(settings, config, node_st, entry_st, env, &why);
  if (receipt) {
    Trace(settings, "delete receipt: answered without node");
    // Still containerd at work, as an action server's delete was (a burst's removal): the
    // pool's boots under way stay in the background meanwhile.
    if (!pool.empty()) warm::RecordUse(pool);
    return written ? 0 : 1;
  }
  if (pool.empty()) {
    Trace(settings, action + " cold: " + why);
    return prewarm ? 1 : ExecCold(config, node_argv, env, -1);
  }
  warm::BootSpec spec{config.node, boot_argv, env};
  spec.env.push_back(std::string(warm::kStandbyEnv) + "=" + pool);
  errno = 0;
  int nice = ::getpriority(PRIO_PROCESS, 0);
  if (errno == 0) spec.env.push_back("__CONTAINERD_SHIM_STANDBY_NICE=" + std::to_string(nice));
  // When the demand that boots it happened: standbys refill the pool only for a while after it.
  timespec now;
  ::clock_gettime(CLOCK_REALTIME, &now);
  spec.env.push_back("__CONTAINERD_SHIM_STANDBY_DEMAND=" +
                     std::to_string(static_cast<long long>(now.tv_sec) * 1000 + now.tv_nsec / 1000000));
  env.push_back(std::string(warm::kPoolEnv) + "=" + pool);
  size_t cap = warm::MaxTarget();

  if (prewarm) {
    // For operators and tests: boot the pool (e.g. at machine start) and say where it is.
    warm::TopUp(pool, settings.target, cap, settings.max_boots, spec, true, true);
    std::string line = pool + "\n";
    warm::WriteAll(1, line.data(), line.size());
    return 0;
  }
  int stdin_fd = -1;
  if (!inv.serve) {
    warm::Standby standby;
    warm::FileId node_id;
    bool claimed = warm::IdOf(config.node.c_str(), &node_id) &&
                   warm::Claim(pool, node_id, kHelloTimeoutMs, warm::kActionFirst, &standby, &why);
    // The pool grows with missed demand (pool.h); an action server's work uses no fresh standby,
    // but tells that containerd is still at work (boots stay in the background meanwhile).
    if (!claimed || !standby.server) warm::RecordDemand(pool, cap, !claimed);
    else warm::RecordUse(pool);
    if (claimed) {
      pid_t pid = standby.pid;
      const char* kind = standby.server ? " (action server)" : "";
      std::string skipped = why.empty() ? "" : " (skipped: " + why + ")";
      why.clear();
      int status = RunWarm(&standby, inv, argc, argv, env, &stdin_fd, &why);
      if (status >= 0) {
        Trace(settings, action + " warm standby=" + std::to_string(pid) +
                            " status=" + std::to_string(status) + kind + skipped);
        if (warm::PoolLacks(pool, settings.target, cap))
          warm::TopUp(pool, settings.target, cap, settings.max_boots, spec, false, true);
        return status;
      }
      Trace(settings, action + " cold after warm attempt: " + why);
    } else {
      Trace(settings, action + " cold: " + why);
    }
  } else {
    Trace(settings, action + " cold: serving is started by the shim's start");
  }
  if (warm::PoolLacks(pool, settings.target, cap))
    warm::TopUp(pool, settings.target, cap, settings.max_boots, spec, true, true);
  return ExecCold(config, node_argv, env, stdin_fd);
}

}  // namespace

}  // namespace launcher

int main(int argc, char** argv) { return launcher::Main(argc, argv); }

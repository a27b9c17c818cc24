// Warm start, the Node side (lib/shim/warm/): a shim process handing its serving daemon to a
// standby, and a standby answering a handover and becoming the process a cold start would have
// created: the requester's cgroups, OOM score, scheduling, CPU affinity, rlimits and umask, and
// the command line and environment /proc shows. The protocol is native/warm/protocol.h.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "../errors.h"
#include "../warm/claim.h"
#include "../warm/pool.h"
#include "../warm/protocol.h"
#include "linux.h"

namespace shim {

namespace {

Napi::Array ToArray(Napi::Env env, const std::vector<std::string>& list) {
  Napi::Array a = Napi::Array::New(env, list.size());
  for (uint32_t i = 0; i < list.size(); i++) a.Set(i, Napi::String::New(env, list[i]));
  return a;
}

bool ReadFile(const std::string& path, std::string* out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  out->clear();
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      errno = err;
      return false;
    }
    if (n == 0) break;
    out->append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return true;
}

bool WriteFile(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n;
  do {
    n = ::write(fd, text.data(), text.size());
  } while (n < 0 && errno == EINTR);
  int err = errno;
  ::close(fd);
  errno = err;
  return n == static_cast<ssize_t>(text.size());
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    if (end > pos) out.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

std::vector<std::string> Split(const std::string& text, char sep) {
  std::vector<std::string> out;
  size_t pos = 0;
  for (;;) {
    size_t end = text.find(sep, pos);
    out.push_back(text.substr(pos, end == std::string::npos ? std::string::npos : end - pos));
    if (end == std::string::npos) return out;
    pos = end + 1;
  }
}

struct CgroupMount {
  std::string root;
  std::string mountpoint;
  std::string fstype;
  std::set<std::string> options;  // super options: controllers, name=...
};

std::vector<CgroupMount> CgroupMounts() {
  std::vector<CgroupMount> out;
  std::string text;
  if (!ReadFile("/proc/self/mountinfo", &text)) return out;
  for (const auto& line : Lines(text)) {
    size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::vector<std::string> head = Split(line.substr(0, dash), ' ');
    std::vector<std::string> tail = Split(line.substr(dash + 3), ' ');
    if (head.size() < 5 || tail.size() < 3) continue;
    if (tail[0] != "cgroup" && tail[0] != "cgroup2") continue;
    CgroupMount m{head[3], head[4], tail[0], {}};
    for (const auto& o : Split(tail[2], ',')) m.options.insert(o);
    out.push_back(m);
  }
  return out;
}

// The directory of cgroup `path` for the hierarchy listing `controllers` ("" = cgroup2).
std::string CgroupDir(const std::vector<CgroupMount>& mounts, const std::string& controllers,
                      const std::string& path) {
  const CgroupMount* found = nullptr;
  for (const auto& m : mounts) {
    if (controllers.empty()) {
      if (m.fstype != "cgroup2") continue;
      if (found == nullptr || m.mountpoint == "/sys/fs/cgroup") found = &m;
    } else if (m.fstype == "cgroup") {
      bool all = true;
      for (const auto& c : Split(controllers, ',')) all = all && m.options.count(c) > 0;
      if (all) {
        found = &m;
        break;
      }
    }
  }
  if (found == nullptr) return "";
  std::string rel = path;
  if (found->root != "/" &&
      (rel == found->root || rel.compare(0, found->root.size() + 1, found->root + "/") == 0)) {
    rel = rel.substr(found->root.size());
  }
  return found->mountpoint + (rel.empty() || rel == "/" ? "" : rel);
}

[[noreturn]] void AdoptError(Napi::Env env, const std::string& what) {
  throw CodeError(env, "ERR_WARM_ADOPT", what + ": " + std::strerror(errno));
}

// Moves this process into every cgroup of `pid` that differs from ours.
void AdoptCgroups(Napi::Env env, pid_t pid) {
  std::string theirs, ours;
  if (!ReadFile("/proc/" + std::to_string(pid) + "/cgroup", &theirs))
    AdoptError(env, "read the requester's cgroups");
  if (!ReadFile("/proc/self/cgroup", &ours)) AdoptError(env, "read our cgroups");
  if (theirs == ours) return;
  std::set<std::string> own;
  for (const auto& l : Lines(ours)) own.insert(l);
  std::vector<CgroupMount> mounts = CgroupMounts();
  std::string self = std::to_string(::getpid());
  for (const auto& line : Lines(theirs)) {
    if (own.count(line) > 0) continue;
    size_t a = line.find(':');
    size_t b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    std::string controllers = line.substr(a + 1, b - a - 1);
    std::string dir = CgroupDir(mounts, controllers, line.substr(b + 1));
    if (dir.empty()) {
      errno = ENOENT;
      AdoptError(env, "find the cgroup hierarchy of '" + line + "'");
    }
    if (!WriteFile(dir + "/cgroup.procs", self)) AdoptError(env, "join " + dir);
  }
}

std::vector<pid_t> Threads() {
  pid_t self = ::getpid();
  std::vector<pid_t> out{self};  // the main thread first: threads it creates inherit
  DIR* dir = ::opendir("/proc/self/task");
  if (dir == nullptr) return out;
  while (dirent* e = ::readdir(dir)) {
    long tid = std::strtol(e->d_name, nullptr, 10);
    if (tid > 0 && tid != self) out.push_back(static_cast<pid_t>(tid));
  }
  ::closedir(dir);
  return out;
}

void SetNice(Napi::Env env, int nice, const std::vector<pid_t>& threads) {
  for (pid_t tid : threads) {
    errno = 0;
    int current = ::getpriority(PRIO_PROCESS, tid);
    if (errno == 0 && current == nice) continue;
    if (::setpriority(PRIO_PROCESS, tid, nice) != 0 && errno != ESRCH)
      AdoptError(env, "setpriority " + std::to_string(nice));
  }
}

// Scheduling policy, nice value and CPU affinity of `pid`, for every thread of ours.
void AdoptScheduling(Napi::Env env, pid_t pid) {
  int policy = ::sched_getscheduler(pid);
  if (policy < 0) AdoptError(env, "sched_getscheduler");
  sched_param param{};
  if (::sched_getparam(pid, &param) != 0) AdoptError(env, "sched_getparam");
  errno = 0;
  int nice = ::getpriority(PRIO_PROCESS, pid);
  if (errno != 0) AdoptError(env, "getpriority");
  cpu_set_t theirs, ours;
  CPU_ZERO(&theirs);
  CPU_ZERO(&ours);
  if (::sched_getaffinity(pid, sizeof(theirs), &theirs) != 0) AdoptError(env, "sched_getaffinity");
  std::vector<pid_t> threads = Threads();  // one listing for all three settings
  for (pid_t tid : threads) {
    int current = ::sched_getscheduler(tid);
    sched_param cp{};
    if (current < 0 || ::sched_getparam(tid, &cp) != 0) continue;  // the thread ended
    if ((current != policy || cp.sched_priority != param.sched_priority) &&
        ::sched_setscheduler(tid, policy, &param) != 0 && errno != ESRCH)
      AdoptError(env, "sched_setscheduler");
    if (::sched_getaffinity(tid, sizeof(ours), &ours) == 0 && !CPU_EQUAL(&ours, &theirs) &&
        ::sched_setaffinity(tid, sizeof(theirs), &theirs) != 0 && errno != ESRCH)
      AdoptError(env, "sched_setaffinity");
  }
  SetNice(env, nice, threads);
  // The scheduling group of our session (a standby booted it at nice 19): a cold daemon's
  // setsid() gives it a new one, at 0.
  if (!warm::SetAutogroupNice(0, 0, 200)) AdoptError(env, "set the autogroup's nice value");
}

void AdoptLimits(Napi::Env env, pid_t pid) {
  for (int r = 0; r < RLIM_NLIMITS; r++) {
    rlimit theirs{}, ours{};
    if (::prlimit(pid, static_cast<__rlimit_resource>(r), nullptr, &theirs) != 0)
      AdoptError(env, "prlimit of the requester");
    if (::prlimit(0, static_cast<__rlimit_resource>(r), nullptr, &ours) != 0) continue;
    if (ours.rlim_cur == theirs.rlim_cur && ours.rlim_max == theirs.rlim_max) continue;
    if (::prlimit(0, static_cast<__rlimit_resource>(r), &theirs, nullptr) != 0)
      AdoptError(env, "setrlimit " + std::to_string(r));
  }
}

void AdoptOomScore(Napi::Env env, pid_t pid) {
  std::string theirs, ours;
  if (!ReadFile("/proc/" + std::to_string(pid) + "/oom_score_adj", &theirs))
    AdoptError(env, "read the requester's oom_score_adj");
  if (ReadFile("/proc/self/oom_score_adj", &ours) && ours == theirs) return;
  if (!WriteFile("/proc/self/oom_score_adj", theirs)) AdoptError(env, "write oom_score_adj");
}

void AdoptUmask(Napi::Env env, pid_t pid) {
  std::string status;
  if (!ReadFile("/proc/" + std::to_string(pid) + "/status", &status))
    AdoptError(env, "read the requester's status");
  size_t at = status.find("\nUmask:");
  if (at == std::string::npos) return;  // kernels before 4.7
  ::umask(static_cast<mode_t>(std::strtoul(status.c_str() + at + 7, nullptr, 8)));
}

// warmAdopt(pid): become like `pid` (the process that handed us work): cgroups, OOM score,
// scheduling, affinity, rlimits, umask. Throws ERR_WARM_ADOPT (the standby then declines).
Napi::Value WarmAdopt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  pid_t pid = static_cast<pid_t>(info[0].As<Napi::Number>().Int32Value());
  if (pid <= 0) throw ArgError(env, "warmAdopt(pid)");
  AdoptCgroups(env, pid);
  AdoptOomScore(env, pid);
  AdoptLimits(env, pid);
  AdoptUmask(env, pid);
  AdoptScheduling(env, pid);
  return env.Undefined();
}

// warmRenice(nice): every thread back from a boot's SCHED_IDLE to SCHED_OTHER, at `nice`, and
// its session's autogroup back to nice 0 (a standby that finished booting, pool.cc Boot): a
// claimed standby answers at normal speed.
Napi::Value WarmRenice(const Napi::CallbackInfo& info) {
  std::vector<pid_t> threads = Threads();
  for (pid_t tid : threads) {
    if (::sched_getscheduler(tid) != SCHED_IDLE) continue;
    sched_param normal{};
    if (::sched_setscheduler(tid, SCHED_OTHER, &normal) != 0 && errno != ESRCH)
      AdoptError(info.Env(), "sched_setscheduler SCHED_OTHER");
  }
  SetNice(info.Env(), info[0].As<Napi::Number>().Int32Value(), threads);
  // Off the critical path (before the standby publishes itself): waits out the kernel's rate
  // limit if it must.
  if (!warm::SetAutogroupNice(0, 0, 500)) AdoptError(info.Env(), "set the autogroup's nice value");
  return info.Env().Undefined();
}

// The memory map fields of /proc/self/stat that PR_SET_MM_MAP replaces all at once: start_code,
// end_code, start_stack (fields 26-28), start_data, end_data, start_brk, arg_start, arg_end,
// env_start, env_end (45-51).
bool ReadMmFields(prctl_mm_map* map) {
  std::string stat;
  if (!ReadFile("/proc/self/stat", &stat)) return false;
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return false;
  std::vector<std::string> f = Split(stat.substr(paren + 2), ' ');  // f[0] is field 3
  if (f.size() < 49) return false;
  auto field = [&](int n) { return static_cast<__u64>(std::strtoull(f[n - 3].c_str(), nullptr, 10)); };
  *map = prctl_mm_map{};
  map->start_code = field(26);
  map->end_code = field(27);
  map->start_stack = field(28);
  map->start_data = field(45);
  map->end_data = field(46);
  map->start_brk = field(47);
  map->arg_start = field(48);
  map->arg_end = field(49);
  map->env_start = field(50);
  map->env_end = field(51);
  map->exe_fd = static_cast<__u32>(-1);
  return true;
}

// Points [arg_start, arg_end) and [env_start, env_end) at a new block. PR_SET_MM_MAP needs no
// capability (CONFIG_CHECKPOINT_RESTORE); single-field PR_SET_MM needs CAP_SYS_RESOURCE.
bool MoveImage(unsigned long a0, unsigned long a1, unsigned long e1) {
  prctl_mm_map map;
  if (!ReadMmFields(&map)) return false;
  unsigned long old_arg_end = map.arg_end, old_env_end = map.env_end;
  // The current break: brk(0) returns it. A break moved by another thread in between makes
  // that thread's next brk() fail (the kernel refuses to map over the heap; malloc then mmaps).
  map.brk = static_cast<__u64>(::syscall(SYS_brk, 0));
  map.arg_start = a0;
  map.arg_end = a1;
  map.env_start = a1;
  map.env_end = e1;
  if (::prctl(PR_SET_MM, PR_SET_MM_MAP, &map, sizeof(map), 0) == 0) return true;
  if (errno != EINVAL) return false;
  // Keep start <= end at every single-field step (the kernel checks each update).
  auto range = [](int start_op, int end_op, unsigned long old_end, unsigned long start,
                  unsigned long end) {
    if (start >= old_end)
      return ::prctl(PR_SET_MM, end_op, end, 0, 0) == 0 && ::prctl(PR_SET_MM, start_op, start, 0, 0) == 0;
    return ::prctl(PR_SET_MM, start_op, start, 0, 0) == 0 && ::prctl(PR_SET_MM, end_op, end, 0, 0) == 0;
  };
  return range(PR_SET_MM_ARG_START, PR_SET_MM_ARG_END, old_arg_end, a0, a1) &&
         range(PR_SET_MM_ENV_START, PR_SET_MM_ENV_END, old_env_end, a1, e1);
}

std::string Block(const std::vector<std::string>& list) {
  std::string out;
  for (const auto& s : list) {
    out.append(s);
    out.push_back('\0');
  }
  return out;
}

// The block /proc/self/{cmdline,environ} show; kept for the life of the process.
char* image_block = nullptr;

// warmSetImage(argv, env): what /proc/<pid>/cmdline and environ show from now on (a cold
// process shows the argv and environment it was executed with).
Napi::Value WarmSetImage(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string args = Block(StringArray(env, info[0], "argv"));
  std::string vars = Block(StringArray(env, info[1], "env"));
  if (args.empty()) args.push_back('\0');
  if (vars.empty()) vars.push_back('\0');
  // One allocation holds both; a spare byte past the end keeps `end` inside the mapping.
  char* block = static_cast<char*>(std::malloc(args.size() + vars.size() + 1));
  if (block == nullptr) throw ErrnoError(env, ENOMEM, "malloc");
  std::memcpy(block, args.data(), args.size());
  std::memcpy(block + args.size(), vars.data(), vars.size());
  block[args.size() + vars.size()] = '\0';
  unsigned long a0 = reinterpret_cast<unsigned long>(block);
  unsigned long a1 = a0 + args.size();
  if (!MoveImage(a0, a1, a1 + vars.size())) {
    int err = errno == 0 ? EINVAL : errno;
    std::free(block);
    throw ErrnoError(env, err, "prctl", "PR_SET_MM");
  }
  std::free(image_block);
  image_block = block;
  return env.Undefined();
}

// warmHandDaemon(pool, node, cwd, args, env, fds, timeoutMs): hands the serving role to a ready
// standby of `pool`: { pid, skipped? } when one took it over (skipped: the standbys passed over
// before it, and why), else { pid: 0, reason }. A standby that got
// the request but did not answer within `timeoutMs` is killed before this returns, so the
// caller can start the daemon itself without two processes serving one socket.
Napi::Value WarmHandDaemon(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 7 || !info[0].IsString() || !info[1].IsString() || !info[2].IsString())
    throw ArgError(env, "warmHandDaemon(pool, node, cwd, args, env, fds, timeoutMs)");
  std::string pool = info[0].As<Napi::String>().Utf8Value();
  std::string node = info[1].As<Napi::String>().Utf8Value();
  std::string cwd = info[2].As<Napi::String>().Utf8Value();
  std::vector<std::string> args = StringArray(env, info[3], "args");
  std::vector<std::string> vars = StringArray(env, info[4], "env");
  std::vector<int> fds;
  Napi::Array fa = info[5].As<Napi::Array>();
  for (uint32_t i = 0; i < fa.Length(); i++) fds.push_back(fa.Get(i).As<Napi::Number>().Int32Value());
  if (fds.size() > static_cast<size_t>(warm::kMaxFds)) throw ArgError(env, "too many fds");
  int timeout = info[6].As<Napi::Number>().Int32Value();

  Napi::Object result = Napi::Object::New(env);
  result.Set("pid", Napi::Number::New(env, 0));
  warm::FileId node_st;
  if (!warm::IdOf(node.c_str(), &node_st)) {
    result.Set("reason", Napi::String::New(env, node + ": " + std::strerror(errno)));
    return result;
  }
  warm::Standby standby;
  std::string why;
  // A fresh standby only: a daemon runs for the container's lifetime, without what actions left.
  bool claimed = warm::Claim(pool, node_st, timeout, warm::kFreshOnly, &standby, &why);
  warm::RecordDemand(pool, warm::MaxTarget(), !claimed);  // pool.h: grows with missed demand
  if (!claimed) {
    result.Set("reason", Napi::String::New(env, why));
    return result;
  }
  if (!warm::SendRequest(standby.fd, warm::kDaemon, cwd, args, vars, fds.data(),
                         static_cast<int>(fds.size()))) {
    why = std::string("send: ") + std::strerror(errno);
    warm::Kill(&standby);  // it may hold the listener now
    result.Set("reason", Napi::String::New(env, why));
    return result;
  }
  int32_t status = 0;
  int r = warm::RecvResult(standby.fd, timeout, &status);
  pid_t pid = standby.pid;
  if (r == 1 && status == 0) {
    warm::Release(&standby);
    result.Set("pid", Napi::Number::New(env, pid));
    if (!why.empty()) result.Set("skipped", Napi::String::New(env, why));
    return result;
  }
  if (r == 1 && status == warm::kDeclined) {
    why = "standby " + std::to_string(pid) + " declined";
    warm::Release(&standby);
  } else {
    why = "standby " + std::to_string(pid) +
          (r < 0 ? " did not answer in time (killed)" : " died before answering");
    warm::Kill(&standby);
  }
  result.Set("reason", Napi::String::New(env, why));
  return result;
}

// warmHello(fd, pool, stale): HELLO on an accepted control connection.
Napi::Value WarmHello(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  std::string pool = info[1].As<Napi::String>().Utf8Value();
  bool stale = info[2].ToBoolean().Value();
  if (!warm::SendHello(fd, stale ? warm::kStale : warm::kReady, pool))
    throw ErrnoError(env, errno, "send", "hello");
  return env.Undefined();
}

// warmReceive(fd, timeoutMs): { kind: 'action' | 'daemon', cwd, args, env, fds }.
Napi::Value WarmReceive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  int timeout = info[1].As<Napi::Number>().Int32Value();
  warm::Request request;
  if (!warm::RecvRequest(fd, timeout, &request)) throw ErrnoError(env, errno, "recvmsg", "request");
  Napi::Object out = Napi::Object::New(env);
  out.Set("kind", Napi::String::New(env, request.kind == warm::kDaemon ? "daemon" : "action"));
  out.Set("cwd", Napi::String::New(env, request.cwd));
  out.Set("args", ToArray(env, request.args));
  out.Set("env", ToArray(env, request.env));
  Napi::Array fds = Napi::Array::New(env, request.fds.size());
  for (uint32_t i = 0; i < request.fds.size(); i++) fds.Set(i, Napi::Number::New(env, request.fds[i]));
  out.Set("fds", fds);
  return out;
}

// warmReply(fd, status, final): RESULT (blocking; a vanished client is ignored).
Napi::Value WarmReply(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  int status = info[1].As<Napi::Number>().Int32Value();
  warm::SendResult(fd, status, info.Length() < 3 || info[2].ToBoolean().Value());
  return info.Env().Undefined();
}

// warmFdIds(): "fd major:minor:ino" for every open fd but /dev/null's (libuv keeps one for
// ignored stdio: harmless). One readdir and one statx per fd: an action server compares the
// sets before and after an action (an fd left behind, or a number now naming another file), on
// containerd's clock, where a readlink per fd from JS cost several times more. statx, not
// fstat: glibc exports fstat only from 2.33, above the prebuilds' floor (claim.h).
Napi::Value WarmFdIds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct statx nul{};
  bool have_nul = ::statx(AT_FDCWD, "/dev/null", 0, STATX_INO, &nul) == 0;
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) throw ErrnoError(env, errno, "opendir", "/proc/self/fd");
  int own = ::dirfd(dir);
  std::vector<std::string> ids;
  while (dirent* e = ::readdir(dir)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    int fd = static_cast<int>(std::strtol(e->d_name, nullptr, 10));
    struct statx st{};
    if (fd == own || ::statx(fd, "", AT_EMPTY_PATH, STATX_INO, &st) != 0) continue;
    if (have_nul && st.stx_dev_major == nul.stx_dev_major &&
        st.stx_dev_minor == nul.stx_dev_minor && st.stx_ino == nul.stx_ino)
      continue;
    char id[80];
    std::snprintf(id, sizeof(id), "%d %x:%x:%llx", fd, st.stx_dev_major, st.stx_dev_minor,
                  static_cast<unsigned long long>(st.stx_ino));
    ids.emplace_back(id);
  }
  ::closedir(dir);
  return ToArray(env, ids);
}

// warmTopUp(pool, target, maxBoots, node, argv, env): boots what the pool lacks (a standby that
// just got ready refills the pool while boots are rationed); returns at once when it is full.
Napi::Value WarmTopUp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string pool = info[0].As<Napi::String>().Utf8Value();
  size_t target = info[1].As<Napi::Number>().Uint32Value();
  size_t max_boots = info[2].As<Napi::Number>().Uint32Value();
  warm::BootSpec spec{info[3].As<Napi::String>().Utf8Value(), StringArray(env, info[4], "argv"),
                      StringArray(env, info[5], "env")};
  size_t cap = warm::MaxTarget();
  if (warm::PoolLacks(pool, target, cap)) warm::TopUp(pool, target, cap, max_boots, spec, true);
  return env.Undefined();
}

}  // namespace

Napi::Object InitWarm(Napi::Env env, Napi::Object exports) {
  exports.Set("warmHandDaemon", Napi::Function::New(env, WarmHandDaemon, "warmHandDaemon"));
  exports.Set("warmHello", Napi::Function::New(env, WarmHello, "warmHello"));
  exports.Set("warmReceive", Napi::Function::New(env, WarmReceive, "warmReceive"));
  exports.Set("warmReply", Napi::Function::New(env, WarmReply, "warmReply"));
  exports.Set("warmAdopt", Napi::Function::New(env, WarmAdopt, "warmAdopt"));
  exports.Set("warmRenice", Napi::Function::New(env, WarmRenice, "warmRenice"));
  exports.Set("warmSetImage", Napi::Function::New(env, WarmSetImage, "warmSetImage"));
  exports.Set("warmFdIds", Napi::Function::New(env, WarmFdIds, "warmFdIds"));
  exports.Set("warmTopUp", Napi::Function::New(env, WarmTopUp, "warmTopUp"));
  return exports;
}

}  // namespace shim

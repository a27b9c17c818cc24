// Stocking a pool directory with standbys (see pool.h).
#include "pool.h"

#include <dirent.h>
#include <mntent.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "claim.h"

namespace warm {

namespace {

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

bool Alive(pid_t pid) { return ProcessExists(pid); }

// A booting marker whose lock nobody holds belongs to a boot that died.
bool StaleMarker(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  bool stale = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
  ::close(fd);
  return stale;
}

unsigned long long NowNs() {
  timespec t;
  ::clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<unsigned long long>(t.tv_sec) * 1000000000ull +
         static_cast<unsigned long long>(t.tv_nsec);
}

// <kind>-<16 hex ns>-<pid>, a claim's marker (pool.h): its time. The kind is checked by the
// callers.
bool ParseMarkerTime(const char* name, unsigned long long* ns) {
  if (name[1] != '-') return false;
  char* end = nullptr;
  *ns = std::strtoull(name + 2, &end, 16);
  return end == name + 18 && *end == '-';
}

// The marker of a claim made now by this process, as a path component: /<kind>-<ns>-<pid>.
std::string MarkerName(char kind, unsigned long long now) {
  char name[48];
  std::snprintf(name, sizeof(name), "/%c-%016llx-%d", kind, now, static_cast<int>(::getpid()));
  return name;
}

void CreateMarker(const std::string& path) {
  int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd >= 0) ::close(fd);
}

// d-<16 hex ns>-<pid> (a claim that got a standby) or m-... (one that missed): its time.
bool ParseDemandName(const char* name, unsigned long long* ns, bool* missed) {
  if (name[0] != 'd' && name[0] != 'm') return false;
  *missed = name[0] == 'm';
  return ParseMarkerTime(name, ns);
}

bool Recent(unsigned long long ns, unsigned long long now) {
  return ns <= now && now - ns <= static_cast<unsigned long long>(kDemandWindowMs) * 1000000ull;
}

// u-<16 hex ns>-<pid>: an action server's latest claim (pool.h): its time.
bool ParseUseName(const char* name, unsigned long long* ns) {
  return name[0] == 'u' && ParseMarkerTime(name, ns);
}

// A use marker to sweep: older than the demand window (one written after `now` was read is
// kept: it is the newest).
bool StaleUse(unsigned long long ns, unsigned long long now) {
  return ns < now && now - ns > static_cast<unsigned long long>(kDemandWindowMs) * 1000000ull;
}

// Whether time `t` (0: never) is less than `ms` before `now`; a time recorded after `now` was
// read (another launcher, just now) counts.
bool Within(unsigned long long t, unsigned long long now, long long ms) {
  return t != 0 && (t >= now || now - t < static_cast<unsigned long long>(ms) * 1000000ull);
}

// The target the recent demand asks for: `base`, or up to `cap` recent claims when some of
// them missed (a pool that covers its demand does not grow).
size_t Wanted(size_t base, size_t demand, size_t misses, size_t cap) {
  return misses == 0 ? base : std::max(base, std::min(demand, cap));
}

// How long a grown target holds after the demand that grew it: the idle timeout
// (CONTAINERD_SHIM_WARM_IDLE_MS, part of the pool's identity, so the same for all its users).
unsigned long long HoldNs() {
  const char* v = ::getenv("CONTAINERD_SHIM_WARM_IDLE_MS");
  char* end = nullptr;
  unsigned long long ms = v != nullptr ? std::strtoull(v, &end, 10) : 0;
  if (v == nullptr || *v == '\0' || *end != '\0' || ms == 0) ms = 60000;
  return ms * 1000000ull;
}

// The grown target, in the lock file: "<target> <16 hex: monotonic ns until it holds>\n";
// 0 when there is none, or it expired.
size_t HeldTarget(int fd, unsigned long long now) {
  char buf[32] = {};
  ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0) return 0;
  char* end = nullptr;
  unsigned long target = std::strtoul(buf, &end, 10);
  if (end == buf || *end != ' ') return 0;
  unsigned long long until = std::strtoull(end + 1, nullptr, 16);
  return now <= until ? target : 0;
}

size_t HeldTarget(const std::string& pool, unsigned long long now) {
  int fd = ::open((pool + "/lock").c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return 0;
  size_t held = HeldTarget(fd, now);
  ::close(fd);
  return held;
}

// Under the lock: the target to boot for. Demand above `base` is written down, so the
// standbys' refills keep booting for it after its claims left the window (boots are slower
// than a burst); a held target lasts an idle timeout past the demand that grew it, then the
// pool shrinks back to `base` as its standbys idle out.
size_t Grow(int lock, size_t base, size_t want, size_t cap, unsigned long long now) {
  size_t held = std::min(HeldTarget(lock, now), cap);
  if (want > base && want >= held) {
    char buf[32];
    int n = std::snprintf(buf, sizeof(buf), "%4zu %016llx\n", want, now + HoldNs());
    if (::ftruncate(lock, 0) == 0) ::pwrite(lock, buf, static_cast<size_t>(n), 0);
  }
  return std::max(want, held);
}

// Whether a boot may run at the lowest priority: only if the standby can leave it again once
// ready (root, or an RLIMIT_NICE that allows our nice value), else it would serve slowly.
bool CanLower() {
  if (::geteuid() == 0) return true;
  errno = 0;
  int nice = ::getpriority(PRIO_PROCESS, 0);
  rlimit r{};
  if (errno != 0 || ::getrlimit(RLIMIT_NICE, &r) != 0) return false;
  return r.rlim_cur == RLIM_INFINITY || static_cast<rlim_t>(20 - nice) <= r.rlim_cur;
}

// The pid of the process booting under marker `path` (the helper that forked it wrote it
// there), or 0: only while that process still holds the marker on its fd 3.
pid_t MarkerPid(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return 0;
  char buf[16] = {};
  ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
  ::close(fd);
  long pid = n > 0 ? std::strtol(buf, nullptr, 10) : 0;
  if (pid <= 0) return 0;
  char link[512];
  std::string fd3 = "/proc/" + std::to_string(pid) + "/fd/3";
  ssize_t len = ::readlink(fd3.c_str(), link, sizeof(link) - 1);
  if (len <= 0 || path.compare(0, std::string::npos, link, static_cast<size_t>(len)) != 0) return 0;
  return static_cast<pid_t>(pid);
}

// Whether boots may wait for CPU nobody else wants. Not when claims missed in the last 2 s
// (the pool lags its demand: the next claims would boot cold nodes, at full weight on
// containerd's clock), unless no claim of a fresh standby (hit or miss) came for kQuietMs while
// action servers were claimed since, the latest within kQuietMs: containerd is still at work
// but takes no fresh standby (a burst's removal runs its deletes on action servers, which boot
// nothing cold), and boots at full weight would take the CPU that work runs on; while a burst's
// starts go on, their daemons take fresh standbys every few ms and the misses count (boots kept
// in the background then made more daemons cold), as does the next claim that misses. Nor when
// fewer than half the target are ready once the claims and action servers' claims stopped for
// kQuietMs (a pool emptied by a burst, for the next). While a burst's claims still come and find standbys, its
// replacements wait: at full weight they would take the CPU its containers start with (runc,
// containerd, the daemons), and the standbys already booted serve it.
// Those under way in the background would starve and hold the boot slots (max_boots): a
// foreground top-up puts them back at full weight too. One container after another takes one
// standby of a pool that stays over half full.
bool Background(size_t misses, size_t ready, size_t target, unsigned long long last_claim,
                unsigned long long last_use, unsigned long long now) {
  if (misses > 0) {
    bool served_since = !Within(last_claim, now, kQuietMs) && last_use > last_claim &&
                        Within(last_use, now, kQuietMs);
    if (!served_since) return false;
  }
  bool active = Within(std::max(last_claim, last_use), now, kQuietMs);
  return 2 * ready >= target || active;
}

// `background`: the pool covers its demand, so the boot is for later and its session's
// autogroup goes to nice 19 too (below); otherwise claims miss and the boot is what spares the
// next ones a cold node: full weight, its autogroup stays at 0.
[[noreturn]] void Boot(const BootSpec& spec, int marker, bool background) {
  ::setsid();
  if (marker != 3) {
    if (::dup2(marker, 3) < 0) ::_exit(127);
  } else {
    ::fcntl(3, F_SETFD, 0);
  }
  // Closed now, not at exec: the pool lock must not stay held by a boot starved of CPU below.
  if (::syscall(SYS_close_range, 4U, ~0U, 0U) != 0) {
    for (int fd = 4; fd < 1024; fd++) ::close(fd);
  }
  // Off the critical path: SCHED_IDLE runs a boot only on CPU nobody else wants, so boots
  // never compete with starting containers (a boot starved on a busy machine means the cold
  // path). The standby returns to normal scheduling once ready (warmRenice), before it can be
  // claimed; a handover then copies the requester's.
  // SCHED_IDLE and nice only weigh a task against the others of its scheduling group, and in
  // the root cpu cgroup the kernel makes each session a group of its own (autogroup) that
  // competes with every other session at nice 0's weight, whatever its tasks' policy: after
  // setsid() a lone boot would take half a CPU from the daemon, containerd and runc like any
  // busy process. Even at autogroup nice 19 (weight 15 against 1024) that group is an ordinary
  // entity to the scheduler, one a woken runc waits behind until it ends its slice (runc create
  // took 31-33 ms beside such boots, 17-18 with none: perf sched_switch/wakeup). So a
  // background boot waits in a child cpu cgroup marked cpu.idle (EnterIdleGroup), which
  // everything else preempts at once; the autogroup only where the kernel has no such group.
  if (CanLower()) {
    if (background && !EnterIdleGroup()) SetAutogroupNice(0, 19, 0);
    ::setpriority(PRIO_PROCESS, 0, 19);
    sched_param idle{};
    ::sched_setscheduler(0, SCHED_IDLE, &idle);
  }
  std::vector<char*> argv, envp;
  for (const auto& s : spec.argv) argv.push_back(const_cast<char*>(s.c_str()));
  argv.push_back(nullptr);
  for (const auto& s : spec.env) envp.push_back(const_cast<char*>(s.c_str()));
  envp.push_back(nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execve(spec.node.c_str(), argv.data(), envp.data());
  ::_exit(127);
}

// A pool under half ready whose boots stay in the background because a burst's claims (or its
// removal's action servers' claims) still come (Background) is raised by the first top-up after
// they stop. There may be none (no later claim, and no standby ready to refill): its boots would
// then wait at SCHED_IDLE for as long as the machine is busy. So the helper that lowered them
// waits until no claim of either kind came for kQuietMs and puts the boots under way back at
// full weight (`raise`), as a top-up then would; claims that keep coming longer than
// kDemandWindowMs raise them too (a long burst). The helper that held a burst's boots back
// (ThrottleIdleGroup) lets them run again (`lift`) at the same moment.
std::string IdleGroupDir();

void WhenQuiet(const std::string& pool, unsigned long long last_claim, bool raise, bool lift) {
  const unsigned long long quiet = kQuietMs * 1000000ull;
  const unsigned long long give_up = NowNs() + kDemandWindowMs * 1000000ull;
  for (;;) {
    unsigned long long now = NowNs();
    if (last_claim + quiet > now && now < give_up) {
      unsigned long long wait = std::min(last_claim + quiet - now, give_up - now);
      timespec pause{static_cast<time_t>(wait / 1000000000ull),
                     static_cast<long>(wait % 1000000000ull)};
      ::nanosleep(&pause, nullptr);
    }
    DIR* dir = ::opendir(pool.c_str());
    if (dir == nullptr) break;  // the pool is gone: nothing to raise, but the group is shared
    unsigned long long newest = last_claim, t;
    std::vector<std::string> boots;
    bool missed;
    while (dirent* e = ::readdir(dir)) {
      if (ParseDemandName(e->d_name, &t, &missed) || ParseUseName(e->d_name, &t)) {
        newest = std::max(newest, t);
      } else if (e->d_name[0] == 'b' && e->d_name[1] == '-') {
        boots.push_back(pool + "/" + e->d_name);
      }
    }
    ::closedir(dir);
    if (newest > last_claim && NowNs() < give_up) {
      last_claim = newest;  // still claiming
      continue;
    }
    if (raise) {
      for (const auto& path : boots) {
        pid_t pid = MarkerPid(path);
        if (pid > 0) {
          LeaveIdleGroup(pid);
          SetAutogroupNice(pid, 0, 0);
        }
      }
    }
    break;
  }
  if (lift && ThrottleIdleGroup(false)) {
    // Empty by now unless boots still wait in it (EBUSY): none made it for nothing.
    std::string group = IdleGroupDir();
    ::rmdir(group.c_str());
  }
}

// Sweeping the pools of other builds (an upgraded or repackaged shim leaves its old pool
// behind: lock, markers, dead sockets and its boot cache, until reboot). Once per idle timeout
// a launcher's top-up helper looks at its siblings under the pool root (SweepPools).

// The root's `swept` file: its mtime is when the last sweep began.
constexpr char kSweptFile[] = "swept";
// Bounds on one sweep: pools examined (entries read) and removed, entries in one pool.
constexpr size_t kSweepExamine = 16;
constexpr size_t kSweepRemove = 4;
constexpr size_t kSweepEntries = 512;

unsigned long long RealNs(long long sec, unsigned long long nsec) {
  return sec < 0 ? 0 : static_cast<unsigned long long>(sec) * 1000000000ull + nsec;
}

unsigned long long RealNowNs() {
  timespec t;
  ::clock_gettime(CLOCK_REALTIME, &t);
  return RealNs(t.tv_sec, static_cast<unsigned long long>(t.tv_nsec));
}

// What the sweeps need of a file (statx: glibc's fstat() and fstatat() are GLIBC_2.33 symbols,
// and the addon's floor is 2.28). `name` empty: `dir` itself.
struct Meta {
  unsigned mode = 0;
  uid_t uid = 0;
  unsigned long long nlink = 0;
  unsigned long long mtime_ns = 0;
};

bool MetaAt(int dir, const char* name, Meta* m) {
  struct statx st;
  int flags = AT_SYMLINK_NOFOLLOW | (name[0] == '\0' ? AT_EMPTY_PATH : 0);
  if (::statx(dir, name, flags, STATX_TYPE | STATX_MODE | STATX_UID | STATX_NLINK | STATX_MTIME,
              &st) != 0)
    return false;
  m->mode = st.stx_mode;
  m->uid = st.stx_uid;
  m->nlink = st.stx_nlink;
  m->mtime_ns = RealNs(st.stx_mtime.tv_sec, st.stx_mtime.tv_nsec);
  return true;
}

// Whether a time (CLOCK_REALTIME ns) is more than an idle timeout ago. One in the future (the
// clock was set back) counts as long ago: it cannot tell recent activity either way.
bool IdleSince(unsigned long long t, unsigned long long now) {
  return t > now || now - t > HoldNs();
}

// Whether a sweep is due: the root's `swept` file was stamped more than an idle timeout ago
// (or is new) and nobody sweeps right now. Then it is stamped and `*fd` holds it flock'ed for
// the sweep (its end is when the lock goes: tests wait for that with flock(1)).
bool SweepDue(const std::string& root, int* fd) {
  std::string path = root + "/" + kSweptFile;
  bool created = false;
  int f = ::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (f < 0 && errno == ENOENT) {
    f = ::open(path.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0600);
    created = f >= 0;
  }
  if (f < 0) return false;
  Meta st;
  if (::flock(f, LOCK_EX | LOCK_NB) != 0 || !MetaAt(f, "", &st) || !S_ISREG(st.mode) ||
      st.uid != ::geteuid() || (!created && !IdleSince(st.mtime_ns, RealNowNs())) ||
      ::futimens(f, nullptr) != 0) {
    ::close(f);
    return false;
  }
  *fd = f;
  return true;
}

// A pool's name: the build identity, 32 lowercase hex digits (launcher/settings.cc).
bool PoolName(const char* name) {
  size_t n = 0;
  for (; name[n] != '\0'; n++) {
    if (!((name[n] >= '0' && name[n] <= '9') || (name[n] >= 'a' && name[n] <= 'f'))) return false;
  }
  return n == 32;
}

// A positive decimal pid from `s` to `*end` (no sign, no leading zero, no overflow).
bool ParsePid(const char* s, const char** end, pid_t* pid) {
  if (*s < '1' || *s > '9') return false;
  long long v = 0;
  const char* p = s;
  for (; *p >= '0' && *p <= '9' && p - s < 10; p++) v = v * 10 + (*p - '0');
  if (v > 0x7fffffff || (*p >= '0' && *p <= '9')) return false;
  *end = p;
  *pid = static_cast<pid_t>(v);
  return true;
}

// A whole name `prefix<pid>`, or `prefix<pid>-<n>` when `suffix` (b- markers).
bool PidName(const char* name, const char* prefix, bool suffix, pid_t* pid) {
  size_t n = std::strlen(prefix);
  const char* end;
  if (std::strncmp(name, prefix, n) != 0 || !ParsePid(name + n, &end, pid)) return false;
  if (!suffix) return *end == '\0';
  if (*end != '-' || end[1] < '0' || end[1] > '9') return false;
  for (end++; *end >= '0' && *end <= '9'; end++) {
  }
  return *end == '\0';
}

// A directory as the launcher makes a pool (settings.cc PrivateDir): ours, mode 0700.
bool OursPrivate(const Meta& st) {
  return S_ISDIR(st.mode) && st.uid == ::geteuid() && (st.mode & 07777) == 0700;
}

// Whether entry `name` of a pool (`st`: its own, not a symlink's target) is ours and dead:
// nothing alive uses it. The same liveness checks as the top-up's sweep of its own pool: the
// pids the names announce, and a boot's marker lock. Anything unexpected (a name of no known
// form, another type or owner) counts as alive: the pool is left alone.
bool DeadEntry(int dir, const char* name, const Meta& st) {
  if (st.uid != ::geteuid()) return false;
  bool reg = S_ISREG(st.mode), sock = S_ISSOCK(st.mode);
  unsigned long long t;
  pid_t pid, claimer;
  bool missed;
  const char* end;
  if (std::strcmp(name, "lock") == 0 || std::strcmp(name, "boot-cache") == 0) return reg;
  if (std::strncmp(name, "boot-cache.", 11) == 0) {  // a boot cache being written (boot-cache.ts)
    return reg && ParsePid(name + 11, &end, &pid) && *end == '\0' && !Alive(pid);
  }
  if (ParseReadyName(name, &t, &pid) || ParseServerName(name, &t, &pid)) {
    return sock && !Alive(pid);
  }
  if (ParseClaimedName(name, &pid, &claimer)) return sock && !Alive(pid) && !Alive(claimer);
  if (PidName(name, "t-", false, &pid)) return sock && !Alive(pid);
  if (ParseDemandName(name, &t, &missed) || ParseUseName(name, &t)) {
    return reg && ParsePid(name + 19, &end, &pid) && *end == '\0' && !Alive(pid);
  }
  if (PidName(name, "b-", true, &pid)) {
    if (!reg) return false;
    // A booting process holds its marker locked (its fd 3) until it is ready or dead.
    int fd = ::openat(dir, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return false;
    bool dead = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
    ::close(fd);
    return dead;
  }
  return false;
}

// Removes pool `name` under `root` (an open directory) if it is ours (uid, 0700, a directory),
// nothing in it lives and nothing in it changed for an idle timeout: only while holding its
// lock (taken without waiting: a busy lock means it is in use), entries first, the lock file
// last, then the directory. A launcher of that build arriving meanwhile makes it again
// (PrivateDir; its helper's LockPool).
bool SweepPool(int root, const char* name) {
  int dir = ::openat(root, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (dir < 0) return false;
  Meta st;
  if (!MetaAt(dir, "", &st) || !OursPrivate(st)) {
    ::close(dir);
    return false;
  }
  unsigned long long newest = st.mtime_ns, now = RealNowNs();
  bool created = false;
  int lock = ::openat(dir, "lock", O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (lock < 0 && errno == ENOENT) {  // a pool that never got a top-up: lock it all the same
    lock = ::openat(dir, "lock", O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0600);
    created = lock >= 0;
  }
  if (lock < 0 || ::flock(lock, LOCK_EX | LOCK_NB) != 0) {
    if (lock >= 0) ::close(lock);
    ::close(dir);
    return false;
  }
  std::vector<std::string> names;
  bool dead = true;
  int scan = ::dup(dir);
  DIR* d = scan >= 0 ? ::fdopendir(scan) : nullptr;
  if (d == nullptr) {
    if (scan >= 0) ::close(scan);
    dead = false;
  }
  while (dead) {
    errno = 0;
    dirent* e = ::readdir(d);
    if (e == nullptr) {
      dead = errno == 0;
      break;
    }
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    Meta es;
    if (names.size() >= kSweepEntries || !MetaAt(dir, e->d_name, &es) ||
        !DeadEntry(dir, e->d_name, es)) {
      dead = false;
      break;
    }
    bool is_lock = std::strcmp(e->d_name, "lock") == 0;
    if (!(is_lock && created)) newest = std::max(newest, es.mtime_ns);
    if (!is_lock) names.push_back(e->d_name);
  }
  if (d != nullptr) ::closedir(d);
  bool removed = false;
  if (dead && IdleSince(newest, now)) {
    bool all = true;
    for (const auto& n : names) {
      if (::unlinkat(dir, n.c_str(), 0) != 0 && errno != ENOENT) all = false;
    }
    if (all && ::unlinkat(dir, "lock", 0) == 0) {
      // ENOTEMPTY: a launcher of that build came meanwhile and keeps using it.
      removed = ::unlinkat(root, name, AT_REMOVEDIR) == 0;
    }
  }
  ::close(lock);
  ::close(dir);
  return removed;
}

// Removes up to kSweepRemove stale pools of other builds under `root` (SweepPool), examining
// up to kSweepExamine whose directory did not change for an idle timeout; never `own`.
void SweepPools(const std::string& root, const std::string& own) {
  int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return;
  int scan = ::dup(fd);
  DIR* d = scan >= 0 ? ::fdopendir(scan) : nullptr;
  if (d == nullptr) {
    if (scan >= 0) ::close(scan);
    ::close(fd);
    return;
  }
  std::vector<std::string> candidates;
  unsigned long long now = RealNowNs();
  while (dirent* e = ::readdir(d)) {
    if (!PoolName(e->d_name) || own == e->d_name) continue;
    Meta st;
    if (!MetaAt(fd, e->d_name, &st) || !OursPrivate(st) || !IdleSince(st.mtime_ns, now))
      continue;
    candidates.push_back(e->d_name);
    if (candidates.size() >= kSweepExamine) break;
  }
  ::closedir(d);
  size_t removed = 0;
  for (const auto& name : candidates) {
    if (SweepPool(fd, name.c_str()) && ++removed >= kSweepRemove) break;
  }
  ::close(fd);
}

// The pool's lock, flock'ed. A sweep of another build's launcher (SweepPools) may have removed
// the pool since the launcher prepared it, or while this helper waited for the lock (it
// removes the lock file last): the pool directory is made again (0700, as the launcher's
// PrivateDir makes it) and a lock file that is no longer linked is opened again, so two helpers
// never hold locks of different files. -1 when neither works.
int LockPool(const std::string& pool) {
  std::string lock_path = pool + "/lock";
  for (int attempt = 0; attempt < 3; attempt++) {
    int lock = ::open(lock_path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (lock < 0 && errno == ENOENT && ::mkdir(pool.c_str(), 0700) == 0) continue;
    if (lock < 0) return -1;
    Meta st;
    if (::flock(lock, LOCK_EX) != 0 || !MetaAt(lock, "", &st)) {
      ::close(lock);
      return -1;
    }
    if (st.nlink > 0) return lock;
    ::close(lock);
  }
  return -1;
}

// The idle cpu cgroup a boot forked here enters (EnterIdleGroup), for removing it.
std::string IdleGroupDir() {
  std::string dir = CpuCgroupDir(0);
  if (dir.empty()) return "";
  size_t n = std::strlen(kBootGroup);
  bool inside = dir.size() > n && dir.compare(dir.size() - n, n, kBootGroup) == 0 &&
                dir[dir.size() - n - 1] == '/';
  return inside ? dir : dir + "/" + kBootGroup;
}

bool WriteFile(const std::string& path, const char* text);

// Makes the idle cpu cgroup (EnterIdleGroup) before the boots that enter it: a helper holding a
// burst's boots back (ThrottleIdleGroup) holds back those it is about to fork, too.
void MakeIdleGroup() {
  std::string group = IdleGroupDir();
  if (group.empty() || (::mkdir(group.c_str(), 0755) != 0 && errno != EEXIST)) return;
  if (!WriteFile(group + "/cpu.idle", "1")) ::rmdir(group.c_str());  // not usable here
}

// Runs in the forked helper: sweep, count, boot.
[[noreturn]] void TopUpChild(const std::string& pool, size_t target, size_t cap,
                             size_t max_boots, const BootSpec& spec, bool sweep) {
  int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    // Release containerd's pipes at once: `start`'s caller waits until they close.
    for (int fd = 0; fd < 3; fd++) ::dup2(null, fd);
    ::close(null);
  }
  ::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
  int lock = LockPool(pool);
  if (lock < 0) ::_exit(1);

  size_t ready = 0, booting = 0, demand = 0, misses = 0, burst_claims = 0;
  bool dead_boot = false;
  std::vector<std::string> boots;
  unsigned long long now = NowNs(), last_claim = 0, last_use = 0;
  DIR* dir = ::opendir(pool.c_str());
  if (dir == nullptr) ::_exit(1);
  while (dirent* e = ::readdir(dir)) {
    const char* name = e->d_name;
    std::string path = pool + "/" + name;
    unsigned long long t;
    pid_t pid, claimer;
    bool missed;
    if (ParseDemandName(name, &t, &missed)) {
      if (!Recent(t, now)) {
        ::unlink(path.c_str());
      } else {
        demand++;
        misses += missed;
        burst_claims += Within(t, now, kBurstWindowMs);
        last_claim = std::max(last_claim, t);
      }
    } else if (ParseUseName(name, &t)) {
      if (StaleUse(t, now)) ::unlink(path.c_str());
      else last_use = std::max(last_use, t);
    } else if (ParseReadyName(name, &t, &pid)) {
      if (Alive(pid)) ready++;
      else ::unlink(path.c_str());
    } else if (ParseServerName(name, &t, &pid)) {
      if (!Alive(pid)) ::unlink(path.c_str());  // action servers are not counted: not fresh
    } else if (ParseClaimedName(name, &pid, &claimer)) {
      if (!Alive(claimer)) ::unlink(path.c_str());
    } else if (name[0] == 't' && name[1] == '-') {
      long p = std::strtol(name + 2, nullptr, 10);
      if (p > 0 && !Alive(static_cast<pid_t>(p))) ::unlink(path.c_str());
    } else if (name[0] == 'b' && name[1] == '-') {
      if (StaleMarker(path)) {
        ::unlink(path.c_str());
        dead_boot = true;
      } else {
        booting++;
        boots.push_back(path);
      }
    }
  }
  ::closedir(dir);
  // A boot killed while it waited in the idle cpu cgroup (SIGKILL, the OOM killer) never left
  // it, so the last one out did not remove it: try now. EBUSY while boots wait in it; a boot
  // entering it meanwhile finds it gone and makes it again (EnterIdleGroup).
  if (dead_boot) {
    std::string group = IdleGroupDir();
    if (!group.empty()) ::rmdir(group.c_str());
  }

  target = Grow(lock, target, Wanted(target, demand, misses, cap), cap, now);
  size_t have = ready + booting;
  size_t missing = target > have ? target - have : 0;
  size_t slots = max_boots > booting ? max_boots - booting : 0;
  size_t n = std::min(missing, slots);
  bool background = Background(misses, ready, target, last_claim, last_use, now);
  bool lowers = CanLower();
  if (!background && lowers) {
    for (const auto& path : boots) {
      pid_t pid = MarkerPid(path);
      if (pid > 0) {
        LeaveIdleGroup(pid);
        SetAutogroupNice(pid, 0, 0);
      }
    }
  }
  // A burst whose claims still find standbys: its boots (this helper's and those under way) are
  // held back until the claims stop; the helper that held them back lets them go then. A
  // foreground top-up (every boot under way is needed now) lets them go at once, and so does a
  // top-up after the claims stopped (a ready standby's), should that helper have died.
  bool lift = false;
  if (background && lowers && burst_claims >= kBurstClaims) {
    if (n > 0) MakeIdleGroup();  // this helper's boots enter it held back
    bool was_on = false;
    lift = ThrottleIdleGroup(true, &was_on) && !was_on;
  } else if (lowers && (!background || !Within(std::max(last_claim, last_use), now, kQuietMs))) {
    ThrottleIdleGroup(false);
  }
  for (size_t i = 0; i < n; i++) {
    std::string marker_path = pool + "/b-" + std::to_string(::getpid()) + "-" + std::to_string(i);
    int marker = ::open(marker_path.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    if (marker < 0) continue;
    if (::flock(marker, LOCK_EX) != 0) {
      ::close(marker);
      ::unlink(marker_path.c_str());
      continue;
    }
    pid_t g = ::fork();
    if (g == 0) Boot(spec, marker, background);
    if (g > 0) ::dprintf(marker, "%d\n", static_cast<int>(g));
    ::close(marker);
    if (g < 0) ::unlink(marker_path.c_str());
  }
  // In the background only because claims still come: raise them once the claims stop.
  // In a child of its own: a launcher may wait for this helper (TopUp's `wait`), never for that.
  bool raise = background && 2 * ready < target && lowers;
  if ((raise || lift) && ::fork() == 0) {
    ::syscall(SYS_close_range, 3U, ~0U, 0U);  // the pool lock included: not held while waiting
    WhenQuiet(pool, std::max(last_claim, last_use), raise, lift);
    ::_exit(0);
  }
  // The other builds' pools, at most once per idle timeout (SweepDue), in a child of its own
  // too: the launcher may wait for this helper (TopUp's `wait`, the cold path), never for that.
  int swept = -1;
  size_t slash = pool.rfind('/');
  if (sweep && slash != std::string::npos && slash > 0 &&
      SweepDue(pool.substr(0, slash), &swept)) {
    if (::fork() == 0) {
      // Keeps the `swept` lock (fd 3) while it works; the pool lock and the rest are closed.
      if (swept != 3 && ::dup2(swept, 3) < 0) ::_exit(1);
      ::syscall(SYS_close_range, 4U, ~0U, 0U);
      SweepPools(pool.substr(0, slash), pool.substr(slash + 1));
      ::_exit(0);
    }
  }
  ::_exit(0);
}

}  // namespace

std::string AutogroupPath(pid_t pid) {
  return pid == 0 ? "/proc/self/autogroup" : "/proc/" + std::to_string(pid) + "/autogroup";
}

bool AutogroupNice(pid_t pid, int* nice) {
  int fd = ::open(AutogroupPath(pid).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[64] = {};
  ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
  int err = errno;
  ::close(fd);
  const char* at = n > 0 ? std::strstr(buf, " nice ") : nullptr;
  if (at == nullptr) {
    errno = n < 0 ? err : EINVAL;
    return false;
  }
  *nice = static_cast<int>(std::strtol(at + 6, nullptr, 10));
  return true;
}

bool SetAutogroupNice(pid_t pid, int nice, int retry_ms) {
  int current;
  // Unreadable (no CONFIG_SCHED_AUTOGROUP): nothing a boot could have lowered either.
  if (!AutogroupNice(pid, &current)) return pid == 0;
  if (current == nice) return true;
  char text[8];
  int len = std::snprintf(text, sizeof(text), "%d", nice);
  for (int waited = 0;; waited += 10) {
    int fd = ::open(AutogroupPath(pid).c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return false;
    bool ok = ::write(fd, text, static_cast<size_t>(len)) == len;
    int err = errno;
    ::close(fd);
    if (ok) return true;
    if (err != EAGAIN || waited >= retry_ms) {
      errno = err;
      return false;
    }
    timespec pause{0, 10 * 1000 * 1000};
    ::nanosleep(&pause, nullptr);
  }
}

// The directory of process `pid`'s cgroup in the cpu controller (0: this one): a v1 hierarchy
// mounted with the cpu option, else the v2 one. Empty when there is none.
std::string CpuCgroupDir(pid_t pid) {
  std::string mount, v2mount;
  if (FILE* m = ::setmntent("/proc/mounts", "r")) {
    while (mntent* e = ::getmntent(m)) {
      if (std::strcmp(e->mnt_type, "cgroup2") == 0 && v2mount.empty()) v2mount = e->mnt_dir;
      if (std::strcmp(e->mnt_type, "cgroup") == 0 && ::hasmntopt(e, "cpu") != nullptr &&
          mount.empty())
        mount = e->mnt_dir;
    }
    ::endmntent(m);
  }
  std::string file = pid == 0 ? "/proc/self/cgroup" : "/proc/" + std::to_string(pid) + "/cgroup";
  FILE* f = ::fopen(file.c_str(), "re");
  if (f == nullptr) return "";
  std::string found;
  char line[4096];
  while (std::fgets(line, sizeof(line), f) != nullptr) {
    std::string l(line);
    if (!l.empty() && l.back() == '\n') l.pop_back();
    size_t a = l.find(':'), b = a == std::string::npos ? a : l.find(':', a + 1);
    if (b == std::string::npos) continue;
    std::string controllers = "," + l.substr(a + 1, b - a - 1) + ",";
    std::string path = l.substr(b + 1);
    if (!mount.empty() && controllers.find(",cpu,") != std::string::npos) {
      found = mount + path;
      break;
    }
    if (mount.empty() && controllers == ",," && !v2mount.empty()) found = v2mount + path;
  }
  std::fclose(f);
  while (found.size() > 1 && found.back() == '/') found.pop_back();
  return found;
}

namespace {

bool WriteFile(const std::string& path, const char* text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  size_t len = std::strlen(text);
  bool ok = ::write(fd, text, len) == static_cast<ssize_t>(len);
  int saved = errno;
  ::close(fd);
  errno = saved;
  return ok;
}

bool InIdleGroup(const std::string& dir) {
  size_t n = std::strlen(kBootGroup);
  return dir.size() > n && dir.compare(dir.size() - n, n, kBootGroup) == 0 &&
         dir[dir.size() - n - 1] == '/';
}

}  // namespace

bool EnterIdleGroup() {
  std::string dir = CpuCgroupDir(0);
  if (dir.empty()) return false;
  if (InIdleGroup(dir)) return true;
  std::string group = dir + "/" + kBootGroup;
  for (int attempt = 0; attempt < 3; attempt++) {
    if (::mkdir(group.c_str(), 0755) != 0 && errno != EEXIST) return false;
    if (WriteFile(group + "/cpu.idle", "1") && WriteFile(group + "/cgroup.procs", "0")) return true;
    // The last process out removed it between our mkdir and our move (LeaveIdleGroup): again.
    if (errno != ENOENT && errno != ENODEV) break;
  }
  ::rmdir(group.c_str());  // not usable here (no cpu.idle, the controller not handed down)
  return false;
}

bool ThrottleIdleGroup(bool on, bool* was_on) {
  std::string group = IdleGroupDir();
  if (group.empty()) return false;
  // cgroup v2: cpu.max ("$quota $period"); v1: cpu.cfs_quota_us (-1: none).
  std::string v2 = group + "/cpu.max", v1 = group + "/cpu.cfs_quota_us";
  bool unified = ::access(v2.c_str(), F_OK) == 0;
  const std::string& file = unified ? v2 : v1;
  if (was_on != nullptr) {
    char buf[64] = {};
    int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    ssize_t got = ::read(fd, buf, sizeof(buf) - 1);
    ::close(fd);
    *was_on = got > 0 && (unified ? std::strncmp(buf, "max", 3) != 0 : buf[0] != '-');
  }
  // 1 ms per 100 ms (v1's default period): the least quota the kernel allows, so a boot held
  // back by a helper that died still ends, slowly, and its standby's top-up lets the others go.
  const char* text = unified ? (on ? "1000 100000" : "max 100000") : (on ? "1000" : "-1");
  return WriteFile(file, text);
}

bool LeaveIdleGroup(pid_t pid) {
  std::string dir = CpuCgroupDir(pid);
  if (!InIdleGroup(dir)) return true;
  std::string parent = dir.substr(0, dir.size() - std::strlen(kBootGroup) - 1);
  std::string text = std::to_string(pid == 0 ? ::getpid() : pid);
  if (!WriteFile(parent + "/cgroup.procs", text.c_str())) return false;
  // The last one out removes the group (EBUSY while a boot still waits in it), so nothing stays
  // behind on a machine that stopped starting containers; a boot entering it meanwhile finds it
  // gone and waits behind its autogroup instead (EnterIdleGroup fails).
  ::rmdir(dir.c_str());
  return true;
}

size_t MaxTarget() {
  const char* v = ::getenv("CONTAINERD_SHIM_WARM_MAX");
  if (v == nullptr || *v == '\0') return 16;
  char* end = nullptr;
  unsigned long n = std::strtoul(v, &end, 10);
  if (*end != '\0') return 16;
  return std::min<size_t>(n, 64);
}

void RecordDemand(const std::string& pool, size_t cap, bool missed) {
  DIR* dir = ::opendir(pool.c_str());
  if (dir == nullptr) return;
  unsigned long long now = NowNs(), t, oldest_t = ~0ull;
  size_t recent = 0, misses = 0;
  std::string oldest;  // the oldest recent claim that got a standby
  bool m;
  while (dirent* e = ::readdir(dir)) {
    if (!ParseDemandName(e->d_name, &t, &m)) continue;
    if (!Recent(t, now)) {
      ::unlink((pool + "/" + e->d_name).c_str());
    } else {
      recent++;
      misses += m;
      if (!m && t < oldest_t) {
        oldest_t = t;
        oldest = e->d_name;
      }
    }
  }
  ::closedir(dir);
  std::string name = MarkerName(missed ? 'm' : 'd', now);
  // Past the cap the pool grows no further: no need to count more (one miss still counts). The
  // latest claim's time still counts (pool.cc Background): the oldest hit becomes this one.
  if (recent >= cap && !(missed && misses == 0)) {
    if (!missed && !oldest.empty()) ::rename((pool + "/" + oldest).c_str(), (pool + name).c_str());
    return;
  }
  CreateMarker(pool + name);
}

void RecordUse(const std::string& pool) {
  DIR* dir = ::opendir(pool.c_str());
  if (dir == nullptr) return;
  unsigned long long now = NowNs(), t;
  std::string keep;  // one marker to rename (racing launchers may have left more)
  while (dirent* e = ::readdir(dir)) {
    if (!ParseUseName(e->d_name, &t)) continue;
    if (keep.empty() && !StaleUse(t, now)) keep = e->d_name;
    else ::unlink((pool + "/" + e->d_name).c_str());
  }
  ::closedir(dir);
  std::string name = MarkerName('u', now);
  if (!keep.empty() && ::rename((pool + "/" + keep).c_str(), (pool + name).c_str()) == 0) return;
  CreateMarker(pool + name);
}

bool PoolLacks(const std::string& pool, size_t target, size_t cap) {
  DIR* dir = ::opendir(pool.c_str());
  if (dir == nullptr) return false;
  size_t have = 0, demand = 0, misses = 0;
  unsigned long long now = NowNs(), t;
  bool missed;
  while (dirent* e = ::readdir(dir)) {
    if ((e->d_name[0] == 's' || e->d_name[0] == 'b') && e->d_name[1] == '-') {
      have++;
    } else if (ParseDemandName(e->d_name, &t, &missed) && Recent(t, now)) {
      demand++;
      misses += missed;
    }
  }
  ::closedir(dir);
  size_t held = std::min(HeldTarget(pool, now), cap);
  return have < std::max(Wanted(target, demand, misses, cap), held);
}

namespace {
char* cmdline_area = nullptr;
size_t cmdline_length = 0;
}  // namespace

void SetCommandLineArea(int argc, char** argv) {
  if (argc <= 0 || argv[0] == nullptr) return;
  char* end = argv[0] + std::strlen(argv[0]) + 1;
  for (int i = 1; i < argc && argv[i] == end; i++) end = argv[i] + std::strlen(argv[i]) + 1;
  cmdline_area = argv[0];
  cmdline_length = static_cast<size_t>(end - argv[0]);
}

void TopUp(const std::string& pool, size_t target, size_t cap, size_t max_boots,
           const BootSpec& spec, bool wait, bool sweep) {
  if (target == 0) return;
  // The helper's title is written before the fork, not by the child: on a busy machine the
  // child may not run for a while, showing the launcher's command line after it exited.
  std::string saved;
  if (cmdline_area != nullptr) {
    saved.assign(cmdline_area, cmdline_length);
    std::memset(cmdline_area, 0, cmdline_length);
    std::memcpy(cmdline_area, kTopUpTitle, std::min(cmdline_length - 1, sizeof(kTopUpTitle) - 1));
  }
  pid_t c = ::fork();
  if (c == 0) TopUpChild(pool, target, cap, max_boots, spec, sweep);
  if (cmdline_area != nullptr) std::memcpy(cmdline_area, saved.data(), cmdline_length);
  if (c > 0 && wait) {
    int status;
    while (::waitpid(c, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

}  // namespace warm

// Claiming and verifying a standby (see claim.h).
#include "claim.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "protocol.h"

namespace warm {

namespace {

// At most this many entries are tried per claim: a directory full of junk must not stall a start.
constexpr int kMaxAttempts = 6;
constexpr size_t kEnvironLimit = 1u << 20;

int PidfdOpen(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

int ConnectPath(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    errno = ENAMETOOLONG;
    return -1;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int r;
  do {
    r = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  } while (r != 0 && errno == EINTR);
  if (r != 0) {
    int err = errno;
    ::close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

enum class Marker { kPresent, kAbsent, kGone };

// Whether /proc/<pid>/environ holds exactly `entry` ("NAME=value"). kGone when it reads empty or
// not at all: the process is exiting (the kernel drops its memory, and with it the environment,
// before it closes its files, so its socket can still be connected to) or already reaped.
Marker EnvironMarker(pid_t pid, const std::string& entry) {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/environ", static_cast<int>(pid));
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Marker::kGone;
  std::string data;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > kEnvironLimit) break;
  }
  ::close(fd);
  if (data.empty()) return Marker::kGone;
  size_t pos = 0;
  while (pos < data.size()) {
    size_t end = data.find('\0', pos);
    if (end == std::string::npos) end = data.size();
    if (data.compare(pos, end - pos, entry) == 0) return Marker::kPresent;
    pos = end + 1;
  }
  return Marker::kAbsent;
}

enum class Exe { kSame, kOther, kGone };

// What /proc/<pid>/exe is: `node`, another file, or nothing any more (kGone: the process is
// exiting, its memory and with it the link already dropped, or reaped).
Exe Executable(pid_t pid, const FileId& node) {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/exe", static_cast<int>(pid));
  FileId id;
  if (!IdOf(path, &id)) return errno == ENOENT || errno == ESRCH ? Exe::kGone : Exe::kOther;
  return id.dev == node.dev && id.ino == node.ino ? Exe::kSame : Exe::kOther;
}

void Append(std::string* why, const std::string& text) {
  if (why == nullptr) return;
  if (!why->empty()) *why += "; ";
  *why += text;
}

std::string Errno(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// Connects to one claimed socket and checks the peer; the connection on success, else -1.
bool Verify(const std::string& pool, const std::string& claimed, pid_t pid,
            const FileId& node, int hello_timeout_ms, Standby* out, std::string* why) {
  int fd = ConnectPath(claimed);
  ::unlink(claimed.c_str());  // whatever happens next, the name is used up
  if (fd < 0) {
    Append(why, Errno("connect"));  // a standby that died: its socket was stale
    return false;
  }
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    Append(why, Errno("SO_PEERCRED"));
    ::close(fd);
    return false;
  }
  if (cred.uid != ::geteuid() || cred.pid != pid) {
    Append(why, "peer uid " + std::to_string(cred.uid) + " pid " + std::to_string(cred.pid) +
                    " is not the standby its name announces");
    ::close(fd);
    return false;
  }
  // Pin the process before looking at it, so the checks and a later kill hit the same one.
  int pidfd = PidfdOpen(pid);
  Marker marker = EnvironMarker(pid, std::string(kStandbyEnv) + "=" + pool);
  Exe exe = marker == Marker::kPresent ? Executable(pid, node) : Exe::kOther;
  if (marker != Marker::kPresent || exe != Exe::kSame) {
    // A standby answers the moment it accepts: a stale one says so and exits, which on a busy
    // machine can be done before we look at it, or while we do (its environment read, then its
    // executable gone). Its answer is still in the socket; it is only ever a refusal, so it
    // needs no trust, and it names the real reason.
    bool gone = marker == Marker::kGone || exe == Exe::kGone;
    uint16_t status = 0;
    uint32_t hello_pid = 0;
    std::string hello_pool;
    if (gone && RecvHello(fd, hello_timeout_ms, &status, &hello_pid, &hello_pool) &&
        status == kStale && hello_pid == static_cast<uint32_t>(pid) && hello_pool == pool) {
      Append(why, "pid " + std::to_string(pid) + ": stale (its modules changed on disk)");
    } else if (gone) {
      Append(why, "pid " + std::to_string(pid) + " is exiting");
    } else {
      Append(why, "pid " + std::to_string(pid) +
                      (marker == Marker::kAbsent ? " is not a standby of this pool"
                                                 : " does not run this node"));
    }
    if (pidfd >= 0) ::close(pidfd);
    ::close(fd);
    return false;
  }
  uint16_t status = 0;
  uint32_t hello_pid = 0;
  std::string hello_pool;
  if (!RecvHello(fd, hello_timeout_ms, &status, &hello_pid, &hello_pool)) {
    Append(why, "pid " + std::to_string(pid) + ": " + Errno("hello"));
    if (pidfd >= 0) ::close(pidfd);
    ::close(fd);
    return false;
  }
  if (status != kReady || hello_pid != static_cast<uint32_t>(pid) || hello_pool != pool) {
    Append(why, "pid " + std::to_string(pid) +
                    (status == kStale ? ": stale (its modules changed on disk)" : ": bad hello"));
    if (pidfd >= 0) ::close(pidfd);
    ::close(fd);
    return false;
  }
  out->fd = fd;
  out->pid = pid;
  out->pidfd = pidfd;
  return true;
}

// <kind>-<16 hex>-<pid>
bool ParseTimedName(char kind, const char* name, unsigned long long* ready_ns, pid_t* pid) {
  if (name[0] != kind || name[1] != '-') return false;
  char* end = nullptr;
  errno = 0;
  unsigned long long t = std::strtoull(name + 2, &end, 16);
  if (errno != 0 || end != name + 18 || *end != '-') return false;
  char* end2 = nullptr;
  long p = std::strtol(end + 1, &end2, 10);
  if (*end2 != '\0' || p <= 0 || end2 == end + 1) return false;
  *ready_ns = t;
  *pid = static_cast<pid_t>(p);
  return true;
}

}  // namespace

bool ParseReadyName(const char* name, unsigned long long* ready_ns, pid_t* pid) {
  return ParseTimedName('s', name, ready_ns, pid);
}

bool ParseServerName(const char* name, unsigned long long* ready_ns, pid_t* pid) {
  return ParseTimedName('a', name, ready_ns, pid);
}

bool ParseClaimedName(const char* name, pid_t* pid, pid_t* claimer) {
  if (name[0] != 'c' || name[1] != '-') return false;
  char* end = nullptr;
  long p = std::strtol(name + 2, &end, 10);
  if (end == name + 2 || *end != '-' || p <= 0) return false;
  char* end2 = nullptr;
  long c = std::strtol(end + 1, &end2, 10);
  if (end2 == end + 1 || *end2 != '\0' || c <= 0) return false;
  *pid = static_cast<pid_t>(p);
  *claimer = static_cast<pid_t>(c);
  return true;
}

bool ProcessExists(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno != EPERM) return false;
  // A zombie still answers kill(0) until its parent reaps it, and under a subreaper that never
  // does (a container's pid 1 that is no init) it would count as a ready standby forever.
  char path[32];
  std::snprintf(path, sizeof(path), "/proc/%d/stat", static_cast<int>(pid));
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno != ENOENT;  // no /proc (or not ours to read): kill(0) decides
  char buf[512];
  ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
  ::close(fd);
  if (n <= 0) return true;
  buf[n] = '\0';
  const char* paren = std::strrchr(buf, ')');  // the name may hold spaces and parentheses
  if (paren == nullptr || paren[1] != ' ') return true;
  return paren[2] != 'Z' && paren[2] != 'X';
}

bool IdOf(const char* path, FileId* id) {
  struct statx st;
  if (::statx(AT_FDCWD, path, 0, STATX_INO, &st) != 0) return false;
  id->dev = (static_cast<unsigned long long>(st.stx_dev_major) << 32) | st.stx_dev_minor;
  id->ino = st.stx_ino;
  return true;
}

bool Claim(const std::string& pool, const FileId& node_stat, int hello_timeout_ms,
           const char* kinds, Standby* out, std::string* why) {
  DIR* dir = ::opendir(pool.c_str());
  if (dir == nullptr) {
    Append(why, Errno("opendir"));
    return false;
  }
  struct Entry {
    unsigned long long ready_ns;
    std::string name;
    pid_t pid;
    bool server;
    bool operator<(const Entry& o) const { return ready_ns < o.ready_ns; }
  };
  std::vector<Entry> fresh, servers;
  while (dirent* e = ::readdir(dir)) {
    unsigned long long t;
    pid_t pid;
    if (ParseReadyName(e->d_name, &t, &pid)) fresh.push_back({t, e->d_name, pid, false});
    else if (ParseServerName(e->d_name, &t, &pid)) servers.push_back({t, e->d_name, pid, true});
  }
  ::closedir(dir);
  std::sort(fresh.begin(), fresh.end());
  std::sort(servers.rbegin(), servers.rend());
  std::vector<Entry> ready;
  for (const char* k = kinds; *k != '\0'; k++) {
    if (*k == 'a') ready.insert(ready.end(), servers.begin(), servers.end());
    if (*k == 's') ready.insert(ready.end(), fresh.begin(), fresh.end());
  }
  if (ready.empty()) {
    Append(why, "no standby ready");
    return false;
  }
  int attempts = 0;
  for (const auto& entry : ready) {
    if (attempts++ >= kMaxAttempts) break;
    pid_t pid = entry.pid;
    std::string from = pool + "/" + entry.name;
    std::string to = pool + "/c-" + std::to_string(pid) + "-" + std::to_string(::getpid());
    if (::rename(from.c_str(), to.c_str()) != 0) {
      if (errno != ENOENT) Append(why, Errno("rename"));
      continue;  // ENOENT: another client got it first
    }
    if (Verify(pool, to, pid, node_stat, hello_timeout_ms, out, why)) {
      out->server = entry.server;
      return true;
    }
  }
  if (why != nullptr && why->empty()) *why = "every standby was taken";
  return false;
}

void Release(Standby* s) {
  if (s->fd >= 0) ::close(s->fd);
  if (s->pidfd >= 0) ::close(s->pidfd);
  s->fd = -1;
  s->pidfd = -1;
}

void Kill(Standby* s) {
#ifdef SYS_pidfd_send_signal
  if (s->pidfd >= 0) {
    ::syscall(SYS_pidfd_send_signal, s->pidfd, SIGKILL, nullptr, 0);
  } else
#endif
      if (s->pid > 0) {
    ::kill(s->pid, SIGKILL);
  }
  Release(s);
}

}  // namespace warm

// Stocking a pool directory with standbys (see pool.h).
#include "pool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

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

[[noreturn]] void Boot(const BootSpec& spec, int marker) {
  ::setsid();
  // Off the critical path: a boot only gets the CPU that starting containers leave (root can
  // lower the nice value again at handover; others would stay slow, so they boot at normal).
  if (::geteuid() == 0) ::setpriority(PRIO_PROCESS, 0, 19);
  if (marker != 3) {
    if (::dup2(marker, 3) < 0) ::_exit(127);
  } else {
    ::fcntl(3, F_SETFD, 0);
  }
  if (::syscall(SYS_close_range, 4U, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    for (int fd = 4; fd < 1024; fd++) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
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

// Runs in the forked helper: sweep, count, boot.
[[noreturn]] void TopUpChild(const std::string& pool, size_t target, size_t max_boots,
                             const BootSpec& spec) {
  int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    // Release containerd's pipes at once: `start`'s caller waits until they close.
    for (int fd = 0; fd < 3; fd++) ::dup2(null, fd);
    ::close(null);
  }
  ::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
  std::string lock_path = pool + "/lock";
  int lock = ::open(lock_path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (lock < 0 || ::flock(lock, LOCK_EX) != 0) ::_exit(1);

  size_t ready = 0, booting = 0;
  DIR* dir = ::opendir(pool.c_str());
  if (dir == nullptr) ::_exit(1);
  while (dirent* e = ::readdir(dir)) {
    const char* name = e->d_name;
    std::string path = pool + "/" + name;
    unsigned long long t;
    pid_t pid, claimer;
    if (ParseReadyName(name, &t, &pid)) {
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
      if (StaleMarker(path)) ::unlink(path.c_str());
      else booting++;
    }
  }
  ::closedir(dir);

  size_t have = ready + booting;
  size_t missing = target > have ? target - have : 0;
  size_t slots = max_boots > booting ? max_boots - booting : 0;
  size_t n = std::min(missing, slots);
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
    if (g == 0) Boot(spec, marker);
    ::close(marker);
    if (g < 0) ::unlink(marker_path.c_str());
  }
  ::_exit(0);
}

}  // namespace

bool PoolLacks(const std::string& pool, size_t target) {
  DIR* dir = ::opendir(pool.c_str());
  if (dir == nullptr) return false;
  size_t have = 0;
  while (dirent* e = ::readdir(dir)) {
    if ((e->d_name[0] == 's' || e->d_name[0] == 'b') && e->d_name[1] == '-') have++;
  }
  ::closedir(dir);
  return have < target;
}

void TopUp(const std::string& pool, size_t target, size_t max_boots, const BootSpec& spec,
           bool wait) {
  if (target == 0) return;
  pid_t c = ::fork();
  if (c == 0) TopUpChild(pool, target, max_boots, spec);
  if (c > 0 && wait) {
    int status;
    while (::waitpid(c, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

}  // namespace warm

// Keeping a pool directory stocked with standbys (used by the launcher after each invocation and
// by each standby once it is ready, so a pool refills itself while boots are rationed). Entries
// besides the sockets of claim.h:
//   lock              flock'ed while counting and booting, so two processes never over-boot
//   b-<pid>-<n>       a booting standby's marker, flock'ed by the booting process (its fd 3)
//                     until it is ready or dead, so a boot that died is told apart
//   t-<pid>           a standby binding its socket before publishing it as s-...
#pragma once
#include <sys/types.h>

#include <cstddef>
#include <string>
#include <vector>

namespace warm {

// What a standby is booted with: node, its flags and the entry script, and the environment
// (the launcher's, plus the shim's boot environment and the standby marker).
struct BootSpec {
  std::string node;
  std::vector<std::string> argv;
  std::vector<std::string> env;
};

// Cheap (no lock): whether ready plus booting standbys are fewer than `target`.
bool PoolLacks(const std::string& pool, size_t target);

// Forks a helper that sweeps stale entries and boots the missing standbys (at most
// `max_boots` booting at a time; each in its own session, stdio on /dev/null, nice 19 when we
// are root), then exits; the booted standbys are orphans (reaped by init or a subreaper).
// Waits for the helper (a few fork()s) when `wait` is set.
void TopUp(const std::string& pool, size_t target, size_t max_boots, const BootSpec& spec,
           bool wait);

}  // namespace warm

// Keeping a pool directory stocked with standbys (used by the launcher after each invocation and
// by each standby once it is ready, so a pool refills itself while boots are rationed). Entries
// besides the sockets of claim.h:
//   lock              flock'ed while counting and booting, so two processes never over-boot;
//                     holds the target grown by demand and until when it holds (pool.cc Grow)
//   b-<pid>-<n>       a booting standby's marker, flock'ed by the booting process (its fd 3)
//                     until it is ready or dead, so a boot that died is told apart; holds the
//                     booting process's pid. Sweeping a dead one's also tries to remove the
//                     idle cpu cgroup (kBootGroup), which a boot killed in it never left
//   t-<pid>           a standby binding its socket before publishing it as s-...
//   d-<16 hex: monotonic ns>-<pid>, m-<same>
//                     a claim in the last kDemandWindowMs that got a standby (d) or missed (m):
//                     demand. When some missed, the pool grows to their number (capped) for an
//                     idle timeout; older ones are swept by the next claim or top-up, and no
//                     more than the cap (+1 miss) are kept, so the directory stays small.
//   u-<16 hex: monotonic ns>-<pid>
//                     the latest claim of an action server, or delete answered from a receipt
//                     (RecordUse): no demand (it used no fresh standby), but activity:
//                     containerd is still at work (a burst's removal runs its deletes), so
//                     background boots stay there (Background, WhenQuiet). One kept,
//                     renamed by each; swept like the demand markers once older than
//                     kDemandWindowMs.
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

// Claims counted as demand: those of the last 2 s (a burst of `ctr run`s spreads over that).
constexpr long long kDemandWindowMs = 2000;
// A pool whose claims stopped this long ago (none missed) is between bursts: a pool less
// than half ready then boots its standbys at full weight (pool.cc Background).
constexpr long long kQuietMs = 300;
// A burst: at least kBurstClaims claims of fresh standbys (hit or miss) within kBurstWindowMs
// (containerd starting containers in parallel; one `ctr run` after another claims every 70 ms
// or more). Its boots are held back (ThrottleIdleGroup) until the claims stop. Three within
// 100 ms: claims under 50 ms apart on average, as four within 150 ms, one claim sooner.
constexpr size_t kBurstClaims = 3;
constexpr long long kBurstWindowMs = 100;
// The cap on the demand-grown target: CONTAINERD_SHIM_WARM_MAX (default 16, at most 64).
size_t MaxTarget();

// Records one claim in `pool`'s demand, `missed` when it found no standby; cheap: one
// readdir, at most one create. Stops counting at `cap`.
void RecordDemand(const std::string& pool, size_t cap, bool missed);

// Records an action server's claim, or a delete answered from a receipt, in `pool` (u-...,
// above): the one marker renamed to now, or
// created; older ones swept. One readdir, one rename or create.
void RecordUse(const std::string& pool);

// Cheap (no lock): whether ready plus booting standbys are fewer than the target: `target`;
// or, when recent claims missed, their number up to `cap`; or a target that demand grew
// within the last idle timeout (CONTAINERD_SHIM_WARM_IDLE_MS).
bool PoolLacks(const std::string& pool, size_t target, size_t cap);

// Forks a helper that sweeps stale entries and boots the missing standbys up to the target
// (as PoolLacks; at most `max_boots` booting at a time; each in its own session, stdio on
// /dev/null, SCHED_IDLE and nice 19, where it can leave them again once ready; in an idle cpu
// cgroup (kBootGroup; else its session's autogroup at nice 19) too unless claims missed in the
// last 2 s (a miss older than kQuietMs with an action server's claim since does not count), or
// fewer than half the target are ready and no claim or action server's claim came in the last
// kQuietMs;
// which also puts the boots under way back at full weight), then exits; the booted standbys are orphans (reaped by init or a subreaper).
// In a burst (kBurstClaims within kBurstWindowMs, all finding standbys) it holds the group's
// boots back (ThrottleIdleGroup), and a child of its own lets them go once no claim came for
// kQuietMs (or after kDemandWindowMs); so does any top-up after the claims stopped.
// Waits for the helper (a few fork()s) when `wait` is set. The helper shows a command line of
// its own (SetCommandLineArea), not the launcher's.
// `sweep` (the launcher's top-ups): at most once per idle timeout (the root's `swept` file),
// the helper also forks a child that removes stale pools of other builds under the pool root
// (an upgraded or repackaged binary leaves its old one behind): a directory of ours (uid, mode
// 0700, no symlink, a 32-hex name), not `pool`, holding only entries of the known forms, none
// of them alive (the pids their names announce, a boot's marker lock), nothing in it changed
// for an idle timeout; taken under its lock (without waiting), the lock file removed last. At
// most 4 pools removed (16 examined) per sweep. A launcher of that build arriving meanwhile
// makes its pool again (its helper too, when the pool went while it waited for the lock).
void TopUp(const std::string& pool, size_t target, size_t cap, size_t max_boots,
           const BootSpec& spec, bool wait, bool sweep = false);

// The launcher's argv strings, the memory /proc/<pid>/cmdline shows (set once by main). The
// top-up helper outlives the launcher: with its command line it would look like the shim's
// `start` or `delete` still running to whoever looks for shims by it (ps, tests).
void SetCommandLineArea(int argc, char** argv);
// What the helper shows instead.
constexpr char kTopUpTitle[] = "containerd-shim-node-pool-top-up";

// The nice value of the autogroup of process `pid` (0: this one; /proc/<pid>/autogroup: the
// scheduling group the kernel makes of each session while its processes are in the root cpu
// cgroup; a new session's is 0). False and errno when there is none to read (ENOENT: no
// CONFIG_SCHED_AUTOGROUP, or no such process).
bool AutogroupNice(pid_t pid, int* nice);
// Sets it (for the whole session). Without CAP_SYS_ADMIN the kernel allows one change per
// 100 ms machine-wide (EAGAIN): retried for up to `retry_ms`. True when it is `nice` now, or
// this process (pid 0) has no autogroup it can read.
bool SetAutogroupNice(pid_t pid, int nice, int retry_ms);

// Background boots wait in a child of the booting process's cpu cgroup with cpu.idle set: the
// kernel lets any other task preempt them at once. SCHED_IDLE alone does not do that for a
// boot in a session of its own: in the root cgroup its autogroup is an ordinary group entity
// to the scheduler, one that may finish its slice before a woken runc runs.
constexpr char kBootGroup[] = "containerd-shim-node-boots";
// The directory of process `pid`'s cgroup (0: this one) in the cpu controller's hierarchy.
std::string CpuCgroupDir(pid_t pid);
// Holds the boots waiting in that group back (`on`: a CPU quota of 1%, cpu.max or
// cpu.cfs_quota_us) or lets them run again. cpu.idle lets anything else preempt a boot, but
// a boot that runs in the CPU a burst leaves idle still slows it (a burst took 7% less time
// with them held: bench/), so a burst's boots wait until its claims stop. True when written;
// false when the group does not exist (nothing to hold) or the kernel refused. `was_on`: whether
// the group was held back before.
bool ThrottleIdleGroup(bool on, bool* was_on = nullptr);
// Moves this process there (created if missing). False when the kernel or cgroup setup does
// not allow it (no cpu controller, no cpu.idle, no permission).
bool EnterIdleGroup();
// Moves process `pid` (0: this one) back to the parent of that group if it is in it, and
// removes the group once nothing is left in it. A boot killed inside never leaves: the top-up
// that sweeps its marker removes the group then (EBUSY while others wait in it). A boot that
// enters it as it is removed makes it again (EnterIdleGroup retries).
bool LeaveIdleGroup(pid_t pid);

}  // namespace warm

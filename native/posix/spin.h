// Adaptive busy polling. On a VM, waking a sleeping vCPU takes tens of microseconds, often more
// than a fast peer needs to answer; spinning a moment before the event loop sleeps catches that
// answer without the wake-up. Each connection learns from its own traffic how soon after it wrote
// the peer's next bytes arrive (the answer to a call, or a server's next request) and a wait is
// worth a spin only when most recent gaps were short. A spin lasts about twice the usual gap and
// never longer than the connection's bound: an idle or slow connection never spins.
// Plain C++ (no libuv or N-API) so it can be tested and reasoned about on its own.
#pragma once
#include <algorithm>
#include <bitset>
#include <cstdint>

namespace shim {

class SpinPredictor {
 public:
  // Default bound of one spin: covers a Node or Go peer's turnaround (10-60 µs) on a busy VM.
  static constexpr uint64_t kDefaultBoundNs = 100'000;
  // Of the last kWindow gaps, at least kNeeded must have been within the bound.
  static constexpr int kWindow = 8;
  static constexpr int kNeeded = 6;
  // A spin covers at least this long (a gap estimate from few samples may be too tight).
  static constexpr uint64_t kMinSpinNs = 10'000;

  // 0 turns spinning off (and forgets what was learnt).
  void SetBound(uint64_t ns) {
    bound_ns_ = ns;
    if (ns == 0) *this = SpinPredictor();
  }
  uint64_t bound() const { return bound_ns_; }

  // All queued output went out at `now`: a wait for the peer starts.
  void Wrote(uint64_t now) {
    if (bound_ns_ != 0) wrote_at_ = now;
  }

  // Bytes came in at `now`: the wait (if any) is over; learn how long it took.
  void Read(uint64_t now) {
    if (wrote_at_ == 0) return;
    uint64_t gap = now > wrote_at_ ? now - wrote_at_ : 0;
    wrote_at_ = 0;
    bool fast = gap <= bound_ns_;
    history_ = static_cast<uint8_t>((history_ << 1) | (fast ? 1 : 0));
    if (fast) fast_ns_ = fast_ns_ == 0 ? gap : (3 * fast_ns_ + gap) / 4;
  }

  // Until when (hrtime ns) spinning for the current wait is likely to pay; 0 when it is not.
  // `always` (tests) spins on every wait for the whole bound.
  uint64_t SpinUntil(bool always = false) const {
    if (wrote_at_ == 0 || bound_ns_ == 0) return 0;
    if (always) return wrote_at_ + bound_ns_;
    if (static_cast<int>(std::bitset<kWindow>(history_).count()) < kNeeded) return 0;
    uint64_t budget = std::min(bound_ns_, std::max(kMinSpinNs, 2 * fast_ns_ + kMinSpinNs / 2));
    return wrote_at_ + budget;
  }

  bool waiting() const { return wrote_at_ != 0; }

 private:
  uint64_t bound_ns_ = 0;
  uint64_t wrote_at_ = 0;  // when the current wait started; 0: not waiting
  uint64_t fast_ns_ = 0;   // smoothed length of the gaps that were within the bound
  uint8_t history_ = 0;    // one bit per recent gap, newest lowest: 1 = within the bound
};

}  // namespace shim

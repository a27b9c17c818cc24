// libFuzzer target (scripts/fuzz.sh, `npm run fuzz`): the addon's frame decoder
// (native/frame_decoder.h) driven by the channel's read loop (native/posix/read_loop.h) — the very
// code the addon runs — over arbitrary bytes split into arbitrary reads, with would-block and
// interrupted reads between them; every frame it yields is checked against a reference decoder
// written the plainest way over the whole stream at once. Built with ASan and UBSan.
//
// Input: [script length u16 BE][script][stream]. The script is 3-byte operations:
//   op % 4 == 0  the next read returns at most (b1 << 8 | b2) bytes (0: as many as asked); with
//                op & 4, at most up to the next frame boundary shifted by int8(b2) (at least 1)
//   op % 4 == 1  the next read would block (EAGAIN): the wake-up ends
//   op % 4 == 2  the next read is interrupted (EINTR)
//   op % 4 == 3  insert empty frames (10 zero bytes each) into the stream at offset
//                (b1 << 8 | b2) modulo its length: k + 1 of them for k = op >> 2 below 56,
//                2^(k - 49) (1.3 KB to 82 KB) up to 62, 2^19 (5 MiB) for 63: volume for full
//                64 KiB reads, the read budget (32 of them per wake-up) and skipping a whole
//                oversized payload; at most 8 insertions and 2^19 frames in all
// When the script runs out, reads return as much as asked until the stream ends (EOF).
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "../frame_decoder.h"
#include "../posix/read_loop.h"

// The harness's own checking is not what is being explored: no coverage feedback from it.
#define HARNESS __attribute__((no_sanitize("coverage")))

namespace {

using shim::FrameHeader;
using shim::kHeaderLength;
using shim::kMaxMessageLength;

struct Frame {
  uint32_t length;
  uint32_t stream_id;
  uint8_t type;
  uint8_t flags;
  bool oversize;
  size_t offset;  // of the payload in the stream (reference frames)
};

void Fail(const char* what);

HARNESS uint32_t BigEndian32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
}

// The reference: the whole stream at once. `buffered` is what the decoder should hold at the end
// (a partial header's bytes, or the payload bytes of a frame whose header is complete).
HARNESS std::vector<Frame> Reference(const std::vector<uint8_t>& s, size_t* buffered) {
  std::vector<Frame> out;
  size_t i = 0;
  *buffered = 0;
  for (;;) {
    size_t left = s.size() - i;
    if (left < kHeaderLength) {
      *buffered = left;
      return out;
    }
    Frame f{BigEndian32(&s[i]), BigEndian32(&s[i + 4]), s[i + 8], s[i + 9], false, 0};
    left -= kHeaderLength;
    i += kHeaderLength;
    f.offset = i;
    if (f.length > kMaxMessageLength) {
      f.oversize = true;
      out.push_back(f);
      if (left < f.length) return out;  // the rest is being skipped: nothing held
      i += f.length;
      continue;
    }
    if (left < f.length) {
      *buffered = left;
      return out;
    }
    out.push_back(f);
    i += f.length;
  }
}

// Checks each frame the decoder yields against the next reference frame, as it comes.
struct Checker : shim::FrameSink {
  const std::vector<uint8_t>& stream;
  const std::vector<Frame>& want;
  size_t seen = 0;
  Checker(const std::vector<uint8_t>& s, const std::vector<Frame>& w) : stream(s), want(w) {}
  HARNESS const Frame& Next(const FrameHeader& h, bool oversize) {
    if (seen >= want.size()) Fail("more frames than the reference");
    const Frame& f = want[seen++];
    if (f.length != h.length || f.stream_id != h.stream_id || f.type != h.type ||
        f.flags != h.flags || f.oversize != oversize)
      Fail("a frame header differs from the reference");
    return f;
  }
  HARNESS void OnFrame(const FrameHeader& h, const uint8_t* payload) override {
    const Frame& f = Next(h, false);
    if (h.length > 0 && std::memcmp(payload, stream.data() + f.offset, h.length) != 0)
      Fail("a payload differs from the reference");
  }
  void OnOversize(const FrameHeader& h) override { Next(h, true); }
};

void Fail(const char* what) {
  std::fprintf(stderr, "frame_fuzz: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  size_t script_len = std::min<size_t>((size_t(data[0]) << 8) | data[1], size - 2) / 3 * 3;
  const uint8_t* script = data + 2;
  std::vector<uint8_t> stream(data + 2 + script_len, data + size);
  // At most 8 insertions and 2^19 frames in all: volume without quadratic copying.
  size_t inserted = 0;
  for (size_t k = 0, pads = 0; k < script_len && pads < 8; k += 3) {
    if (script[k] % 4 != 3) continue;
    pads++;
    size_t kind = script[k] >> 2;  // 0..63
    size_t frames = kind < 56 ? kind + 1 : size_t(1) << (kind == 63 ? 19 : kind - 56 + 7);
    frames = std::min(frames, (size_t(1) << 19) - inserted);
    inserted += frames;
    size_t at = ((size_t(script[k + 1]) << 8) | script[k + 2]) % (stream.size() + 1);
    stream.insert(stream.begin() + static_cast<std::ptrdiff_t>(at), frames * kHeaderLength, 0);
  }

  size_t buffered = 0;
  const std::vector<Frame> want = Reference(stream, &buffered);
  std::vector<size_t> boundaries;
  for (const Frame& f : want) {
    boundaries.push_back(f.offset - kHeaderLength);
    boundaries.push_back(f.offset);
    if (!f.oversize) boundaries.push_back(f.offset + f.length);
  }
  size_t pos = 0;     // next stream byte to hand out
  size_t op = 0;      // next script byte
  int reads = 0;      // read() calls in the current wake-up
  auto next_op = [&]() -> int {
    while (op < script_len && script[op] % 4 == 3) op += 3;
    return op < script_len ? script[op] % 4 : -1;
  };
  auto read = [&](uint8_t* buf, size_t len) -> ssize_t {
    if (++reads > shim::kMaxReadsPerWake) Fail("more reads in one wake-up than the budget");
    size_t n = len;
    switch (next_op()) {
      case 1:
        op += 3;
        errno = EAGAIN;
        return -1;
      case 2:
        op += 3;
        errno = EINTR;
        return -1;
      case 0: {
        size_t limit = (size_t(script[op + 1]) << 8) | script[op + 2];
        if ((script[op] & 4) != 0) {
          // Relative to the next frame boundary (header or payload start or end), by -128..127:
          // reads that end just before, at or just after one.
          auto next = std::upper_bound(boundaries.begin(), boundaries.end(), pos);
          size_t to = next == boundaries.end() ? stream.size() - pos : *next - pos;
          long shifted = long(to) + int8_t(script[op + 2]);
          limit = shifted > 0 ? size_t(shifted) : 1;
        }
        op += 3;
        if (limit != 0) n = std::min(n, limit);
        break;
      }
      default:
        break;
    }
    n = std::min(n, stream.size() - pos);
    if (n > 0) std::memcpy(buf, stream.data() + pos, n);
    pos += n;
    return static_cast<ssize_t>(n);
  };

  static uint8_t buffer[shim::kReadChunk];
  shim::FrameDecoder decoder;
  Checker got(stream, want);
  for (int wakes = 0;; wakes++) {
    if (wakes > 1000000) Fail("the read loop does not finish");
    reads = 0;
    shim::ReadOutcome r = shim::ReadFrames(read, buffer, decoder, got);
    if (r.end == shim::ReadEnd::kEof) break;
    if (r.end == shim::ReadEnd::kError) Fail("unexpected read error");
    if (r.end == shim::ReadEnd::kBudget && reads != shim::kMaxReadsPerWake)
      Fail("budget reported before the budget was used");
  }
  if (pos != stream.size()) Fail("EOF before the end of the stream");

  if (got.seen != want.size()) Fail("fewer frames than the reference");
  if (decoder.Buffered() != buffered) Fail("buffered bytes differ from the reference");
  // A reset decoder starts clean: a whole frame decodes exactly.
  decoder.Reset();
  if (decoder.Buffered() != 0) Fail("reset left bytes behind");
  const std::vector<uint8_t> fresh = {0, 0, 0, 1, 0, 0, 0, 3, 1, 0, 42};
  size_t none = 0;
  const std::vector<Frame> one = Reference(fresh, &none);
  Checker after(fresh, one);
  decoder.Feed(fresh.data(), fresh.size(), after);
  if (after.seen != 1) Fail("a reset decoder does not decode a fresh frame");
  return 0;
}

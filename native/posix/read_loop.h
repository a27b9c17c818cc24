// The channel's read loop without libuv or N-API (so the fuzzer in native/fuzz runs the same
// code): reads a non-blocking source until it would block, ends, fails or has been read
// kMaxReadsPerWake times, feeding every byte to the frame decoder; the rest of a large payload
// is read straight into its buffer (FrameDecoder::DirectTarget), so the kernel's copy is its only
// one.
#pragma once
#include <sys/types.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>

#include "../frame_decoder.h"

namespace shim {

constexpr size_t kReadChunk = 64 << 10;
// Reads per wake-up before the loop gets a turn (one JS call carries at most this many chunks).
constexpr int kMaxReadsPerWake = 32;

enum class ReadEnd {
  kDrained,  // would block (or a short read: the socket is most likely empty)
  kBudget,   // kMaxReadsPerWake full reads: more may be waiting
  kEof,
  kError,    // errno in ReadOutcome::error
};

struct ReadOutcome {
  ReadEnd end;
  int error;
};

// `read(buf, len)` behaves like read(2): bytes read, 0 at EOF, -1 with errno set.
template <typename ReadFn>
ReadOutcome ReadFrames(ReadFn&& read, uint8_t* buf, FrameDecoder& decoder, FrameSink& sink) {
  for (int i = 0; i < kMaxReadsPerWake; i++) {
    size_t room = 0;
    uint8_t* direct = decoder.DirectTarget(&room);
    size_t want = direct != nullptr ? room : kReadChunk;
    ssize_t n = read(direct != nullptr ? direct : buf, want);
    if (n > 0) {
      if (direct != nullptr)
        decoder.DirectFilled(static_cast<size_t>(n), sink);
      else
        decoder.Feed(buf, static_cast<size_t>(n), sink);
      if (static_cast<size_t>(n) < want) return {ReadEnd::kDrained, 0};
      continue;
    }
    if (n == 0) return {ReadEnd::kEof, 0};
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return {ReadEnd::kDrained, 0};
    return {ReadEnd::kError, errno};
  }
  return {ReadEnd::kBudget, 0};
}

}  // namespace shim

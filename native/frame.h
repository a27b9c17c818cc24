// TTRPC framing: a 10-byte header (length u32 BE, stream id u32 BE, type u8, flags u8) and a
// payload of at most 4 MiB. The decoder is plain C++ so tests and fuzzers can drive it directly.
#pragma once
#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace shim {

constexpr size_t kHeaderLength = 10;
constexpr uint32_t kMaxMessageLength = 4u << 20;

struct FrameHeader {
  uint32_t length;
  uint32_t stream_id;
  uint8_t type;
  uint8_t flags;
};

inline void EncodeHeader(uint8_t* out, const FrameHeader& h) {
  out[0] = static_cast<uint8_t>(h.length >> 24);
  out[1] = static_cast<uint8_t>(h.length >> 16);
  out[2] = static_cast<uint8_t>(h.length >> 8);
  out[3] = static_cast<uint8_t>(h.length);
  out[4] = static_cast<uint8_t>(h.stream_id >> 24);
  out[5] = static_cast<uint8_t>(h.stream_id >> 16);
  out[6] = static_cast<uint8_t>(h.stream_id >> 8);
  out[7] = static_cast<uint8_t>(h.stream_id);
  out[8] = h.type;
  out[9] = h.flags;
}

inline FrameHeader DecodeHeader(const uint8_t* in) {
  FrameHeader h;
  h.length = (uint32_t(in[0]) << 24) | (uint32_t(in[1]) << 16) | (uint32_t(in[2]) << 8) | in[3];
  h.stream_id = (uint32_t(in[4]) << 24) | (uint32_t(in[5]) << 16) | (uint32_t(in[6]) << 8) | in[7];
  h.type = in[8];
  h.flags = in[9];
  return h;
}

class FrameSink {
 public:
  virtual ~FrameSink() = default;
  // A complete frame; `payload` is valid for `h.length` bytes during the call only.
  virtual void OnFrame(const FrameHeader& h, const uint8_t* payload) = 0;
  // A frame whose declared length exceeds the limit; its payload is skipped, never buffered.
  virtual void OnOversize(const FrameHeader& h) = 0;
};

// Splits a byte stream into frames across arbitrary read boundaries.
class FrameDecoder {
 public:
  void Feed(const uint8_t* data, size_t len, FrameSink& sink);
  // Bytes held for a frame that is not complete yet.
  size_t Buffered() const { return header_fill_ + body_.size(); }

 private:
  uint8_t header_[kHeaderLength];
  size_t header_fill_ = 0;
  bool in_body_ = false;  // header_ holds a complete header; body_ collects its payload
  FrameHeader current_{};
  std::vector<uint8_t> body_;
  uint32_t discard_ = 0;  // payload bytes of an oversized frame still to skip
};

// Collects the frames of one read into what JavaScript gets in a single call: one Buffer holding
// every payload back to back, and a Float64Array of (head, offset, length) per frame, where
// head = stream_id * 65536 + type * 256 + flags; an oversized frame has offset -1 and its
// declared length (its payload was skipped).
class BatchBuilder : public FrameSink {
 public:
  BatchBuilder() = default;
  BatchBuilder(const BatchBuilder&) = delete;
  BatchBuilder& operator=(const BatchBuilder&) = delete;
  ~BatchBuilder() override { delete data_; }
  void OnFrame(const FrameHeader& h, const uint8_t* payload) override;
  void OnOversize(const FrameHeader& h) override;
  bool empty() const { return meta_.empty(); }
  // The (data, meta) pair; the builder is empty afterwards.
  std::pair<Napi::Value, Napi::Value> Take(Napi::Env env);

 private:
  std::vector<uint8_t>* data_ = nullptr;  // handed to the JS Buffer without a copy
  std::vector<double> meta_;
};

// Appends the frame that JavaScript's send(streamId, type, flags, payload?) describes to `out`
// (header and payload), rejecting payloads over the limit; both platform channels queue this way.
void AppendFrame(const Napi::CallbackInfo& info, std::vector<uint8_t>& out);

Napi::Object InitFrame(Napi::Env env, Napi::Object exports);

}  // namespace shim

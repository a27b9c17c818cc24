// TTRPC framing for JavaScript: frame batches handed to JS and frames queued from it, over the
// plain C++ decoder in frame_decoder.h.
#pragma once
#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "frame_decoder.h"

namespace shim {

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

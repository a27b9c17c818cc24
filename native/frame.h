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

// Where a channel's batches go to JavaScript without allocating per batch (one per environment,
// kept by the channel scheduler): a pool Buffer that small batches are copied into back to back
// (JavaScript gets the pool itself and offsets into it; a payload it keeps pins the pool, as a
// slice of Node's own Buffer pool does), and one Float64Array reused for every batch's frame table.
class BatchPool {
 public:
  // As large as the largest batch copied in: each process keeps one whole (a shim daemon reads a
  // few kB in its life), and a busy connection replaces it every 16 KiB of small frames.
  static constexpr size_t kPoolSize = 16u << 10;
  // Batches up to this size are copied into the pool; larger ones keep their own memory.
  static constexpr size_t kCopyMax = 16u << 10;
  BatchPool() = default;
  BatchPool(const BatchPool&) = delete;
  BatchPool& operator=(const BatchPool&) = delete;
  // Room for `n` bytes at the returned offset of pool(), replacing a full pool.
  size_t Reserve(Napi::Env env, size_t n);
  uint8_t* data() { return base_; }
  napi_value pool(Napi::Env env) { return Get(env, pool_); }
  // The frame table, at least `doubles` long.
  double* Meta(Napi::Env env, size_t doubles);
  napi_value meta(Napi::Env env) { return Get(env, meta_); }
  void Reset() {
    pool_.Reset();
    meta_.Reset();
    base_ = nullptr;
    meta_data_ = nullptr;
  }

  // Reused by the batch being built (BatchBuilder), so building one allocates nothing.
  std::vector<uint8_t> bytes;
  std::vector<double> frames;

 private:
  // Plain references: a typed Napi::Reference<Buffer>::Value() would look into the typed array
  // (napi_get_typedarray_info) every time.
  static napi_value Get(Napi::Env env, const Napi::Reference<Napi::Object>& ref) {
    napi_value v = nullptr;
    napi_get_reference_value(env, ref, &v);
    return v;
  }
  Napi::Reference<Napi::Object> pool_;
  uint8_t* base_ = nullptr;
  size_t used_ = kPoolSize;
  Napi::Reference<Napi::Object> meta_;
  double* meta_data_ = nullptr;
  size_t meta_capacity_ = 0;
};

// Collects the frames of one read into what JavaScript gets in a single call,
// onFrames(data, meta, count, bodies?): `data` holds the payloads (offsets below), `meta` has
// (head, offset, length) for each of the `count` frames, head = stream_id * 65536 + type * 256 +
// flags. An oversized frame has offset -1 and its declared length (its payload was skipped); a
// payload collected in its own buffer across reads is bodies[-offset - 2], handed over without a
// copy. Without a pool (FrameParser, the Windows channel) data and meta are fresh for each batch
// and meta is exactly 3 * count long.
class BatchBuilder : public FrameSink {
 public:
  explicit BatchBuilder(BatchPool* pool = nullptr)
      : pool_(pool),
        bytes_(pool != nullptr ? pool->bytes : own_bytes_),
        meta_(pool != nullptr ? pool->frames : own_meta_) {}
  BatchBuilder(const BatchBuilder&) = delete;
  BatchBuilder& operator=(const BatchBuilder&) = delete;
  ~BatchBuilder() override;
  void OnFrame(const FrameHeader& h, const uint8_t* payload) override;
  void OnOversize(const FrameHeader& h) override;
  void OnBody(const FrameHeader& h, BodyBuffer& body) override;
  bool empty() const { return meta_.empty(); }
  // The arguments of onFrames; the builder is empty afterwards.
  struct Args {
    napi_value values[4];
    size_t count;
  };
  Args Take(Napi::Env env);

 private:
  BatchPool* pool_;
  std::vector<uint8_t> own_bytes_;
  std::vector<double> own_meta_;
  std::vector<uint8_t>& bytes_;  // the payloads back to back (the pool's, or own_bytes_)
  std::vector<double>& meta_;    // (head, offset, length) per frame
  std::vector<BodyBuffer::Block> bodies_;
};

// What JavaScript's send(streamId, type, flags, payload?, head?, headLength?) asks for: a frame
// of header, the first headLength bytes of `head`, then the payload. ParseSend throws a coded
// error for bad arguments or a frame over the limit.
struct SendArgs {
  FrameHeader header;  // length: head_length + payload_length
  const uint8_t* head = nullptr;
  size_t head_length = 0;
  const uint8_t* payload = nullptr;
  size_t payload_length = 0;
  napi_value payload_value = nullptr;  // the payload's typed array
};
SendArgs ParseSend(const Napi::CallbackInfo& info);
// Writes the header and the head (kHeaderLength + head_length bytes) at `out`.
void WriteFrameHead(uint8_t* out, const SendArgs& args);

// Appends the frame that JavaScript's send(streamId, type, flags, payload?, head?, headLength?)
// describes to `out`: the header, then the first headLength bytes of `head` (an envelope the
// protocol layer wrote in a scratch buffer, so it allocates nothing per frame), then the payload;
// frames over the limit are refused. Both platform channels queue this way.
void AppendFrame(const Napi::CallbackInfo& info, std::vector<uint8_t>& out);

Napi::Object InitFrame(Napi::Env env, Napi::Object exports);

}  // namespace shim

#include "frame.h"

#include <algorithm>
#include <cstring>

#include "errors.h"

namespace shim {

size_t BatchPool::Reserve(Napi::Env env, size_t n) {
  if (base_ == nullptr || used_ + n > kPoolSize) {
    Napi::Buffer<uint8_t> fresh = Napi::Buffer<uint8_t>::New(env, kPoolSize);
    pool_ = Napi::Persistent(fresh.As<Napi::Object>());
    base_ = fresh.Data();
    used_ = 0;
  }
  size_t at = used_;
  used_ += n;
  return at;
}

double* BatchPool::Meta(Napi::Env env, size_t doubles) {
  if (meta_data_ == nullptr || doubles > meta_capacity_) {
    size_t capacity = std::max<size_t>(doubles, 3 * 256);
    Napi::Float64Array fresh = Napi::Float64Array::New(env, capacity);
    meta_ = Napi::Persistent(fresh.As<Napi::Object>());
    meta_data_ = fresh.Data();
    meta_capacity_ = capacity;
  }
  return meta_data_;
}

BatchBuilder::~BatchBuilder() {
  bytes_.clear();
  meta_.clear();
  for (const BodyBuffer::Block& b : bodies_) BodyBuffer::Dispose(b);
}

namespace {

double Head(const FrameHeader& h) {
  return double(h.stream_id) * 65536.0 + double(h.type) * 256.0 + double(h.flags);
}

// A Buffer over `bytes` without a copy; where external buffers are not allowed (V8 sandbox
// builds) a copy. `bytes` is freed with the Buffer.
Napi::Value ExternalBuffer(Napi::Env env, std::vector<uint8_t>* bytes) {
  napi_value external = nullptr;
  napi_status status = napi_create_external_buffer(
      env, bytes->size(), bytes->data(),
      [](napi_env, void*, void* hint) { delete static_cast<std::vector<uint8_t>*>(hint); }, bytes,
      &external);
  if (status == napi_ok) return Napi::Value(env, external);
  if (status == napi_pending_exception) {
    napi_value ignored;
    napi_get_and_clear_last_exception(env, &ignored);
  }
  Napi::Value copy = Napi::Buffer<uint8_t>::Copy(env, bytes->data(), bytes->size());
  delete bytes;
  return copy;
}

// The same for a payload collected in its own (heap or mapped) block.
Napi::Value BodyBufferValue(Napi::Env env, const BodyBuffer::Block& block) {
  auto* owned = new BodyBuffer::Block(block);
  napi_value external = nullptr;
  napi_status status = napi_create_external_buffer(
      env, block.size, block.data,
      [](napi_env, void*, void* hint) {
        auto* b = static_cast<BodyBuffer::Block*>(hint);
        BodyBuffer::Dispose(*b);
        delete b;
      },
      owned, &external);
  if (status == napi_ok) return Napi::Value(env, external);
  if (status == napi_pending_exception) {
    napi_value ignored;
    napi_get_and_clear_last_exception(env, &ignored);
  }
  Napi::Value copy = Napi::Buffer<uint8_t>::Copy(env, block.data, block.size);
  BodyBuffer::Dispose(block);
  delete owned;
  return copy;
}

}  // namespace

void BatchBuilder::OnFrame(const FrameHeader& h, const uint8_t* payload) {
  meta_.push_back(Head(h));
  meta_.push_back(double(bytes_.size()));
  meta_.push_back(double(h.length));
  bytes_.insert(bytes_.end(), payload, payload + h.length);
}

void BatchBuilder::OnOversize(const FrameHeader& h) {
  meta_.push_back(Head(h));
  meta_.push_back(-1.0);
  meta_.push_back(double(h.length));
}

void BatchBuilder::OnBody(const FrameHeader& h, BodyBuffer& body) {
  meta_.push_back(Head(h));
  meta_.push_back(-2.0 - double(bodies_.size()));
  meta_.push_back(double(h.length));
  bodies_.push_back(body.Release());
}

BatchBuilder::Args BatchBuilder::Take(Napi::Env env) {
  Args args{{nullptr, nullptr, nullptr, nullptr}, 3};
  size_t n = bytes_.size();
  size_t frames = meta_.size() / 3;
  if (pool_ != nullptr && n <= BatchPool::kCopyMax) {
    // Into the pool: offsets move by where the batch lands there.
    size_t at = pool_->Reserve(env, n);
    if (n > 0) std::memcpy(pool_->data() + at, bytes_.data(), n);
    double* meta = pool_->Meta(env, meta_.size());
    for (size_t i = 0; i < frames; i++) {
      meta[3 * i] = meta_[3 * i];
      double offset = meta_[3 * i + 1];
      meta[3 * i + 1] = offset >= 0 ? offset + double(at) : offset;
      meta[3 * i + 2] = meta_[3 * i + 2];
    }
    args.values[0] = pool_->pool(env);
    args.values[1] = pool_->meta(env);
    bytes_.clear();
    if (bytes_.capacity() > 4 * BatchPool::kCopyMax) std::vector<uint8_t>().swap(bytes_);
  } else {
    // A large batch keeps its memory: the vector's storage becomes the Buffer's.
    if (n == 0) {
      args.values[0] = Napi::Buffer<uint8_t>::New(env, 0);
    } else {
      args.values[0] = ExternalBuffer(env, new std::vector<uint8_t>(std::move(bytes_)));
      bytes_.clear();
    }
    Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, meta_.size() * sizeof(double));
    if (!meta_.empty()) std::memcpy(buffer.Data(), meta_.data(), meta_.size() * sizeof(double));
    args.values[1] = Napi::Float64Array::New(env, meta_.size(), buffer, 0);
  }
  args.values[2] = Napi::Number::New(env, double(frames));
  if (!bodies_.empty()) {
    Napi::Array list = Napi::Array::New(env, bodies_.size());
    for (size_t i = 0; i < bodies_.size(); i++)
      list.Set(uint32_t(i), BodyBufferValue(env, bodies_[i]));
    bodies_.clear();
    args.values[3] = list;
    args.count = 4;
  }
  meta_.clear();
  return args;
}

namespace {

bool Uint32Arg(napi_env env, napi_value v, uint32_t* out) {
  return napi_get_value_uint32(env, v, out) == napi_ok;
}

// The bytes of a Uint8Array (Int8Array and Uint8ClampedArray are taken as bytes too).
bool BytesArg(napi_env env, napi_value v, const uint8_t** data, size_t* length) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return false;
  napi_typedarray_type type;
  void* p = nullptr;
  size_t n = 0;
  if (napi_get_typedarray_info(env, v, &type, &n, &p, nullptr, nullptr) != napi_ok) return false;
  if (type != napi_uint8_array && type != napi_uint8_clamped_array && type != napi_int8_array)
    return false;
  *data = static_cast<const uint8_t*>(p);
  *length = n;
  return true;
}

}  // namespace

SendArgs ParseSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t argc = info.Length();
  uint32_t stream_id = 0, type = 0, flags = 0;
  if (argc < 3 || !Uint32Arg(env, info[0], &stream_id) || !Uint32Arg(env, info[1], &type) ||
      !Uint32Arg(env, info[2], &flags))
    throw ArgError(env, "send(streamId, type, flags, payload?, head?, headLength?)");
  SendArgs a;
  if (argc > 3 && !info[3].IsUndefined()) {
    if (!BytesArg(env, info[3], &a.payload, &a.payload_length))
      throw ArgError(env, "send: payload must be a Uint8Array");
    a.payload_value = info[3];
  }
  // An envelope head written before the payload (its first headLength bytes).
  if (argc > 4 && !info[4].IsUndefined()) {
    uint32_t n = 0;
    if (!BytesArg(env, info[4], &a.head, &a.head_length) || argc < 6 ||
        !Uint32Arg(env, info[5], &n) || n > a.head_length)
      throw ArgError(env, "send: head must be a Uint8Array and headLength at most its length");
    a.head_length = n;
  }
  size_t total = a.head_length + a.payload_length;
  if (total > kMaxMessageLength)
    throw CodeError(env, "ERR_TTRPC_MESSAGE_TOO_LARGE",
                    "ttrpc: message length " + std::to_string(total) +
                        " exceeds maximum message size of " + std::to_string(kMaxMessageLength));
  a.header = FrameHeader{static_cast<uint32_t>(total), stream_id, static_cast<uint8_t>(type),
                         static_cast<uint8_t>(flags)};
  return a;
}

void WriteFrameHead(uint8_t* out, const SendArgs& a) {
  EncodeHeader(out, a.header);
  if (a.head_length > 0) std::memcpy(out + kHeaderLength, a.head, a.head_length);
}

void AppendFrame(const Napi::CallbackInfo& info, std::vector<uint8_t>& out) {
  SendArgs a = ParseSend(info);
  size_t at = out.size();
  out.resize(at + kHeaderLength + a.header.length);
  WriteFrameHead(out.data() + at, a);
  if (a.payload_length > 0)
    std::memcpy(out.data() + at + kHeaderLength + a.head_length, a.payload, a.payload_length);
}

namespace {

// FrameParser: the native decoder on its own, for tests and the codec benchmark.
class FrameParser : public Napi::ObjectWrap<FrameParser> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "FrameParser",
                       {InstanceMethod<&FrameParser::Push>("push"),
                        InstanceAccessor<&FrameParser::Buffered>("buffered")});
  }
  explicit FrameParser(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FrameParser>(info) {}

 private:
  // push(chunk: Uint8Array): [data, meta, count, bodies?] of the frames completed by this chunk
  // (see BatchBuilder).
  Napi::Value Push(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsTypedArray()) throw ArgError(env, "chunk must be a Uint8Array");
    Napi::Uint8Array chunk = info[0].As<Napi::Uint8Array>();
    BatchBuilder batch;
    decoder_.Feed(chunk.Data(), chunk.ByteLength(), batch);
    BatchBuilder::Args taken = batch.Take(env);
    Napi::Array out = Napi::Array::New(env, taken.count);
    for (size_t i = 0; i < taken.count; i++) out.Set(uint32_t(i), Napi::Value(env, taken.values[i]));
    return out;
  }
  Napi::Value Buffered(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(decoder_.Buffered()));
  }
  FrameDecoder decoder_;
};

// encodeHeader(length, streamId, type, flags): a 10-byte Buffer.
Napi::Value EncodeHeaderJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4) throw ArgError(env, "encodeHeader(length, streamId, type, flags)");
  FrameHeader h{info[0].As<Napi::Number>().Uint32Value(), info[1].As<Napi::Number>().Uint32Value(),
                static_cast<uint8_t>(info[2].As<Napi::Number>().Uint32Value()),
                static_cast<uint8_t>(info[3].As<Napi::Number>().Uint32Value())};
  Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(env, kHeaderLength);
  EncodeHeader(out.Data(), h);
  return out;
}

}  // namespace

// The decoder and the header encoder on their own, for the tests (test/helpers/native-frame.ts);
// the package's TypeScript only uses them inside the channels.
Napi::Object InitFrame(Napi::Env env, Napi::Object exports) {
  exports.Set("FrameParser", FrameParser::Define(env));
  exports.Set("encodeHeader", Napi::Function::New(env, EncodeHeaderJs, "encodeHeader"));
  return exports;
}

}  // namespace shim

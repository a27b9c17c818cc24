#include "frame.h"

#include <algorithm>
#include <cstring>

#include "errors.h"

namespace shim {

void BatchBuilder::OnFrame(const FrameHeader& h, const uint8_t* payload) {
  if (data_ == nullptr) data_ = new std::vector<uint8_t>();
  meta_.push_back(double(h.stream_id) * 65536.0 + double(h.type) * 256.0 + double(h.flags));
  meta_.push_back(double(data_->size()));
  meta_.push_back(double(h.length));
  data_->insert(data_->end(), payload, payload + h.length);
}

void BatchBuilder::OnOversize(const FrameHeader& h) {
  meta_.push_back(double(h.stream_id) * 65536.0 + double(h.type) * 256.0 + double(h.flags));
  meta_.push_back(-1.0);
  meta_.push_back(double(h.length));
}

std::pair<Napi::Value, Napi::Value> BatchBuilder::Take(Napi::Env env) {
  Napi::Value data;
  std::vector<uint8_t>* bytes = data_;
  data_ = nullptr;
  if (bytes == nullptr || bytes->empty()) {
    delete bytes;
    data = Napi::Buffer<uint8_t>::New(env, 0);
  } else {
    // The vector's storage becomes the Buffer's; where external buffers are not allowed (V8
    // sandbox builds) fall back to one copy.
    napi_value external = nullptr;
    napi_status status = napi_create_external_buffer(
        env, bytes->size(), bytes->data(),
        [](napi_env, void*, void* hint) { delete static_cast<std::vector<uint8_t>*>(hint); }, bytes, &external);
    if (status == napi_ok) {
      data = Napi::Value(env, external);
    } else {
      if (status == napi_pending_exception) {
        napi_value ignored;
        napi_get_and_clear_last_exception(env, &ignored);
      }
      data = Napi::Buffer<uint8_t>::Copy(env, bytes->data(), bytes->size());
      delete bytes;
    }
  }
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, meta_.size() * sizeof(double));
  if (!meta_.empty()) std::memcpy(buffer.Data(), meta_.data(), meta_.size() * sizeof(double));
  Napi::Value meta = Napi::Float64Array::New(env, meta_.size(), buffer, 0);
  meta_.clear();
  return {data, meta};
}

void AppendFrame(const Napi::CallbackInfo& info, std::vector<uint8_t>& out) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber())
    throw ArgError(env, "send(streamId, type, flags, payload?)");
  FrameHeader h{0, info[0].As<Napi::Number>().Uint32Value(),
                static_cast<uint8_t>(info[1].As<Napi::Number>().Uint32Value()),
                static_cast<uint8_t>(info[2].As<Napi::Number>().Uint32Value())};
  const uint8_t* data = nullptr;
  if (info.Length() > 3 && info[3].IsTypedArray()) {
    Napi::Uint8Array payload = info[3].As<Napi::Uint8Array>();
    if (payload.ByteLength() > kMaxMessageLength)
      throw CodeError(env, "ERR_TTRPC_MESSAGE_TOO_LARGE",
                      "ttrpc: message length " + std::to_string(payload.ByteLength()) +
                          " exceeds maximum message size of " + std::to_string(kMaxMessageLength));
    data = payload.Data();
    h.length = static_cast<uint32_t>(payload.ByteLength());
  }
  size_t at = out.size();
  out.resize(at + kHeaderLength + h.length);
  EncodeHeader(out.data() + at, h);
  if (h.length > 0) std::memcpy(out.data() + at + kHeaderLength, data, h.length);
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
  // push(chunk: Uint8Array): [data, meta] of the frames completed by this chunk (see BatchBuilder).
  Napi::Value Push(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsTypedArray()) throw ArgError(env, "chunk must be a Uint8Array");
    Napi::Uint8Array chunk = info[0].As<Napi::Uint8Array>();
    BatchBuilder batch;
    decoder_.Feed(chunk.Data(), chunk.ByteLength(), batch);
    auto taken = batch.Take(env);
    Napi::Array out = Napi::Array::New(env, 2);
    out.Set(0u, taken.first);
    out.Set(1u, taken.second);
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

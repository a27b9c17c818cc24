#include "frame.h"

#include <algorithm>
#include <cstring>

#include "errors.h"

namespace shim {

void FrameDecoder::Feed(const uint8_t* data, size_t len, FrameSink& sink) {
  while (len > 0) {
    if (discard_ > 0) {
      size_t n = std::min<size_t>(discard_, len);
      discard_ -= static_cast<uint32_t>(n);
      data += n;
      len -= n;
      continue;
    }
    if (!in_body_) {
      // Fast path: a whole frame is in the input and nothing is pending.
      if (header_fill_ == 0 && len >= kHeaderLength) {
        FrameHeader h = DecodeHeader(data);
        if (h.length <= kMaxMessageLength && len - kHeaderLength >= h.length) {
          sink.OnFrame(h, data + kHeaderLength);
          data += kHeaderLength + h.length;
          len -= kHeaderLength + h.length;
          continue;
        }
      }
      size_t n = std::min(kHeaderLength - header_fill_, len);
      std::memcpy(header_ + header_fill_, data, n);
      header_fill_ += n;
      data += n;
      len -= n;
      if (header_fill_ < kHeaderLength) return;
      header_fill_ = 0;
      current_ = DecodeHeader(header_);
      if (current_.length > kMaxMessageLength) {
        sink.OnOversize(current_);
        discard_ = current_.length;
        continue;
      }
      if (current_.length == 0) {
        sink.OnFrame(current_, data);
        continue;
      }
      in_body_ = true;
      body_.clear();
      body_.reserve(current_.length);
    }
    size_t n = std::min<size_t>(current_.length - body_.size(), len);
    body_.insert(body_.end(), data, data + n);
    data += n;
    len -= n;
    if (body_.size() == current_.length) {
      in_body_ = false;
      sink.OnFrame(current_, body_.data());
      body_.clear();
      if (body_.capacity() > (64u << 10)) body_.shrink_to_fit();
    }
  }
}

void BatchBuilder::Push(const FrameHeader& h, napi_value second) {
  if (count_ == 0) array_ = Napi::Array::New(env_);
  double head = double(h.stream_id) * 65536.0 + double(h.type) * 256.0 + double(h.flags);
  array_.Set(count_++, Napi::Number::New(env_, head));
  array_.Set(count_++, second);
}

void BatchBuilder::OnFrame(const FrameHeader& h, const uint8_t* payload) {
  Push(h, Napi::Buffer<uint8_t>::Copy(env_, payload, h.length));
}

void BatchBuilder::OnOversize(const FrameHeader& h) {
  Push(h, Napi::Number::New(env_, h.length));
}

Napi::Array BatchBuilder::Take() {
  count_ = 0;
  return array_;
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
  // push(chunk: Uint8Array): the flat frame array (see BatchBuilder), empty if none completed.
  Napi::Value Push(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsTypedArray()) throw ArgError(env, "chunk must be a Uint8Array");
    Napi::Uint8Array chunk = info[0].As<Napi::Uint8Array>();
    BatchBuilder batch(env);
    decoder_.Feed(chunk.Data(), chunk.ByteLength(), batch);
    return batch.empty() ? Napi::Array::New(env) : batch.Take();
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

Napi::Object InitFrame(Napi::Env env, Napi::Object exports) {
  exports.Set("FrameParser", FrameParser::Define(env));
  exports.Set("encodeHeader", Napi::Function::New(env, EncodeHeaderJs, "encodeHeader"));
  exports.Set("maxMessageLength", Napi::Number::New(env, kMaxMessageLength));
  return exports;
}

}  // namespace shim

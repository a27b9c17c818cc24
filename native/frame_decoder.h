// TTRPC framing without N-API: a 10-byte header (length u32 BE, stream id u32 BE, type u8,
// flags u8) and a payload of at most 4 MiB, and the decoder that splits a byte stream into
// frames. Header-only plain C++ so the addon, tests and the fuzzer (native/fuzz) share one copy.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#ifndef _WIN32
#include <sys/mman.h>

#include <chrono>
#include <mutex>
#endif

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

// Recently freed mapped blocks, reused by the next large payloads of about their size: a fresh
// mapping costs a page fault per 4 KiB as it fills (most of a 1 MiB transfer's time), a reused
// one none. Payloads handed to JavaScript come back when V8 collects them, often many at once,
// so it keeps up to kMaxBytes, each for at most kMaxAgeMs: Trim() (the channel scheduler calls
// it every second while anything is kept) returns older ones. Shared by all threads.
#ifndef _WIN32
class MappedCache {
 public:
  static constexpr size_t kMaxBytes = 16u << 20;
  static constexpr int kMaxBlocks = 16;
  static constexpr int64_t kMaxAgeMs = 1000;

  static MappedCache& Instance() {
    static MappedCache* cache = new MappedCache();  // never destroyed: used until exit
    return *cache;
  }

  // A kept block of at least *n bytes (and not much more), its size in *n; or nullptr.
  void* Take(size_t* n) {
    std::lock_guard<std::mutex> lock(mutex_);
    Expire();
    for (int i = 0; i < count_; i++) {
      if (blocks_[i].size >= *n && blocks_[i].size - *n <= *n / 4) {
        void* p = blocks_[i].data;
        *n = blocks_[i].size;
        bytes_ -= blocks_[i].size;
        blocks_[i] = blocks_[--count_];
        return p;
      }
    }
    return nullptr;
  }

  // Keeps a freed block if there is room; false: the caller unmaps it.
  bool Keep(void* p, size_t n) {
    std::lock_guard<std::mutex> lock(mutex_);
    Expire();
    if (count_ == kMaxBlocks || bytes_ + n > kMaxBytes) return false;
    blocks_[count_++] = {p, n, Now()};
    bytes_ += n;
    return true;
  }

 // Returns the blocks kept longer than kMaxAgeMs to the system.
  void Trim() {
    std::lock_guard<std::mutex> lock(mutex_);
    Expire();
  }
  bool empty() {
    std::lock_guard<std::mutex> lock(mutex_);
    return count_ == 0;
  }

 private:
  struct Block {
    void* data;
    size_t size;
    int64_t freed_ms;
  };
  static int64_t Now() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  void Expire() {
    int64_t now = Now();
    for (int i = 0; i < count_;) {
      if (now - blocks_[i].freed_ms > kMaxAgeMs) {
        munmap(blocks_[i].data, blocks_[i].size);
        bytes_ -= blocks_[i].size;
        blocks_[i] = blocks_[--count_];
      } else {
        i++;
      }
    }
  }
  std::mutex mutex_;
  Block blocks_[kMaxBlocks];
  int count_ = 0;
  size_t bytes_ = 0;
};
#endif

// The payload of a frame that spans reads. Large ones are mapped straight from the system, so a
// closed connection's partial frame is returned to it (a freed heap block of that size may stay
// in the allocator's arena, and 600 of them stay as 600 MiB of RSS), through MappedCache.
class BodyBuffer {
 public:
  static constexpr size_t kMapThreshold = 128u << 10;
  BodyBuffer() = default;
  BodyBuffer(const BodyBuffer&) = delete;
  BodyBuffer& operator=(const BodyBuffer&) = delete;
  ~BodyBuffer() { Free(); }

  // Room for exactly `capacity` bytes, empty.
  void Allocate(size_t capacity) {
    Free();
    if (capacity == 0) return;
    mapped_ = capacity >= kMapThreshold;
    // A mapped block may come bigger than asked (whole pages, or a reused block).
    void* p = mapped_ ? Map(&capacity) : std::malloc(capacity);
    if (p == nullptr) throw std::bad_alloc();
    data_ = static_cast<uint8_t*>(p);
    capacity_ = capacity;
  }
  void Append(const uint8_t* bytes, size_t n) {
    std::memcpy(data_ + size_, bytes, n);
    size_ += n;
  }
  void Free() {
    if (data_ != nullptr) {
      if (mapped_)
        Unmap(data_, capacity_);
      else
        std::free(data_);
    }
    data_ = nullptr;
    size_ = capacity_ = 0;
    mapped_ = false;
  }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  // Where the next bytes go when they are read straight in (Filled(n) afterwards).
  uint8_t* tail() { return data_ + size_; }
  void Filled(size_t n) { size_ += n; }

  // The memory, handed over: whoever takes it frees it with Dispose. The buffer is empty after.
  struct Block {
    uint8_t* data;
    size_t size;
    size_t capacity;
    bool mapped;
  };
  Block Release() {
    Block b{data_, size_, capacity_, mapped_};
    data_ = nullptr;
    size_ = capacity_ = 0;
    mapped_ = false;
    return b;
  }
  static void Dispose(const Block& b) {
    if (b.data == nullptr) return;
    if (b.mapped)
      Unmap(b.data, b.capacity);
    else
      std::free(b.data);
  }

 private:
#ifdef _WIN32
  // The Windows heap already maps blocks this large on their own and unmaps them when freed.
  static void* Map(size_t* n) { return std::malloc(*n); }
  static void Unmap(void* p, size_t) { std::free(p); }
#else
  // At least *n bytes; *n becomes the block's size.
  static void* Map(size_t* n) {
    constexpr size_t kPage = 4096;
    *n = (*n + kPage - 1) / kPage * kPage;
    if (void* p = MappedCache::Instance().Take(n)) return p;
    void* p = mmap(nullptr, *n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? nullptr : p;
  }
  static void Unmap(void* p, size_t n) {
    if (!MappedCache::Instance().Keep(p, n)) munmap(p, n);
  }

#endif

  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
  bool mapped_ = false;
};

class FrameSink {
 public:
  virtual ~FrameSink() = default;
  // A complete frame; `payload` is valid for `h.length` bytes during the call only.
  virtual void OnFrame(const FrameHeader& h, const uint8_t* payload) = 0;
  // A frame whose declared length exceeds the limit; its payload is skipped, never buffered.
  virtual void OnOversize(const FrameHeader& h) = 0;
  // A complete frame whose payload was collected across reads in `body` (exactly h.length
  // bytes): a sink may take the memory over (body.Release()) instead of copying it.
  virtual void OnBody(const FrameHeader& h, BodyBuffer& body) { OnFrame(h, body.data()); }
};

// Splits a byte stream into frames across arbitrary read boundaries.
class FrameDecoder {
 public:
  // A payload with at least this much still to come is read straight into its buffer.
  static constexpr size_t kDirectReadMin = 32u << 10;

  inline void Feed(const uint8_t* data, size_t len, FrameSink& sink);
  // Where the next read should go, when a large payload is being collected (nullptr: nowhere
  // special, read a chunk and Feed it); `*room` is what it still lacks. The bytes then arrive
  // without being copied by us: DirectFilled(n) after reading n of them there.
  uint8_t* DirectTarget(size_t* room) {
    if (!in_body_) return nullptr;
    size_t left = current_.length - body_.size();
    if (left < kDirectReadMin) return nullptr;
    *room = left;
    return body_.tail();
  }
  void DirectFilled(size_t n, FrameSink& sink) {
    body_.Filled(n);
    if (body_.size() == current_.length) Complete(sink);
  }
  // Bytes held for a frame that is not complete yet.
  size_t Buffered() const { return header_fill_ + body_.size(); }
  // Drops a partial frame and its memory (the connection is gone).
  void Reset() {
    header_fill_ = 0;
    in_body_ = false;
    discard_ = 0;
    body_.Free();
  }

 private:
  uint8_t header_[kHeaderLength];
  size_t header_fill_ = 0;
  bool in_body_ = false;  // header_ holds a complete header; body_ collects its payload
  FrameHeader current_{};
  BodyBuffer body_;
  uint32_t discard_ = 0;  // payload bytes of an oversized frame still to skip

  void Complete(FrameSink& sink) {
    in_body_ = false;
    sink.OnBody(current_, body_);
    body_.Free();
  }
};

inline void FrameDecoder::Feed(const uint8_t* data, size_t len, FrameSink& sink) {
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
      body_.Allocate(current_.length);
    }
    size_t n = std::min<size_t>(current_.length - body_.size(), len);
    body_.Append(data, n);
    data += n;
    len -= n;
    if (body_.size() == current_.length) Complete(sink);
  }
}

}  // namespace shim

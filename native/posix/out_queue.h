// A connection's output: frames in order, written with as few sendmsg(2) calls as possible.
// Small frames are copied into owned chunks back to back; a large payload is not copied at all:
// it is written from where it is (its JavaScript buffer, kept alive by a reference the queue
// releases once the bytes are out), so the kernel's copy is the only one.
// Plain C++ (no libuv or N-API): the owner says how a kept payload is released.
#pragma once
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

namespace shim {

class OutQueue {
 public:
  // Payloads at least this large are referenced instead of copied.
  static constexpr size_t kReferenceMin = 64u << 10;
  using Release = void (*)(void* owner, void* keep);

  OutQueue(Release release, void* owner) : release_(release), owner_(owner) {}
  OutQueue(const OutQueue&) = delete;
  OutQueue& operator=(const OutQueue&) = delete;
  ~OutQueue() { Clear(); }

  // Room for `n` more bytes at the tail, copied in by the caller.
  uint8_t* Extend(size_t n) {
    if (chunks_.empty() || chunks_.back().keep != nullptr) chunks_.emplace_back();
    std::vector<uint8_t>& bytes = chunks_.back().bytes;
    size_t at = bytes.size();
    // Grow without zero-filling what the caller overwrites anyway.
    if (bytes.capacity() < at + n) bytes.reserve(std::max(at + n, bytes.capacity() * 2));
    bytes.resize(at + n);
    size_ += n;
    return bytes.data() + at;
  }

  // `n` bytes at `data`, written from there; `keep` is released once they are out (or dropped).
  void Reference(const uint8_t* data, size_t n, void* keep) {
    Chunk c;
    c.data = data;
    c.size = n;
    c.keep = keep;
    chunks_.push_back(std::move(c));
    size_ += n;
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // One sendmsg(2) of as much as is queued (up to kMaxIov chunks): bytes written, or -1 with
  // errno. Chunks fully written are dropped (their payloads released).
  ssize_t WriteTo(int fd) {
    struct iovec iov[kMaxIov];
    int count = 0;
    size_t skip = offset_;
    for (auto it = chunks_.begin(); it != chunks_.end() && count < kMaxIov; ++it) {
      const uint8_t* p = it->keep != nullptr ? it->data : it->bytes.data();
      size_t n = it->keep != nullptr ? it->size : it->bytes.size();
      if (n <= skip) {  // only an empty chunk (offset_ is within the first one)
        skip -= n;
        continue;
      }
      iov[count].iov_base = const_cast<uint8_t*>(p + skip);
      iov[count].iov_len = n - skip;
      skip = 0;
      count++;
    }
    if (count == 0) return 0;
    struct msghdr msg = {};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(count);
    ssize_t written = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (written > 0) Consume(static_cast<size_t>(written));
    return written;
  }

  // Drops everything queued, releasing referenced payloads.
  void Clear() {
    for (Chunk& c : chunks_)
      if (c.keep != nullptr) release_(owner_, c.keep);
    chunks_.clear();
    offset_ = 0;
    size_ = 0;
  }

 private:
  static constexpr int kMaxIov = 64;
  // Owned chunks keep their capacity for reuse up to this much.
  static constexpr size_t kKeepCapacity = 4u << 20;

  struct Chunk {
    std::vector<uint8_t> bytes;  // owned (keep == nullptr)
    const uint8_t* data = nullptr;
    size_t size = 0;
    void* keep = nullptr;  // a referenced payload's owner, released when written
  };

  void Consume(size_t n) {
    size_ -= n;
    n += offset_;
    offset_ = 0;
    while (!chunks_.empty()) {
      Chunk& c = chunks_.front();
      size_t len = c.keep != nullptr ? c.size : c.bytes.size();
      if (n < len) {
        offset_ = n;
        return;
      }
      n -= len;
      if (c.keep != nullptr) {
        release_(owner_, c.keep);
        chunks_.pop_front();
      } else if (chunks_.size() == 1 && c.bytes.capacity() <= kKeepCapacity) {
        c.bytes.clear();  // the last chunk: keep its memory for the next frames
        return;
      } else {
        chunks_.pop_front();
      }
    }
  }

  std::deque<Chunk> chunks_;
  size_t offset_ = 0;  // bytes of the first chunk already written
  size_t size_ = 0;    // bytes queued and not written
  Release release_;
  void* owner_;
};

}  // namespace shim

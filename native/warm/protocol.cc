// Framing of the warm-start control protocol (see protocol.h).
#include "protocol.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

namespace warm {

namespace {

struct HelloHeader {
  uint32_t magic;
  uint16_t version;
  uint16_t status;
  uint32_t pid;
  uint32_t pool_len;
};

struct RequestHeader {
  uint32_t magic;
  uint16_t version;
  uint16_t kind;
  uint32_t payload_len;
  uint32_t nfds;
};

struct ResultMessage {
  uint32_t magic;
  int32_t status;
  uint32_t final;
};

// Waits for `events` on fd until `deadline` (ms, monotonic; < 0 forever). 1 ready, 0 timeout.
int WaitFor(int fd, short events, int64_t deadline) {
  for (;;) {
    int timeout = -1;
    if (deadline >= 0) {
      int64_t left = deadline - NowMs();
      if (left <= 0) return 0;
      timeout = left > 1000000 ? 1000000 : static_cast<int>(left);
    }
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, timeout);
    if (r > 0) return 1;
    if (r < 0 && errno != EINTR) return 1;  // let the read/write report the error
  }
}

void CloseAll(std::vector<int>* fds) {
  for (int fd : *fds) ::close(fd);
  fds->clear();
}

void PutU32(std::string* out, uint32_t v) { out->append(reinterpret_cast<const char*>(&v), 4); }

void PutString(std::string* out, const std::string& s) {
  PutU32(out, static_cast<uint32_t>(s.size()));
  out->append(s);
}

void PutStrings(std::string* out, const std::vector<std::string>& list) {
  PutU32(out, static_cast<uint32_t>(list.size()));
  for (const auto& s : list) PutString(out, s);
}

class Reader {
 public:
  explicit Reader(const std::string& data) : data_(data) {}
  bool U32(uint32_t* v) {
    if (data_.size() - pos_ < 4) return false;
    std::memcpy(v, data_.data() + pos_, 4);
    pos_ += 4;
    return true;
  }
  bool String(std::string* s) {
    uint32_t n;
    if (!U32(&n) || data_.size() - pos_ < n) return false;
    s->assign(data_, pos_, n);
    pos_ += n;
    return true;
  }
  bool Strings(std::vector<std::string>* list) {
    uint32_t n;
    if (!U32(&n) || n > kMaxStrings) return false;
    list->resize(n);
    for (auto& s : *list)
      if (!String(&s)) return false;
    return true;
  }
  bool AtEnd() const { return pos_ == data_.size(); }

 private:
  const std::string& data_;
  size_t pos_ = 0;
};

}  // namespace

int64_t NowMs() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

bool WriteAll(int fd, const void* data, size_t len) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = ::send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0 && errno == ENOTSOCK) n = ::write(fd, p, len);
    if (n > 0) {
      p += n;
      len -= static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      WaitFor(fd, POLLOUT, -1);
    } else {
      return false;
    }
  }
  return true;
}

bool ReadExact(int fd, void* data, size_t len, int timeout_ms, std::vector<int>* fds) {
  int64_t deadline = timeout_ms < 0 ? -1 : NowMs() + timeout_ms;
  char* p = static_cast<char*>(data);
  while (len > 0) {
    iovec iov{p, len};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ssize_t n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n > 0) {
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; i++) {
          int received;
          std::memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
          if (fds != nullptr && fds->size() < static_cast<size_t>(kMaxFds)) {
            fds->push_back(received);
          } else {
            ::close(received);
          }
        }
      }
      if (msg.msg_flags & MSG_CTRUNC) {
        errno = EMSGSIZE;
        return false;
      }
      p += n;
      len -= static_cast<size_t>(n);
      continue;
    }
    if (n == 0) {
      errno = ECONNRESET;
      return false;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return false;
    if (WaitFor(fd, POLLIN, deadline) == 0) {
      errno = ETIMEDOUT;
      return false;
    }
  }
  return true;
}

bool SendHello(int fd, uint16_t status, const std::string& pool) {
  std::string out;
  HelloHeader h{kHelloMagic, kVersion, status, static_cast<uint32_t>(::getpid()),
                static_cast<uint32_t>(pool.size())};
  out.append(reinterpret_cast<const char*>(&h), sizeof(h));
  out.append(pool);
  return WriteAll(fd, out.data(), out.size());
}

bool RecvHello(int fd, int timeout_ms, uint16_t* status, uint32_t* pid, std::string* pool) {
  int64_t start = NowMs();
  HelloHeader h;
  if (!ReadExact(fd, &h, sizeof(h), timeout_ms)) return false;
  if (h.magic != kHelloMagic || h.version != kVersion || h.pool_len > 4096) {
    errno = EPROTO;
    return false;
  }
  pool->resize(h.pool_len);
  int left = timeout_ms < 0 ? -1 : static_cast<int>(timeout_ms - (NowMs() - start));
  if (timeout_ms >= 0 && left < 0) left = 0;
  if (h.pool_len > 0 && !ReadExact(fd, &(*pool)[0], h.pool_len, left)) return false;
  *status = h.status;
  *pid = h.pid;
  return true;
}

bool SendRequest(int fd, uint16_t kind, const std::string& cwd,
                 const std::vector<std::string>& args, const std::vector<std::string>& env,
                 const int* fds, int nfds) {
  if (nfds < 0 || nfds > kMaxFds) {
    errno = EINVAL;
    return false;
  }
  std::string payload;
  PutString(&payload, cwd);
  PutStrings(&payload, args);
  PutStrings(&payload, env);
  if (payload.size() > kMaxPayload) {
    errno = EMSGSIZE;
    return false;
  }
  RequestHeader h{kRequestMagic, kVersion, kind, static_cast<uint32_t>(payload.size()),
                  static_cast<uint32_t>(nfds)};
  // The header carries the descriptors; the payload follows as plain bytes.
  iovec iov{&h, sizeof(h)};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
  std::memset(control, 0, sizeof(control));
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (nfds > 0) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    std::memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
  }
  ssize_t n;
  for (;;) {
    n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n >= 0) break;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      WaitFor(fd, POLLOUT, -1);
      continue;
    }
    return false;
  }
  const char* rest = reinterpret_cast<const char*>(&h) + n;
  if (static_cast<size_t>(n) < sizeof(h) && !WriteAll(fd, rest, sizeof(h) - n)) return false;
  return WriteAll(fd, payload.data(), payload.size());
}

bool RecvRequest(int fd, int timeout_ms, Request* out) {
  int64_t deadline = timeout_ms < 0 ? -1 : NowMs() + timeout_ms;
  auto left = [&]() -> int {
    if (deadline < 0) return -1;
    int64_t l = deadline - NowMs();
    return l < 0 ? 0 : static_cast<int>(l);
  };
  RequestHeader h;
  out->fds.clear();
  if (!ReadExact(fd, &h, sizeof(h), left(), &out->fds)) {
    CloseAll(&out->fds);
    return false;
  }
  if (h.magic != kRequestMagic || h.version != kVersion || (h.kind != kAction && h.kind != kDaemon) ||
      h.nfds != out->fds.size()) {
    CloseAll(&out->fds);
    errno = EPROTO;
    return false;
  }
  if (h.payload_len > kMaxPayload) {
    CloseAll(&out->fds);
    errno = EMSGSIZE;
    return false;
  }
  std::string payload(h.payload_len, '\0');
  if (h.payload_len > 0 && !ReadExact(fd, &payload[0], h.payload_len, left())) {
    CloseAll(&out->fds);
    return false;
  }
  Reader r(payload);
  if (!r.String(&out->cwd) || !r.Strings(&out->args) || !r.Strings(&out->env) || !r.AtEnd()) {
    CloseAll(&out->fds);
    errno = EPROTO;
    return false;
  }
  out->kind = h.kind;
  return true;
}

bool SendResult(int fd, int32_t status, bool final) {
  ResultMessage m{kResultMagic, status, final ? 1u : 0u};
  return WriteAll(fd, &m, sizeof(m));
}

int RecvResult(int fd, int timeout_ms, int32_t* status, bool* final) {
  ResultMessage m;
  if (!ReadExact(fd, &m, sizeof(m), timeout_ms)) return errno == ETIMEDOUT ? -1 : 0;
  if (m.magic != kResultMagic) return 0;
  *status = m.status;
  if (final != nullptr) *final = m.final != 0;
  return 1;
}

void WaitClosed(int fd) {
  char buf[256];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n == 0) return;
    if (n > 0) continue;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return;
    WaitFor(fd, POLLIN, -1);
  }
}

}  // namespace warm

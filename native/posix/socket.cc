// Unix socket syscalls the TTRPC transports and the shim need and Node's net module lacks:
// listening and connecting by fd (so an inherited listener and abstract names work the same way),
// batched accept with the peer's credentials, and receiving an fd (SCM_RIGHTS). Portable POSIX;
// the Linux shortcuts are feature-tested (features.h).
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>
#if defined(LOCAL_PEERCRED)
#include <sys/ucred.h>
#endif
#if defined(SHIM_GETPEEREID_LIBBSD)
#include <bsd/unistd.h>  // getpeereid for glibc, from libbsd (the generic-POSIX test build)
#endif

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>

#include "../errors.h"
#include "features.h"
#include "posix.h"

namespace shim {

namespace {

// Fills `addr` for a path, or for an abstract name (leading NUL) when `abstract` is set.
socklen_t MakeAddress(Napi::Env env, const std::string& path, bool abstract, sockaddr_un* addr) {
  std::memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
#if !defined(SHIM_HAVE_ABSTRACT_SOCKETS)
  if (abstract)
    throw CodeError(env, "ERR_UNSUPPORTED_PLATFORM",
                    "abstract unix socket names (@" + path + ") are Linux-only");
#endif
  size_t offset = abstract ? 1 : 0;
  if (path.empty() || path.size() + offset >= sizeof(addr->sun_path))
    throw CodeError(env, "ERR_SOCKET_PATH", "socket path must be 1 to " +
                                                std::to_string(sizeof(addr->sun_path) - 1 - offset) +
                                                " bytes: '" + path + "'");
  std::memcpy(addr->sun_path + offset, path.data(), path.size());
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + offset + path.size() + (abstract ? 0 : 1));
}

// A non-blocking, close-on-exec unix stream socket.
int NewSocket(Napi::Env env) {
#if defined(SHIM_HAVE_SOCK_FLAGS)
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw ErrnoError(env, errno, "socket");
#else
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) throw ErrnoError(env, errno, "socket");
  if (SetFdFlags(fd, true, true) != 0) {
    int err = errno;
    ::close(fd);
    throw ErrnoError(env, err, "fcntl");
  }
#endif
  return fd;
}

// accept(2) of one connection as a non-blocking, close-on-exec fd; -1 with errno set.
int AcceptOne(int lfd) {
#if defined(SHIM_HAVE_SOCK_FLAGS)
  return ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
  int fd = ::accept(lfd, nullptr, nullptr);
  if (fd >= 0 && SetFdFlags(fd, true, true) != 0) {
    int err = errno;
    ::close(fd);
    errno = err;
    return -1;
  }
  return fd;
#endif
}

std::string DisplayName(const std::string& path, bool abstract) { return abstract ? "@" + path : path; }

// unixListen(path, abstract, backlog): a listening, non-blocking, close-on-exec socket fd.
Napi::Value UnixListen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  bool abstract = info[1].ToBoolean().Value();
  int backlog = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : 511;
  sockaddr_un addr;
  socklen_t len = MakeAddress(env, path, abstract, &addr);
  int fd = NewSocket(env);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    int err = errno;
    ::close(fd);
    throw ErrnoError(env, err, "bind", DisplayName(path, abstract));
  }
  if (::listen(fd, backlog) != 0) {
    int err = errno;
    ::close(fd);
    throw ErrnoError(env, err, "listen", DisplayName(path, abstract));
  }
  return Napi::Number::New(env, fd);
}

// unixConnect(path, abstract): a connected non-blocking fd. A full backlog fails with EAGAIN and
// the caller retries; unix connects never stay in progress.
Napi::Value UnixConnect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  bool abstract = info[1].ToBoolean().Value();
  sockaddr_un addr;
  socklen_t len = MakeAddress(env, path, abstract, &addr);
  int fd = NewSocket(env);
  int r;
  do {
    r = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), len);
  } while (r != 0 && errno == EINTR);
  if (r != 0) {
    int err = errno;
    ::close(fd);
    throw ErrnoError(env, err, "connect", DisplayName(path, abstract));
  }
  return Napi::Number::New(env, fd);
}

// accept(fd): up to 64 pending connections as a flat array [fd, pid, uid, gid, ...].
Napi::Value Accept(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int lfd = info[0].As<Napi::Number>().Int32Value();
  Napi::Array out = Napi::Array::New(env);
  uint32_t n = 0;
  for (int i = 0; i < 64; i++) {
    int fd = AcceptOne(lfd);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (n > 0) break;  // report the error on the next call, after these are handled
      throw ErrnoError(env, errno, "accept");
    }
    PeerCredentials cred = GetPeerCredentials(fd);
    out.Set(n++, Napi::Number::New(env, fd));
    out.Set(n++, Napi::Number::New(env, cred.pid));
    out.Set(n++, Napi::Number::New(env, cred.uid));
    out.Set(n++, Napi::Number::New(env, cred.gid));
  }
  return out;
}

// peerCredentials(fd): { pid, uid, gid } of the peer (-1 when the platform cannot tell).
Napi::Value PeerCredentialsJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  PeerCredentials cred = GetPeerCredentials(fd);
  if (cred.error != 0) throw ErrnoError(env, cred.error, "getsockopt");
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, cred.pid));
  out.Set("uid", Napi::Number::New(env, cred.uid));
  out.Set("gid", Napi::Number::New(env, cred.gid));
  return out;
}

// recvFd(fd): { fd, data } for one message carrying a descriptor (SCM_RIGHTS), { fd: -1, data }
// for a message without one, null when nothing is pending (EAGAIN); EOF throws ECONNRESET.
Napi::Value RecvFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int sock = info[0].As<Napi::Number>().Int32Value();
  char data[4096];
  iovec iov{data, sizeof(data)};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
#if defined(SHIM_HAVE_MSG_CMSG_CLOEXEC)
  const int flags = MSG_CMSG_CLOEXEC | MSG_DONTWAIT;
#else
  const int flags = MSG_DONTWAIT;  // received fds are marked close-on-exec below
#endif
  ssize_t n;
  do {
    n = ::recvmsg(sock, &msg, flags);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return env.Null();
    throw ErrnoError(env, errno, "recvmsg");
  }
  int received = -1;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    int* fds = reinterpret_cast<int*>(CMSG_DATA(c));
    for (size_t i = 0; i < count; i++) {
      if (received < 0) {
        received = fds[i];
#if !defined(SHIM_HAVE_MSG_CMSG_CLOEXEC)
        SetFdFlags(received, false, true);
#endif
      } else {
        ::close(fds[i]);  // one descriptor per message is the protocol (runc's console socket)
      }
    }
  }
  if (n == 0 && received < 0) throw ErrnoError(env, ECONNRESET, "recvmsg");
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", Napi::Number::New(env, received));
  out.Set("data", Napi::Buffer<char>::Copy(env, data, static_cast<size_t>(n)));
  return out;
}

// socketPair(): two connected non-blocking, close-on-exec stream sockets.
Napi::Value SocketPair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fds[2];
#if defined(SHIM_HAVE_SOCK_FLAGS)
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0)
    throw ErrnoError(env, errno, "socketpair");
#else
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) throw ErrnoError(env, errno, "socketpair");
  if (SetFdFlags(fds[0], true, true) != 0 || SetFdFlags(fds[1], true, true) != 0) {
    int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    throw ErrnoError(env, err, "fcntl");
  }
#endif
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, fds[0]));
  out.Set(1u, Napi::Number::New(env, fds[1]));
  return out;
}

// isListeningSocket(fd): whether fd is a listening socket (checks an inherited fd 3).
Napi::Value IsListeningSocket(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  int value = 0;
  socklen_t len = sizeof(value);
  bool ok = ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &len) == 0 && value != 0;
  return Napi::Boolean::New(info.Env(), ok);
}

// localAddress(fd): the path a unix socket is bound to ('@name' for an abstract one, '' if
// unbound) — how a shim's daemon learns which socket its inherited fd 3 is.
Napi::Value LocalAddress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  sockaddr_un addr{};
  socklen_t len = sizeof(addr);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) throw ErrnoError(env, errno, "getsockname");
  if (addr.sun_family != AF_UNIX) throw ErrnoError(env, EAFNOSUPPORT, "getsockname");
  size_t n = len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
  if (n == 0) return Napi::String::New(env, "");
  if (addr.sun_path[0] == '\0') return Napi::String::New(env, "@" + std::string(addr.sun_path + 1, n - 1));
  return Napi::String::New(env, std::string(addr.sun_path, strnlen(addr.sun_path, n)));
}

}  // namespace

PeerCredentials GetPeerCredentials(int fd) {
  PeerCredentials cred;
#if defined(SHIM_PEERCRED_UCRED)
  ucred uc{};
  socklen_t len = sizeof(uc);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) != 0) {
    cred.error = errno;
    return cred;
  }
  cred.pid = uc.pid;
  cred.uid = static_cast<int64_t>(uc.uid);
  cred.gid = static_cast<int64_t>(uc.gid);
#elif defined(SHIM_PEERCRED_SOCKPEERCRED)
  sockpeercred pc{};
  socklen_t len = sizeof(pc);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &pc, &len) != 0) {
    cred.error = errno;
    return cred;
  }
  cred.pid = pc.pid;
  cred.uid = static_cast<int64_t>(pc.uid);
  cred.gid = static_cast<int64_t>(pc.gid);
#elif defined(SHIM_PEERCRED_XUCRED)
  xucred xc{};
  socklen_t len = sizeof(xc);
  if (::getsockopt(fd, 0 /* SOL_LOCAL */, LOCAL_PEERCRED, &xc, &len) != 0) {
    cred.error = errno;
    return cred;
  }
  if (xc.cr_version != XUCRED_VERSION) {
    cred.error = EINVAL;
    return cred;
  }
  cred.uid = static_cast<int64_t>(xc.cr_uid);
  cred.gid = xc.cr_ngroups > 0 ? static_cast<int64_t>(xc.cr_groups[0]) : -1;
#if defined(LOCAL_PEERPID)
  pid_t pid = -1;
  len = sizeof(pid);
  if (::getsockopt(fd, 0 /* SOL_LOCAL */, LOCAL_PEERPID, &pid, &len) == 0) cred.pid = pid;
#endif
#else
  uid_t uid;
  gid_t gid;
  if (::getpeereid(fd, &uid, &gid) != 0) {
    cred.error = errno;
    return cred;
  }
  cred.uid = static_cast<int64_t>(uid);
  cred.gid = static_cast<int64_t>(gid);
#endif
  return cred;
}

Napi::Object InitSocket(Napi::Env env, Napi::Object exports) {
  exports.Set("unixListen", Napi::Function::New(env, UnixListen, "unixListen"));
  exports.Set("unixConnect", Napi::Function::New(env, UnixConnect, "unixConnect"));
  exports.Set("accept", Napi::Function::New(env, Accept, "accept"));
  exports.Set("peerCredentials", Napi::Function::New(env, PeerCredentialsJs, "peerCredentials"));
  exports.Set("recvFd", Napi::Function::New(env, RecvFd, "recvFd"));
  exports.Set("socketPair", Napi::Function::New(env, SocketPair, "socketPair"));
  exports.Set("isListeningSocket", Napi::Function::New(env, IsListeningSocket, "isListeningSocket"));
  exports.Set("localAddress", Napi::Function::New(env, LocalAddress, "localAddress"));
  return exports;
}

}  // namespace shim

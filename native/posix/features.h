// What the POSIX layer may use on the system it is compiled for. Each SHIM_HAVE_* is a feature
// test (a macro the system headers define), so macOS and the BSDs take the portable path wherever
// Linux has a shortcut:
//
//   SHIM_HAVE_SOCK_FLAGS          socket(), socketpair() and accept4() take SOCK_NONBLOCK and
//                                 SOCK_CLOEXEC (Linux, FreeBSD, NetBSD, OpenBSD); else fcntl
//   SHIM_HAVE_MSG_CMSG_CLOEXEC    recvmsg() marks received fds close-on-exec; else fcntl
//   SHIM_HAVE_PIPE2               pipe2(O_CLOEXEC); else pipe() and fcntl
//   SHIM_HAVE_CLOSE_RANGE         close_range(CLOSE_RANGE_CLOEXEC) (Linux 5.9); else a loop
//   SHIM_PEERCRED_UCRED           SO_PEERCRED with struct ucred (Linux): pid, uid, gid
//   SHIM_PEERCRED_SOCKPEERCRED    SO_PEERCRED with struct sockpeercred (OpenBSD)
//   SHIM_PEERCRED_XUCRED          LOCAL_PEERCRED with struct xucred (FreeBSD, macOS), and
//                                 LOCAL_PEERPID for the pid where it exists (macOS)
//                                 (none of these: getpeereid(), uid and gid only)
//   SHIM_HAVE_ABSTRACT_SOCKETS    unix socket names in the abstract namespace (Linux)
//
// SHIM_GENERIC_POSIX (binding.gyp: generic_posix=1) turns every Linux shortcut off, and the
// Linux layer (native/linux) is not compiled: that is how the portable paths are built and
// tested on Linux (scripts/build-posix.js, test/posix-build.test.ts). SHIM_LINUX says whether
// the Linux layer is in the build.
#pragma once
#include <fcntl.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#if defined(__linux__) && !defined(SHIM_GENERIC_POSIX)
#define SHIM_LINUX 1
#endif

#if !defined(SHIM_GENERIC_POSIX)
#if defined(SOCK_NONBLOCK) && defined(SOCK_CLOEXEC)
#define SHIM_HAVE_SOCK_FLAGS 1
#endif
#if defined(MSG_CMSG_CLOEXEC)
#define SHIM_HAVE_MSG_CMSG_CLOEXEC 1
#endif
#if defined(__linux__) || defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__)
#define SHIM_HAVE_PIPE2 1
#endif
#if defined(__linux__)
#define SHIM_HAVE_CLOSE_RANGE 1
#define SHIM_HAVE_ABSTRACT_SOCKETS 1
#endif
#if defined(SO_PEERCRED) && defined(__linux__)
#define SHIM_PEERCRED_UCRED 1
#elif defined(SO_PEERCRED) && defined(__OpenBSD__)
#define SHIM_PEERCRED_SOCKPEERCRED 1
#endif
#endif  // !SHIM_GENERIC_POSIX

#if !defined(SHIM_PEERCRED_UCRED) && !defined(SHIM_PEERCRED_SOCKPEERCRED) && defined(LOCAL_PEERCRED)
#define SHIM_PEERCRED_XUCRED 1
#endif

// Without MSG_NOSIGNAL (macOS) a write to a closed socket raises SIGPIPE, which Node ignores for
// the whole process; the write then fails with EPIPE as it should.
#if !defined(MSG_NOSIGNAL)
#define MSG_NOSIGNAL 0
#endif

namespace shim {

// O_NONBLOCK and FD_CLOEXEC with fcntl, for fds made without SOCK_NONBLOCK/SOCK_CLOEXEC;
// 0 or -1 with errno set.
inline int SetFdFlags(int fd, bool nonblocking, bool cloexec) {
  if (nonblocking) {
    int fl = ::fcntl(fd, F_GETFL);
    if (fl < 0 || ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) return -1;
  }
  if (cloexec) {
    int fd_flags = ::fcntl(fd, F_GETFD);
    if (fd_flags < 0 || ::fcntl(fd, F_SETFD, fd_flags | FD_CLOEXEC) != 0) return -1;
  }
  return 0;
}

// A pipe with both ends close-on-exec (pipe2 where there is one); 0 or -1 with errno set.
inline int CloexecPipe(int fds[2]) {
#if defined(SHIM_HAVE_PIPE2)
  return ::pipe2(fds, O_CLOEXEC);
#else
  if (::pipe(fds) != 0) return -1;
  SetFdFlags(fds[0], false, true);
  SetFdFlags(fds[1], false, true);
  return 0;
#endif
}

}  // namespace shim

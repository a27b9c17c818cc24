// File descriptor helpers Node lacks: O_NONBLOCK and FD_CLOEXEC toggles, close, dup2, pipes (for
// children spawned without child_process), a terminal's window size (TIOCSWINSZ, for ResizePty on
// a pty master), and what a pipe holds and whether it has a reader (FIONREAD, poll), for draining
// a container's output FIFOs.
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>

#include "../errors.h"
#include "features.h"
#include "posix.h"

namespace shim {

namespace {

// setNonBlocking(fd, on) and setCloexec(fd, on).
Napi::Value SetFlag(const Napi::CallbackInfo& info, int get, int set, int flag) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  bool on = info[1].ToBoolean().Value();
  int flags = ::fcntl(fd, get);
  if (flags < 0) throw ErrnoError(env, errno, "fcntl");
  flags = on ? (flags | flag) : (flags & ~flag);
  if (::fcntl(fd, set, flags) != 0) throw ErrnoError(env, errno, "fcntl");
  return env.Undefined();
}

Napi::Value SetNonBlocking(const Napi::CallbackInfo& info) {
  return SetFlag(info, F_GETFL, F_SETFL, O_NONBLOCK);
}

Napi::Value SetCloexec(const Napi::CallbackInfo& info) {
  return SetFlag(info, F_GETFD, F_SETFD, FD_CLOEXEC);
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  if (::close(fd) != 0 && errno != EINTR) throw ErrnoError(info.Env(), errno, "close");
  return info.Env().Undefined();
}

// dup2(oldfd, newfd): e.g. the shim's log FIFO onto stderr, so crashes land in containerd's log.
Napi::Value Dup2(const Napi::CallbackInfo& info) {
  int from = info[0].As<Napi::Number>().Int32Value();
  int to = info[1].As<Napi::Number>().Int32Value();
  int r;
  do {
    r = ::dup2(from, to);
  } while (r < 0 && errno == EINTR);
  if (r < 0) throw ErrnoError(info.Env(), errno, "dup2");
  return info.Env().Undefined();
}

// setWindowSize(fd, columns, rows): TIOCSWINSZ on a pty master (ResizePty).
Napi::Value SetWindowSize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  winsize ws{};
  ws.ws_col = static_cast<unsigned short>(info[1].As<Napi::Number>().Uint32Value());
  ws.ws_row = static_cast<unsigned short>(info[2].As<Napi::Number>().Uint32Value());
  if (::ioctl(fd, TIOCSWINSZ, &ws) != 0) throw ErrnoError(env, errno, "ioctl");
  return env.Undefined();
}

// queuedBytes(fd): FIONREAD, the bytes in a pipe, FIFO or socket not read yet (any fd on it).
Napi::Value QueuedBytes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  int n = 0;
  if (::ioctl(fd, FIONREAD, &n) != 0) throw ErrnoError(env, errno, "ioctl");
  return Napi::Number::New(env, n);
}

// pollNow(fd, events): poll(2) without waiting; the revents (e.g. POLLERR on a pipe's write end
// that has no reader). A closed fd (POLLNVAL) fails as EBADF.
Napi::Value PollNow(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  pollfd p{};
  p.fd = info[0].As<Napi::Number>().Int32Value();
  p.events = static_cast<short>(info[1].As<Napi::Number>().Int32Value());
  int r;
  do {
    r = ::poll(&p, 1, 0);
  } while (r < 0 && errno == EINTR);
  if (r < 0) throw ErrnoError(env, errno, "poll");
  if (r > 0 && (p.revents & POLLNVAL) != 0) throw ErrnoError(env, EBADF, "poll");
  return Napi::Number::New(env, r == 0 ? 0 : p.revents);
}

// pipe(): [readFd, writeFd], both close-on-exec (a spawn's fd layout clears that in the child).
Napi::Value Pipe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fds[2];
  if (CloexecPipe(fds) != 0) throw ErrnoError(env, errno, "pipe");
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, fds[0]));
  out.Set(1u, Napi::Number::New(env, fds[1]));
  return out;
}

}  // namespace

Napi::Object InitFd(Napi::Env env, Napi::Object exports) {
  exports.Set("setNonBlocking", Napi::Function::New(env, SetNonBlocking, "setNonBlocking"));
  exports.Set("setCloexec", Napi::Function::New(env, SetCloexec, "setCloexec"));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd, "closeFd"));
  exports.Set("dup2", Napi::Function::New(env, Dup2, "dup2"));
  exports.Set("pipe", Napi::Function::New(env, Pipe, "pipe"));
  exports.Set("setWindowSize", Napi::Function::New(env, SetWindowSize, "setWindowSize"));
  exports.Set("queuedBytes", Napi::Function::New(env, QueuedBytes, "queuedBytes"));
  exports.Set("pollNow", Napi::Function::New(env, PollNow, "pollNow"));
  return exports;
}

}  // namespace shim

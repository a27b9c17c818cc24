#include "channel.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <memory>
#include <sched.h>

#include "../errors.h"
#include "../state.h"
#include "features.h"
#include "read_loop.h"

namespace shim {

namespace {

constexpr size_t kFlushNow = 1 << 20;  // flush inline once this much output is queued
constexpr size_t kDrainMark = 256 << 10;  // above this, JS waits for the drain event
// Busy polling never holds the loop longer than this in one go (timers and other I/O wait).
constexpr uint64_t kMaxSpinNanos = 2'000'000;

// One per JavaScript environment: channels with queued output or pending teardown, flushed in
// the prepare phase (before the loop may block) and the check phase (right after I/O callbacks).
struct Scheduler {
  uv_loop_t* loop = nullptr;
  uv_prepare_t prepare;
  uv_check_t check;
  std::vector<Channel*> pending;
  // Channels with busy polling on that sent something and wait for the peer's answer.
  std::vector<Channel*> spinners;
  std::unique_ptr<uint8_t[]> read_buffer{new uint8_t[kReadChunk]};

  static void Run(Scheduler* s) {
    if (s->pending.empty()) return;
    std::vector<Channel*> batch;
    batch.swap(s->pending);
    for (Channel* c : batch) c->FlushPending();
  }

  // Opt-in busy polling (Client/Server `busyPollMicros`): right before the loop would block,
  // check the waiting channels' sockets for a while instead of sleeping, yielding the CPU between
  // checks. On a VM a sleeping vCPU takes tens of microseconds to wake; this trades CPU for that.
  static void Spin(Scheduler* s) {
    uint64_t started = uv_hrtime();
    uint64_t deadline = 0;
    for (;;) {
      // Stop when the loop has other work (due timers, immediates) or nobody waits any more.
      if (s->spinners.empty() || uv_backend_timeout(s->loop) == 0) return;
      uint64_t now = uv_hrtime();
      if (deadline == 0) deadline = now + Budget(s);
      if (now >= deadline || now - started >= kMaxSpinNanos) return;
      std::vector<Channel*> ready;
      for (Channel* c : s->spinners) {
        if (c->InputPending()) ready.push_back(c);
      }
      if (ready.empty()) {
        sched_yield();
        continue;
      }
      // An answer: handle it here, flush what JS queued in reply, and wait for the next one.
      for (Channel* c : ready) c->ReadNow();
      Run(s);
      deadline = 0;
    }
  }

  static uint64_t Budget(Scheduler* s) {
    uint64_t budget = 0;
    for (Channel* c : s->spinners) budget = std::max<uint64_t>(budget, c->BusyPollNanos());
    return budget;
  }
};

Scheduler* GetScheduler(Napi::Env env) {
  AddonState& state = GetState(env);
  if (state.scheduler != nullptr) return static_cast<Scheduler*>(state.scheduler);
  Scheduler* s = new Scheduler();
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  uv_prepare_init(loop, &s->prepare);
  uv_check_init(loop, &s->check);
  s->prepare.data = s;
  s->check.data = s;
  s->loop = loop;
  uv_prepare_start(&s->prepare, [](uv_prepare_t* h) {
    Scheduler* sched = static_cast<Scheduler*>(h->data);
    Scheduler::Run(sched);
    Scheduler::Spin(sched);
  });
  uv_check_start(&s->check, [](uv_check_t* h) { Scheduler::Run(static_cast<Scheduler*>(h->data)); });
  uv_unref(reinterpret_cast<uv_handle_t*>(&s->prepare));
  uv_unref(reinterpret_cast<uv_handle_t*>(&s->check));
  state.scheduler = s;
  // The handles live inside Scheduler: free it only after libuv has closed both.
  state.cleanups.push_back([s]() {
    s->pending.clear();
    s->spinners.clear();
    uv_close(reinterpret_cast<uv_handle_t*>(&s->prepare), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&s->check),
             [](uv_handle_t* h) { delete static_cast<Scheduler*>(h->data); });
  });
  return s;
}

}  // namespace

Napi::Function Channel::Define(Napi::Env env) {
  return DefineClass(env, "Channel",
                     {InstanceMethod<&Channel::Send>("send"),
                      InstanceMethod<&Channel::Close>("close"),
                      InstanceMethod<&Channel::PauseReading>("pauseReading"),
                      InstanceMethod<&Channel::ResumeReading>("resumeReading"),
                      InstanceMethod<&Channel::Ref>("ref"),
                      InstanceMethod<&Channel::Unref>("unref"),
                      InstanceMethod<&Channel::SetBusyPoll>("setBusyPoll"),
                      InstanceAccessor<&Channel::Buffered>("buffered"),
                      InstanceAccessor<&Channel::Fd>("fd")});
}

// new Channel(fd, onFrames(data, meta), onEvent(kind, error?)): takes ownership of fd.
Channel::Channel(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<Channel>(info), fd_(-1), async_context_(info.Env(), "ttrpc.Channel") {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsFunction() || !info[2].IsFunction())
    throw ArgError(env, "new Channel(fd, onFrames, onEvent)");
  fd_ = info[0].As<Napi::Number>().Int32Value();
  on_frames_ = Napi::Persistent(info[1].As<Napi::Function>());
  on_event_ = Napi::Persistent(info[2].As<Napi::Function>());
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  poll_ = new uv_poll_t;
  int r = uv_poll_init_socket(loop, poll_, fd_);
  if (r != 0) {
    delete poll_;
    poll_ = nullptr;
    destroyed_ = true;
    throw ErrnoError(env, -r, "uv_poll_init");
  }
  poll_->data = this;
  GetScheduler(env);
  // Keep the JavaScript object (and so this) alive while the socket is open.
  Napi::ObjectWrap<Channel>::Ref();
  UpdatePoll();
}

Channel::~Channel() {
  if (!destroyed_) {
    if (poll_ != nullptr) {
      poll_->data = nullptr;
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    }
    if (fd_ >= 0) ::close(fd_);
  }
}

void Channel::UpdatePoll() {
  if (destroyed_ || poll_ == nullptr) return;
  int events = (reading_ && !closing_ ? UV_READABLE : 0) | (waiting_writable_ ? UV_WRITABLE : 0);
  if (events == 0) {
    uv_poll_stop(poll_);
  } else {
    uv_poll_start(poll_, events, &Channel::OnPoll);
  }
}

void Channel::OnPoll(uv_poll_t* handle, int status, int events) {
  Channel* self = static_cast<Channel*>(handle->data);
  if (self == nullptr || self->destroyed_) return;
  if (status < 0) {
    self->error_ = -status;
    self->error_syscall_ = "poll";
    self->closing_ = true;
    self->Destroy();
    return;
  }
  if ((events & UV_WRITABLE) != 0) {
    self->waiting_writable_ = false;
    self->Schedule();
    self->UpdatePoll();
  }
  if ((events & UV_READABLE) != 0) self->HandleReadable();
}

uint64_t Channel::BusyPollNanos() const { return busy_poll_ns_; }

// Whether the socket has bytes (or EOF) to read, without consuming them.
bool Channel::InputPending() const {
  if (destroyed_ || !reading_) return false;
  char byte;
  ssize_t n = ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

void Channel::ReadNow() {
  if (!destroyed_) HandleReadable();
}

void Channel::StopSpinning() {
  if (!spinning_) return;
  spinning_ = false;
  auto& spinners = GetScheduler(Env())->spinners;
  spinners.erase(std::remove(spinners.begin(), spinners.end(), this), spinners.end());
}

// setBusyPoll(microseconds): 0 turns it off (the default).
Napi::Value Channel::SetBusyPoll(const Napi::CallbackInfo& info) {
  double us = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : 0;
  busy_poll_ns_ = us > 0 ? static_cast<uint64_t>(std::min(us, 10000.0) * 1000.0) : 0;
  if (busy_poll_ns_ == 0) StopSpinning();
  return info.Env().Undefined();
}

void Channel::HandleReadable() {
  StopSpinning();
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  Scheduler* sched = GetScheduler(env);
  uint8_t* buf = sched->read_buffer.get();
  BatchBuilder batch;
  int fd = fd_;
  ReadOutcome outcome =
      ReadFrames([fd](uint8_t* b, size_t n) { return ::read(fd, b, n); }, buf, decoder_, batch);
  bool eof = outcome.end == ReadEnd::kEof || outcome.end == ReadEnd::kError;
  if (outcome.end == ReadEnd::kError) {
    error_ = outcome.error;
    error_syscall_ = "read";
  }
  if (!batch.empty() && !on_frames_.IsEmpty()) {
    auto taken = batch.Take(env);
    try {
      on_frames_.MakeCallback(Value(), {taken.first, taken.second}, async_context_);
    } catch (const Napi::Error& e) {
      napi_fatal_exception(env, e.Value());
    }
  }
  if (eof && !destroyed_) {
    closing_ = true;
    Destroy();
  }
}

bool Channel::WriteOut() {
  while (out_offset_ < out_.size()) {
    ssize_t n = ::send(fd_, out_.data() + out_offset_, out_.size() - out_offset_, MSG_NOSIGNAL);
    if (n >= 0) {
      out_offset_ += static_cast<size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!waiting_writable_) {
        waiting_writable_ = true;
        UpdatePoll();
      }
      break;
    }
    error_ = errno;
    error_syscall_ = "send";
    return false;
  }
  if (out_offset_ == out_.size()) {
    out_.clear();
    out_offset_ = 0;
    if (out_.capacity() > (4u << 20)) std::vector<uint8_t>().swap(out_);
  } else if (out_offset_ > (256u << 10) && out_offset_ * 2 > out_.size()) {
    out_.erase(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(out_offset_));
    out_offset_ = 0;
  }
  return true;
}

void Channel::Schedule() {
  if (scheduled_ || destroyed_) return;
  scheduled_ = true;
  GetScheduler(Env())->pending.push_back(this);
}

void Channel::FlushPending() {
  scheduled_ = false;
  if (destroyed_) {
    Release();
    return;
  }
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  if (error_ == 0 && !waiting_writable_ && !WriteOut()) closing_ = true;
  bool empty = out_offset_ == out_.size();
  if (closing_ && (error_ != 0 || !graceful_ || empty)) {
    Destroy();
    return;
  }
  if (empty && want_drain_) {
    want_drain_ = false;
    Emit(kDrain, env.Undefined());
  }
}

void Channel::Destroy() {
  if (destroyed_) return;
  StopSpinning();
  destroyed_ = true;
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  if (poll_ != nullptr) {
    poll_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    poll_ = nullptr;
  }
  ::close(fd_);
  fd_ = -1;
  // Nothing of a closed connection stays: queued output, a partial frame, and the callbacks
  // (they close over the connection object, which holds this channel).
  std::vector<uint8_t>().swap(out_);
  out_offset_ = 0;
  decoder_.Reset();
  napi_value err = error_ != 0 ? ErrnoError(env, error_, error_syscall_).Value() : env.Undefined();
  Emit(kClose, err);
  on_frames_.Reset();
  on_event_.Reset();
  Release();
}

// Lets the JavaScript object (and so this) be collected once destroyed and out of the
// scheduler's pending list, which holds a raw pointer.
void Channel::Release() {
  if (!destroyed_ || scheduled_ || released_) return;
  released_ = true;
  Napi::ObjectWrap<Channel>::Unref();
}

void Channel::Emit(Event event, napi_value arg) {
  if (on_event_.IsEmpty()) return;
  Napi::Env env = Env();
  try {
    on_event_.MakeCallback(Value(), {Napi::Number::New(env, event), arg}, async_context_);
  } catch (const Napi::Error& e) {
    napi_fatal_exception(env, e.Value());
  }
}

// send(streamId, type, flags, payload?): queues one frame; returns the bytes now queued.
Napi::Value Channel::Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (destroyed_ || closing_) throw CodeError(env, "ERR_TTRPC_CLOSED", "ttrpc: channel is closed");
  AppendFrame(info, out_);
  if (busy_poll_ns_ > 0 && !spinning_) {
    spinning_ = true;
    GetScheduler(env)->spinners.push_back(this);
  }
  size_t queued = out_.size() - out_offset_;
  if (queued >= kFlushNow && !waiting_writable_ && error_ == 0) {
    if (!WriteOut()) closing_ = true;
    queued = out_.size() - out_offset_;
  }
  if (queued >= kDrainMark) want_drain_ = true;
  Schedule();
  return Napi::Number::New(env, double(queued));
}

// close(graceful?): graceful waits for queued output to be written first.
Napi::Value Channel::Close(const Napi::CallbackInfo& info) {
  if (destroyed_) return info.Env().Undefined();
  graceful_ = info.Length() > 0 && info[0].ToBoolean().Value();
  closing_ = true;
  UpdatePoll();
  Schedule();
  return info.Env().Undefined();
}

Napi::Value Channel::PauseReading(const Napi::CallbackInfo& info) {
  reading_ = false;
  UpdatePoll();
  return info.Env().Undefined();
}

Napi::Value Channel::ResumeReading(const Napi::CallbackInfo& info) {
  reading_ = true;
  UpdatePoll();
  return info.Env().Undefined();
}

Napi::Value Channel::Ref(const Napi::CallbackInfo& info) {
  if (poll_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
  return info.Env().Undefined();
}

Napi::Value Channel::Unref(const Napi::CallbackInfo& info) {
  if (poll_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
  return info.Env().Undefined();
}

Napi::Value Channel::Buffered(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(out_.size() - out_offset_));
}

Napi::Value Channel::Fd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }

Napi::Object InitChannel(Napi::Env env, Napi::Object exports) {
  exports.Set("Channel", Channel::Define(env));
  exports.Set("writeHighWaterMark", Napi::Number::New(env, double(kDrainMark)));
  return exports;
}

}  // namespace shim

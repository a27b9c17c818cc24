#include "channel.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "../errors.h"
#include "../state.h"
#include "features.h"
#include "read_loop.h"

namespace shim {

namespace {

constexpr size_t kFlushNow = 1 << 20;  // flush inline once this much output is queued
constexpr size_t kStagingSize = 8u << 10;  // sendStaged's buffer: STAGED_MAX in lib/ttrpc/transport.ts
constexpr size_t kDrainMark = 256 << 10;  // above this, JS waits for the drain event
// A check (poll + yield) that kept us off the CPU this long means another thread wanted this CPU:
// spinning only pays when the CPU would otherwise go idle (a busy CPU does not sleep, and a
// sleeper woken on it preempts the running thread anyway), so stop and leave the CPU alone for a
// while, doubling up to the maximum while it stays contended.
constexpr uint64_t kPreemptedNs = 20'000;
constexpr uint64_t kQuietMinNs = 10'000'000;
constexpr uint64_t kQuietMaxNs = 1'000'000'000;
// How long a reading of the system's runnable threads, and of its CPU pressure, is trusted.
constexpr uint64_t kRunnableCheckNs = 1'000'000;
constexpr uint64_t kPressureCheckNs = 250'000'000;
// CPU pressure (share of the last 10 s some thread waited for a CPU) above which nothing spins.
constexpr double kMaxPressure = 10.0;

// Whether the machine has a CPU to spare. Two readings: no more threads runnable right now than
// CPUs (the 4th field of /proc/loadavg, "running/total", counts this thread too), and, where the
// kernel reports it, little CPU pressure lately (/proc/pressure/cpu "some avg10", %): on a
// machine that is often busy a spin soon meets a thread that wants the CPU, and a yield hands the
// CPU to it for a whole time slice. Without /proc the preemption check alone guards the spin.
// Each reading opens its file and closes it again (a few µs, at most once a millisecond while
// spinning): a descriptor kept open would outlive the first connection of the process, and a
// warm standby that ran an action with a client (a grouped shim's `start`) would find an fd it
// did not have before and exit instead of serving the next action.
class CpuGauge {
 public:
  CpuGauge() {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    cpus_ = n > 0 ? n : 1;
  }

  bool Spare(uint64_t now) {
    if (has_pressure_ && (pressure_at_ == 0 || now - pressure_at_ >= kPressureCheckNs)) {
      pressure_at_ = now;
      char buf[256];
      // "some avg10=0.52 avg60=0.58 avg300=0.59 total=12345\nfull ..."
      if (Read("/proc/pressure/cpu", buf, sizeof(buf))) {
        const char* p = std::strstr(buf, "avg10=");
        calm_ = p == nullptr || std::strtod(p + 6, nullptr) <= kMaxPressure;
      } else if (errno == ENOENT || errno == EOPNOTSUPP) {
        has_pressure_ = false;  // no PSI in this kernel (or turned off): not asked again
      }
    }
    if (!calm_) return false;
    if (!has_loadavg_) return true;
    if (checked_at_ != 0 && now - checked_at_ < kRunnableCheckNs) return spare_;
    checked_at_ = now;
    char buf[128];
    if (!Read("/proc/loadavg", buf, sizeof(buf))) {
      if (errno == ENOENT) has_loadavg_ = false;  // no /proc
      return spare_ = true;
    }
    // "0.52 0.58 0.59 3/689 12345"
    const char* p = buf;
    for (int field = 0; field < 3 && p != nullptr; field++) {
      p = std::strchr(p, ' ');
      if (p != nullptr) p++;
    }
    long running = p != nullptr ? std::strtol(p, nullptr, 10) : 0;
    return spare_ = running <= cpus_;
  }

 private:
  // errno tells why on false.
  static bool Read(const char* path, char* buf, size_t size) {
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    ssize_t n = ::read(fd, buf, size - 1);
    int err = errno;
    ::close(fd);
    if (n <= 0) {
      errno = n == 0 ? EIO : err;
      return false;
    }
    buf[n] = 0;
    return true;
  }

  bool has_loadavg_ = true;
  bool has_pressure_ = true;
  long cpus_ = 1;
  uint64_t checked_at_ = 0;
  uint64_t pressure_at_ = 0;
  bool spare_ = true;
  bool calm_ = true;
};

// What adaptive busy polling did (native.spinStats()): spins started, ended by I/O, by their
// budget running out, or by a contended CPU, and the time spent in them.
struct SpinStats {
  uint64_t spins = 0;
  uint64_t hits = 0;
  uint64_t timeouts = 0;
  uint64_t contended = 0;
  uint64_t busy = 0;  // spins not started: the CPUs were busy (runnable threads, CPU pressure)
  uint64_t spin_ns = 0;
};

// One per JavaScript environment: channels with queued output or pending teardown, flushed in
// the prepare phase (before the loop may block) and the check phase (right after I/O callbacks).
struct Scheduler {
  uv_loop_t* loop = nullptr;
  uv_prepare_t prepare;
  uv_check_t check;
  std::vector<Channel*> pending;
  // Channels whose output went out and that wait for the peer, with spinning likely to pay.
  std::vector<Channel*> spinners;
  uint64_t quiet_until = 0;  // no spinning before this (the CPU was contended)
  uint64_t quiet_ns = kQuietMinNs;
  SpinStats stats;
  CpuGauge cpu;
  bool always = false;  // tests: spin on every wait, whatever was learnt and however busy the CPU
  std::unique_ptr<uint8_t[]> read_buffer{new uint8_t[kReadChunk]};
  BatchPool batches;
  // The staging buffer (sendStaged): a Buffer JavaScript writes small frames' bodies into.
  Napi::Reference<Napi::Buffer<uint8_t>> staging_ref;
  uint8_t* staging = nullptr;
  int closed_handles = 0;  // teardown: prepare, check and trim closed
  // Returns cached payload blocks (MappedCache) to the system once they are old, so a process
  // that went idle keeps none; armed by the prepare phase while anything is cached.
  uv_timer_t trim;

  static void TrimLater(Scheduler* s) {
    if (uv_is_active(reinterpret_cast<uv_handle_t*>(&s->trim)) || MappedCache::Instance().empty())
      return;
    uv_timer_start(
        &s->trim,
        [](uv_timer_t* t) {
          MappedCache::Instance().Trim();
          TrimLater(static_cast<Scheduler*>(t->data));
        },
        MappedCache::kMaxAgeMs + 100, 0);
  }

  static void Run(Scheduler* s) {
    if (s->pending.empty()) return;
    std::vector<Channel*> batch;
    batch.swap(s->pending);
    for (Channel* c : batch) c->FlushPending();
  }

  // Adaptive busy polling (spin.h): right before the loop would block, and only while a waiting
  // connection's peer usually answers within its spin budget, check whether the loop has I/O
  // ready (poll(2) on its epoll fd: any connection, timer-free) instead of sleeping, yielding the
  // CPU between checks. Whatever arrives is then handled by the loop's own poll phase, which
  // finds it ready and does not sleep. Stops at once when the loop has other work, and backs off
  // when the CPU is contended.
  static void Spin(Scheduler* s) {
    if (s->spinners.empty()) return;
    uint64_t now = uv_hrtime();
    uint64_t until = 0;
    // Drop the channels whose spin budget is spent: their wait goes on asleep.
    size_t kept = 0;
    for (Channel* c : s->spinners) {
      uint64_t u = c->SpinUntil(s->always);
      if (u > now) {
        s->spinners[kept++] = c;
        until = std::max(until, u);
      } else {
        c->LeftSpinners();
      }
    }
    s->spinners.resize(kept);
    if (until == 0 || (now < s->quiet_until && !s->always)) return;
    if (!s->always && !s->cpu.Spare(now)) {
      s->stats.busy++;
      return;
    }
    int timeout = uv_backend_timeout(s->loop);  // ms; 0: timers due or immediates queued
    if (timeout == 0) return;
    if (timeout > 0) until = std::min<uint64_t>(until, now + uint64_t(timeout) * 1'000'000);
    s->stats.spins++;
    struct pollfd loop_fd = {uv_backend_fd(s->loop), POLLIN, 0};
    uint64_t before = now;
    for (;;) {
      if (::poll(&loop_fd, 1, 0) != 0) {  // I/O ready (or poll failed: let the loop find out)
        s->stats.hits++;
        break;
      }
      sched_yield();
      uint64_t after = uv_hrtime();
      if (after - before >= kPreemptedNs && !s->always) {
        s->stats.contended++;
        s->quiet_until = after + s->quiet_ns;
        s->quiet_ns = std::min(s->quiet_ns * 2, kQuietMaxNs);
        break;
      }
      if (after >= until) {
        s->stats.timeouts++;
        break;
      }
      before = after;
    }
    uint64_t end = uv_hrtime();
    s->stats.spin_ns += end - now;
    if (end < s->quiet_until) return;
    s->quiet_ns = kQuietMinNs;
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
  uv_timer_init(loop, &s->trim);
  s->prepare.data = s;
  s->check.data = s;
  s->trim.data = s;
  s->loop = loop;
  uv_prepare_start(&s->prepare, [](uv_prepare_t* h) {
    Scheduler* sched = static_cast<Scheduler*>(h->data);
    Scheduler::Run(sched);
    Scheduler::TrimLater(sched);
    Scheduler::Spin(sched);
  });
  uv_check_start(&s->check, [](uv_check_t* h) { Scheduler::Run(static_cast<Scheduler*>(h->data)); });
  uv_unref(reinterpret_cast<uv_handle_t*>(&s->prepare));
  uv_unref(reinterpret_cast<uv_handle_t*>(&s->check));
  uv_unref(reinterpret_cast<uv_handle_t*>(&s->trim));
  state.scheduler = s;
  // The handles live inside Scheduler: free it only after libuv has closed both.
  state.cleanups.push_back([s]() {
    s->pending.clear();
    s->spinners.clear();
    s->batches.Reset();
    s->staging_ref.Reset();
    s->staging = nullptr;
    // libuv finishes closes in any order (LIFO today): free it with the second one.
    auto closed = [](uv_handle_t* h) {
      Scheduler* sched = static_cast<Scheduler*>(h->data);
      if (++sched->closed_handles == 3) delete sched;
    };
    uv_close(reinterpret_cast<uv_handle_t*>(&s->prepare), closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&s->check), closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&s->trim), closed);
  });
  return s;
}

}  // namespace

Napi::Function Channel::Define(Napi::Env env) {
  return DefineClass(env, "Channel",
                     {
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
    : Napi::ObjectWrap<Channel>(info),
      fd_(-1),
      out_(&Channel::ReleasePayload, this),
      async_context_(info.Env(), "ttrpc.Channel") {
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
  // The hot methods as own functions that carry this channel: a prototype method would first
  // find it with napi_unwrap, which costs more than the rest of a small send.
  Napi::Object self = info.This().As<Napi::Object>();
  self.Set("send", Napi::Function::New(
                       env, [](const Napi::CallbackInfo& i) {
                         return static_cast<Channel*>(i.Data())->Send(i);
                       },
                       "send", this));
  self.Set("sendStaged", Napi::Function::New(
                             env, [](const Napi::CallbackInfo& i) {
                               return static_cast<Channel*>(i.Data())->SendStaged(i);
                             },
                             "sendStaged", this));
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

// A referenced payload was written (or dropped): the JavaScript buffer may go.
void Channel::ReleasePayload(void* owner, void* keep) {
  napi_delete_reference(static_cast<Channel*>(owner)->Env(), static_cast<napi_ref>(keep));
}

uint64_t Channel::SpinUntil(bool always) const {
  return destroyed_ || !reading_ ? 0 : spin_.SpinUntil(always);
}

void Channel::LeftSpinners() { spinning_ = false; }

void Channel::StopSpinning() {
  if (!spinning_) return;
  spinning_ = false;
  auto& spinners = GetScheduler(Env())->spinners;
  spinners.erase(std::remove(spinners.begin(), spinners.end(), this), spinners.end());
}

// setBusyPoll(microseconds): the bound of one adaptive spin (spin.h); 0 turns spinning off.
Napi::Value Channel::SetBusyPoll(const Napi::CallbackInfo& info) {
  double us = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : 0;
  spin_.SetBound(us > 0 ? static_cast<uint64_t>(std::min(us, 10000.0) * 1000.0) : 0);
  if (spin_.bound() == 0) StopSpinning();
  return info.Env().Undefined();
}

void Channel::HandleReadable() {
  StopSpinning();
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  Scheduler* sched = GetScheduler(env);
  uint8_t* buf = sched->read_buffer.get();
  BatchBuilder batch(&sched->batches);
  int fd = fd_;
  bool got = false;
  ReadOutcome outcome = ReadFrames(
      [fd, &got](uint8_t* b, size_t n) {
        ssize_t r = ::read(fd, b, n);
        got |= r > 0;
        return r;
      },
      buf, decoder_, batch);
  if (got && spin_.waiting()) spin_.Read(uv_hrtime());
  bool eof = outcome.end == ReadEnd::kEof || outcome.end == ReadEnd::kError;
  if (outcome.end == ReadEnd::kError) {
    error_ = outcome.error;
    error_syscall_ = "read";
  }
  if (!batch.empty() && !on_frames_.IsEmpty()) {
    BatchBuilder::Args taken = batch.Take(env);
    try {
      on_frames_.MakeCallback(Value(), taken.count, taken.values, async_context_);
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
  bool wrote = false;
  while (!out_.empty()) {
    ssize_t n = out_.WriteTo(fd_);
    if (n > 0) {
      wrote = true;
      continue;
    }
    if (n == 0) break;
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
  if (wrote && out_.empty()) Wrote();
  return true;
}

// Everything queued went out: the peer's answer (or next request) is awaited from now on.
void Channel::Wrote() {
  if (spin_.bound() == 0) return;
  spin_.Wrote(uv_hrtime());
  if (!spinning_) {
    spinning_ = true;
    GetScheduler(Env())->spinners.push_back(this);
  }
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
  bool empty = out_.empty();
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
  out_.Clear();
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
  SendArgs a = ParseSend(info);
  if (a.payload_length >= OutQueue::kReferenceMin) {
    // Written from the JavaScript buffer itself, kept alive until then.
    WriteFrameHead(out_.Extend(kHeaderLength + a.head_length), a);
    napi_ref ref = nullptr;
    if (napi_create_reference(env, a.payload_value, 1, &ref) != napi_ok)
      throw Napi::Error::New(env);
    out_.Reference(a.payload, a.payload_length, ref);
  } else {
    uint8_t* p = out_.Extend(kHeaderLength + a.header.length);
    WriteFrameHead(p, a);
    if (a.payload_length > 0)
      std::memcpy(p + kHeaderLength + a.head_length, a.payload, a.payload_length);
  }
  return Queued(env);
}

// sendStaged(streamId, type, flags, length): queues a frame whose body JavaScript wrote at the
// start of the staging buffer (native.staging()): no typed array to look into, so small frames
// cost one call with four numbers.
Napi::Value Channel::SendStaged(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (destroyed_ || closing_) throw CodeError(env, "ERR_TTRPC_CLOSED", "ttrpc: channel is closed");
  uint32_t v[4];
  for (size_t i = 0; i < 4; i++) {
    if (i >= info.Length() || napi_get_value_uint32(env, info[i], &v[i]) != napi_ok)
      throw ArgError(env, "sendStaged(streamId, type, flags, length)");
  }
  Scheduler* sched = GetScheduler(env);
  if (sched->staging == nullptr || v[3] > kStagingSize)
    throw ArgError(env, "sendStaged: length exceeds the staging buffer");
  uint8_t* p = out_.Extend(kHeaderLength + v[3]);
  EncodeHeader(p, FrameHeader{v[3], v[0], static_cast<uint8_t>(v[1]), static_cast<uint8_t>(v[2])});
  if (v[3] > 0) std::memcpy(p + kHeaderLength, sched->staging, v[3]);
  return Queued(env);
}

// After a frame was queued: flush at once past kFlushNow, note the drain mark, schedule the
// flush; the bytes now queued.
Napi::Value Channel::Queued(Napi::Env env) {
  size_t queued = out_.size();
  if (queued >= kFlushNow && !waiting_writable_ && error_ == 0) {
    if (!WriteOut()) closing_ = true;
    queued = out_.size();
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
  return Napi::Number::New(info.Env(), double(out_.size()));
}

Napi::Value Channel::Fd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }

// spinStats(): what adaptive busy polling did in this environment so far.
Napi::Value SpinStatsJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const SpinStats& st = GetScheduler(env)->stats;
  Napi::Object out = Napi::Object::New(env);
  out.Set("spins", double(st.spins));
  out.Set("hits", double(st.hits));
  out.Set("timeouts", double(st.timeouts));
  out.Set("contended", double(st.contended));
  out.Set("busy", double(st.busy));
  out.Set("spinNanos", double(st.spin_ns));
  return out;
}

// staging(): this environment's staging buffer for sendStaged (one, created on first use).
Napi::Value StagingJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Scheduler* s = GetScheduler(env);
  if (s->staging == nullptr) {
    Napi::Buffer<uint8_t> buffer = Napi::Buffer<uint8_t>::New(env, kStagingSize);
    s->staging_ref = Napi::Persistent(buffer);
    s->staging = buffer.Data();
  }
  return s->staging_ref.Value();
}

// spinAlways(on): tests only; spin on every wait for the whole bound (what adaptive polling would
// do at its most eager), so suites can check that spinning never changes what is delivered.
Napi::Value SpinAlwaysJs(const Napi::CallbackInfo& info) {
  GetScheduler(info.Env())->always = info.Length() > 0 && info[0].ToBoolean().Value();
  return info.Env().Undefined();
}

Napi::Object InitChannel(Napi::Env env, Napi::Object exports) {
  exports.Set("Channel", Channel::Define(env));
  exports.Set("spinStats", Napi::Function::New(env, SpinStatsJs, "spinStats"));
  exports.Set("spinAlways", Napi::Function::New(env, SpinAlwaysJs, "spinAlways"));
  exports.Set("staging", Napi::Function::New(env, StagingJs, "staging"));
  exports.Set("writeHighWaterMark", Napi::Number::New(env, double(kDrainMark)));
  return exports;
}

}  // namespace shim

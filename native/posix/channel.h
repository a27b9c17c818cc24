// Channel: TTRPC frame I/O on a connected, non-blocking socket fd, driven by libuv's poll phase.
// Reads are drained until EAGAIN and every complete frame of one wake-up goes to JavaScript in a
// single call; writes are coalesced in one buffer and flushed once per loop iteration (prepare and
// check phases), so a burst of responses costs one send(2).
#pragma once
#include <napi.h>
#include <uv.h>

#include <vector>

#include "../frame.h"
#include "out_queue.h"
#include "spin.h"

namespace shim {

class Channel : public Napi::ObjectWrap<Channel> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Channel(const Napi::CallbackInfo& info);
  ~Channel() override;

  // Called by the per-loop flush scheduler.
  void FlushPending();
  // Adaptive busy polling (see spin.h and Scheduler::Spin): until when a spin for this
  // channel's current wait pays (0: it does not), and its removal from the spinners.
  uint64_t SpinUntil(bool always) const;
  void LeftSpinners();

 private:
  enum Event { kDrain = 1, kClose = 2 };

  Napi::Value Send(const Napi::CallbackInfo& info);
  Napi::Value SendStaged(const Napi::CallbackInfo& info);
  Napi::Value Queued(Napi::Env env);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value PauseReading(const Napi::CallbackInfo& info);
  Napi::Value ResumeReading(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);
  Napi::Value Buffered(const Napi::CallbackInfo& info);
  Napi::Value Fd(const Napi::CallbackInfo& info);
  Napi::Value SetBusyPoll(const Napi::CallbackInfo& info);
  void StopSpinning();
  void Wrote();

  static void OnPoll(uv_poll_t* handle, int status, int events);
  static void ReleasePayload(void* owner, void* keep);
  void HandleReadable();
  bool WriteOut();  // false when the socket failed; error_ is set
  void UpdatePoll();
  void Schedule();
  void Destroy();
  void Release();
  void Emit(Event event, napi_value arg);

  int fd_;
  uv_poll_t* poll_ = nullptr;
  bool reading_ = true;
  bool waiting_writable_ = false;
  bool scheduled_ = false;
  bool want_drain_ = false;
  bool closing_ = false;       // close requested: flush what we can, then destroy
  bool graceful_ = false;      // close after the output buffer drained
  bool destroyed_ = false;
  bool released_ = false;      // the JavaScript object may be collected
  bool spinning_ = false;      // in the scheduler's spinners list
  SpinPredictor spin_;
  int error_ = 0;              // errno that ended the channel; 0 for EOF or a local close
  const char* error_syscall_ = "";
  FrameDecoder decoder_;
  OutQueue out_;
  Napi::FunctionReference on_frames_;
  Napi::FunctionReference on_event_;
  Napi::AsyncContext async_context_;
};

Napi::Object InitChannel(Napi::Env env, Napi::Object exports);

}  // namespace shim

// Named pipes carrying TTRPC frames, over the environment's completion port (iocp.h).
//
// PipeChannel has the JavaScript shape of the POSIX Channel (native/posix/channel.h): every read
// completion, plus whatever further reads complete at once (FILE_SKIP_COMPLETION_PORT_ON_SUCCESS),
// is split into frames by FrameDecoder and handed to JavaScript in one call (BatchBuilder's
// (data, meta) pair); `send` appends a frame to one output buffer that is written with a single WriteFile per
// loop iteration (scheduled through setImmediate), while a write is in flight further frames
// accumulate and go out in the next one. Backpressure, drain and close events are the POSIX ones.
// A channel in raw mode carries bytes instead of frames (the shim's log pipe).
//
// PipeListener keeps a few instances of the pipe waiting in ConnectNamedPipe; each connected
// instance is handed to JavaScript (handle and client pid; one call per wake-up) and replaced.
#pragma once
#include "win.h"

#include <vector>

#include "../frame.h"
#include "iocp.h"

namespace shim {

class PipeChannel : public Napi::ObjectWrap<PipeChannel>, public IocpOwner {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit PipeChannel(const Napi::CallbackInfo& info);
  ~PipeChannel() override;

  void OnComplete(IocpOp* op, DWORD bytes, DWORD error) override;
  void Flush() override;
  void Abandon() override;

 private:
  enum Event { kDrain = 1, kClose = 2 };
  enum OpKind { kRead = 1, kWrite = 2 };

  Napi::Value Send(const Napi::CallbackInfo& info);
  Napi::Value Write(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value PauseReading(const Napi::CallbackInfo& info);
  Napi::Value ResumeReading(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);
  Napi::Value Buffered(const Napi::CallbackInfo& info);
  Napi::Value Handle(const Napi::CallbackInfo& info);
  Napi::Value SecurityDescriptor(const Napi::CallbackInfo& info);

  // Consumes `n` bytes from the read buffer, then keeps reading while reads complete at once.
  void HandleRead(DWORD bytes, DWORD error);
  void HandleWritten(DWORD bytes, DWORD error);
  // Issues ReadFile; returns true when it completed at once (`*got` bytes, `*error`).
  bool IssueRead(DWORD* got, DWORD* error);
  void StartReading();
  bool StartWrite();  // false when the pipe failed; error_ is set
  void AfterWrite();
  size_t Queued() const;
  void Consume(const uint8_t* data, size_t n, BatchBuilder& batch, std::vector<uint8_t>& raw);
  void Deliver(BatchBuilder& batch, std::vector<uint8_t>& raw);
  void Destroy();
  void CloseHandleNow();
  void MaybeRelease();
  void Emit(Event event, napi_value arg);

  HANDLE handle_ = INVALID_HANDLE_VALUE;
  Iocp* iocp_ = nullptr;
  bool raw_ = false;
  bool skip_on_success_ = false;
  bool reading_ = true;
  bool closing_ = false;
  bool graceful_ = false;
  bool destroyed_ = false;
  bool released_ = false;
  bool refed_ = false;
  bool want_drain_ = false;
  bool read_again_ = false;    // reading stopped after kMaxReadsPerWake: resume from Flush
  bool eof_pending_ = false;   // the pipe ended while reading was paused
  DWORD error_ = 0;            // Win32 error that ended the channel; 0 for EOF or a local close
  const char* error_syscall_ = "";
  IocpOp* read_op_ = nullptr;
  IocpOp* write_op_ = nullptr;
  size_t write_offset_ = 0;    // bytes of write_op_->buffer already written
  std::vector<uint8_t> out_;   // queued, not yet handed to WriteFile
  std::vector<uint8_t> stash_; // read while paused
  FrameDecoder decoder_;
  Napi::FunctionReference on_frames_;
  Napi::FunctionReference on_event_;
  Napi::AsyncContext async_context_;
};

class PipeListener : public Napi::ObjectWrap<PipeListener>, public IocpOwner {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit PipeListener(const Napi::CallbackInfo& info);
  ~PipeListener() override;

  void OnComplete(IocpOp* op, DWORD bytes, DWORD error) override;
  void AfterCompletions() override;
  void Flush() override;
  void Abandon() override;

 private:
  struct Instance {
    HANDLE handle = INVALID_HANDLE_VALUE;
    IocpOp* op = nullptr;
  };

  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);
  Napi::Value Sddl(const Napi::CallbackInfo& info);
  Napi::Value Path(const Napi::CallbackInfo& info);

  // CreateNamedPipeW; INVALID_HANDLE_VALUE and `*error` on failure.
  HANDLE CreateInstance(bool first, DWORD* error);
  // Waits for a client on `inst`, replacing its handle first when it has none.
  void Arm(Instance* inst);
  void Accepted(Instance* inst);
  void Deliver();
  void CloseAll();
  void MaybeRelease();

  std::wstring path_;
  std::string path_utf8_;
  std::wstring sddl_;
  PSECURITY_DESCRIPTOR security_ = nullptr;
  Iocp* iocp_ = nullptr;
  std::vector<Instance*> instances_;
  std::vector<double> accepted_;   // handle, pid, handle, pid, ...
  std::vector<DWORD> errors_;
  bool closed_ = false;
  bool released_ = false;
  bool refed_ = false;
  Napi::FunctionReference on_connection_;
  Napi::AsyncContext async_context_;
};

}  // namespace shim

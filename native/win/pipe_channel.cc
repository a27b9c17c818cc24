#include "pipe.h"  // first: windows.h before aclapi.h and sddl.h

#include <aclapi.h>
#include <sddl.h>

#include <algorithm>
#include <cstring>

#include "../errors.h"
#include "win_errors.h"

namespace shim {

namespace {

constexpr size_t kReadChunk = 64 << 10;
constexpr size_t kFlushNow = 1 << 20;     // write at once once this much output is queued
constexpr int kMaxReadsPerWake = 32;      // then yield to the loop and read on from Flush
constexpr size_t kDrainMark = 256 << 10;  // above this, JS waits for the drain event (as POSIX)

bool IsEof(DWORD error) {
  return error == ERROR_BROKEN_PIPE || error == ERROR_PIPE_NOT_CONNECTED || error == ERROR_NO_DATA;
}

}  // namespace

Napi::Function PipeChannel::Define(Napi::Env env) {
  return DefineClass(env, "PipeChannel",
                     {InstanceMethod<&PipeChannel::Send>("send"),
                      InstanceMethod<&PipeChannel::Write>("write"),
                      InstanceMethod<&PipeChannel::Close>("close"),
                      InstanceMethod<&PipeChannel::PauseReading>("pauseReading"),
                      InstanceMethod<&PipeChannel::ResumeReading>("resumeReading"),
                      InstanceMethod<&PipeChannel::Ref>("ref"),
                      InstanceMethod<&PipeChannel::Unref>("unref"),
                      InstanceMethod<&PipeChannel::SecurityDescriptor>("securityDescriptor"),
                      InstanceAccessor<&PipeChannel::Buffered>("buffered"),
                      InstanceAccessor<&PipeChannel::Handle>("handle")});
}

// new PipeChannel(handle, onFrames(data, meta), onEvent(kind, error?), raw?): takes ownership of a
// connected pipe handle already associated with the completion port (from PipeListener or
// pipeConnect). A raw channel calls onFrames(bytes) with what it read, and is written with write().
PipeChannel::PipeChannel(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<PipeChannel>(info), async_context_(info.Env(), "ttrpc.PipeChannel") {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsFunction() || !info[2].IsFunction())
    throw ArgError(env, "new PipeChannel(handle, onFrames, onEvent, raw?)");
  handle_ = NumberToHandle(info[0].As<Napi::Number>().DoubleValue());
  raw_ = info.Length() > 3 && info[3].ToBoolean().Value();
  on_frames_ = Napi::Persistent(info[1].As<Napi::Function>());
  on_event_ = Napi::Persistent(info[2].As<Napi::Function>());
  iocp_ = Iocp::Get(env);
  read_op_ = new IocpOp(this, kRead);
  read_op_->buffer.resize(kReadChunk);
  write_op_ = new IocpOp(this, kWrite);
  // Reads and writes that complete at once are handled inline, without a packet and a thread hop.
  skip_on_success_ = SetFileCompletionNotificationModes(
                         handle_, FILE_SKIP_COMPLETION_PORT_ON_SUCCESS | FILE_SKIP_SET_EVENT_ON_HANDLE) != 0;
  iocp_->Register(this);
  iocp_->Ref();
  refed_ = true;
  // Keep the JavaScript object (and so this) alive while the pipe is open or I/O is in flight.
  Napi::ObjectWrap<PipeChannel>::Ref();
  // The first read is issued from the scheduler: no frames before the constructor has returned.
  read_again_ = true;
  iocp_->Schedule(this);
}

PipeChannel::~PipeChannel() {
  if (iocp_ != nullptr) {
    iocp_->Unschedule(this);
    iocp_->Unregister(this);
    if (refed_) iocp_->Unref();
  }
  CloseHandleNow();
  if (iocp_ != nullptr) {
    iocp_->Orphan(read_op_);
    iocp_->Orphan(write_op_);
  }
}

void PipeChannel::CloseHandleNow() {
  if (handle_ == INVALID_HANDLE_VALUE) return;
  CancelIoEx(handle_, nullptr);
  CloseHandle(handle_);
  handle_ = INVALID_HANDLE_VALUE;
}

void PipeChannel::Abandon() { CloseHandleNow(); }

size_t PipeChannel::Queued() const {
  return out_.size() + (write_op_->buffer.size() - write_offset_);
}

void PipeChannel::OnComplete(IocpOp* op, DWORD bytes, DWORD error) {
  if (op == read_op_) {
    HandleRead(bytes, error);
  } else if (op == write_op_) {
    HandleWritten(bytes, error);
  }
  MaybeRelease();
}

bool PipeChannel::IssueRead(DWORD* got, DWORD* error) {
  read_op_->Reset();
  *got = 0;
  *error = 0;
  if (ReadFile(handle_, read_op_->buffer.data(), static_cast<DWORD>(read_op_->buffer.size()), got,
               &read_op_->ov)) {
    if (skip_on_success_) return true;
    iocp_->Started(read_op_);
    return false;
  }
  DWORD e = GetLastError();
  if (e == ERROR_IO_PENDING) {
    iocp_->Started(read_op_);
    return false;
  }
  *got = 0;
  *error = e;
  return true;
}

void PipeChannel::StartReading() {
  if (destroyed_ || closing_ || !reading_ || read_op_->pending) return;
  DWORD got = 0;
  DWORD error = 0;
  if (IssueRead(&got, &error)) HandleRead(got, error);
}

void PipeChannel::Consume(const uint8_t* data, size_t n, BatchBuilder& batch,
                          std::vector<uint8_t>& raw) {
  if (raw_)
    raw.insert(raw.end(), data, data + n);
  else
    decoder_.Feed(data, n, batch);
}

void PipeChannel::Deliver(BatchBuilder& batch, std::vector<uint8_t>& raw) {
  Napi::Env env = Env();
  std::vector<napi_value> args;
  if (raw_) {
    if (raw.empty() || on_frames_.IsEmpty()) return;
    args.push_back(Napi::Buffer<uint8_t>::Copy(env, raw.data(), raw.size()));
  } else {
    if (batch.empty() || on_frames_.IsEmpty()) return;
    BatchBuilder::Args taken = batch.Take(env);
    args.assign(taken.values, taken.values + taken.count);
  }
  try {
    on_frames_.MakeCallback(Value(), args, async_context_);
  } catch (const Napi::Error& e) {
    napi_fatal_exception(env, e.Value());
  }
}

// A read completed with `bytes` (or failed with `error`): consume it, then keep reading while
// reads complete at once (the pipe had more), up to kMaxReadsPerWake; one JS call for all of it.
void PipeChannel::HandleRead(DWORD bytes, DWORD error) {
  if (destroyed_) return;
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  BatchBuilder batch;
  std::vector<uint8_t> raw;
  bool ended = false;
  DWORD n = bytes;
  DWORD err = error;
  for (int i = 0;; i++) {
    if (err != 0) {
      ended = true;
      if (!IsEof(err)) {
        error_ = err;
        error_syscall_ = "ReadFile";
      }
      break;
    }
    if (n > 0 && !closing_) {
      if (!reading_) {
        stash_.insert(stash_.end(), read_op_->buffer.data(), read_op_->buffer.data() + n);
        break;
      }
      Consume(read_op_->buffer.data(), n, batch, raw);
    }
    if (!reading_ || closing_) break;
    if (i + 1 >= kMaxReadsPerWake) {
      read_again_ = true;
      iocp_->Schedule(this);
      break;
    }
    if (!IssueRead(&n, &err)) break;  // pending: a packet will come
  }
  Deliver(batch, raw);
  if (ended && !destroyed_) {
    if (!reading_) {
      eof_pending_ = true;  // delivered after the stash, on resume
      return;
    }
    closing_ = true;
    Destroy();
  }
}

bool PipeChannel::StartWrite() {
  if (destroyed_ || error_ != 0) return error_ == 0;
  std::vector<uint8_t>& buf = write_op_->buffer;
  if (buf.empty()) {
    if (out_.empty()) return true;
    buf.swap(out_);
    out_.clear();
    write_offset_ = 0;
  } else if (write_op_->pending) {
    return true;  // in flight; out_ goes next
  }
  for (int i = 0; write_offset_ < buf.size(); i++) {
    if (i >= 64) {  // a pipe that accepts zero bytes at a time: try again next iteration
      iocp_->Schedule(this);
      return true;
    }
    write_op_->Reset();
    DWORD n = 0;
    DWORD len = static_cast<DWORD>(std::min<size_t>(buf.size() - write_offset_, 1u << 30));
    if (WriteFile(handle_, buf.data() + write_offset_, len, &n, &write_op_->ov)) {
      if (!skip_on_success_) {
        iocp_->Started(write_op_);
        return true;
      }
      write_offset_ += n;
      continue;
    }
    DWORD e = GetLastError();
    if (e == ERROR_IO_PENDING) {
      iocp_->Started(write_op_);
      return true;
    }
    error_ = e;
    error_syscall_ = "WriteFile";
    return false;
  }
  // All written. Keep the larger allocation for the next batch (bounded).
  buf.clear();
  write_offset_ = 0;
  if (out_.empty()) {
    buf.swap(out_);
    if (out_.capacity() > (4u << 20)) std::vector<uint8_t>().swap(out_);
  }
  if (!out_.empty()) return StartWrite();
  return true;
}

void PipeChannel::HandleWritten(DWORD bytes, DWORD error) {
  if (destroyed_) return;
  if (error != 0) {
    error_ = error;
    error_syscall_ = "WriteFile";
    closing_ = true;
    Destroy();
    return;
  }
  write_offset_ += bytes;
  if (!StartWrite()) {
    closing_ = true;
    Destroy();
    return;
  }
  AfterWrite();
}

void PipeChannel::AfterWrite() {
  if (destroyed_) return;
  bool empty = Queued() == 0;
  if (closing_ && (error_ != 0 || !graceful_ || empty)) {
    Destroy();
    return;
  }
  if (empty && want_drain_) {
    want_drain_ = false;
    Napi::HandleScope scope(Env());
    Emit(kDrain, Env().Undefined());
  }
}

void PipeChannel::Flush() {
  if (destroyed_) {
    MaybeRelease();
    return;
  }
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  if (read_again_ && reading_ && !closing_) {
    read_again_ = false;
    if (!stash_.empty() || eof_pending_) {
      BatchBuilder batch;
      std::vector<uint8_t> raw;
      std::vector<uint8_t> stash;
      stash.swap(stash_);
      Consume(stash.data(), stash.size(), batch, raw);
      Deliver(batch, raw);
      if (eof_pending_ && !destroyed_) {
        closing_ = true;
        Destroy();
        return;
      }
    }
    if (!destroyed_) StartReading();
    if (destroyed_) return;
  }
  if (error_ == 0 && !StartWrite()) closing_ = true;
  AfterWrite();
}

void PipeChannel::Destroy() {
  if (destroyed_) return;
  destroyed_ = true;
  closing_ = true;
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  CloseHandleNow();  // pending operations complete with ERROR_OPERATION_ABORTED
  // Nothing of a closed connection stays: queued output, stashed input, a partial frame, and
  // (after the close event) the callbacks, which close over the connection holding this channel.
  // An in-flight write's buffer is freed with the channel (the system may still use it).
  std::vector<uint8_t>().swap(out_);
  std::vector<uint8_t>().swap(stash_);
  decoder_.Reset();
  if (refed_) {
    refed_ = false;
    iocp_->Unref();
  }
  iocp_->Unregister(this);
  napi_value err = error_ != 0 ? Win32Error(env, error_, error_syscall_).Value() : env.Undefined();
  Emit(kClose, err);
  on_frames_.Reset();
  on_event_.Reset();
  MaybeRelease();
}

void PipeChannel::MaybeRelease() {
  if (!destroyed_ || released_ || read_op_->pending || write_op_->pending || scheduled_) return;
  released_ = true;
  Napi::ObjectWrap<PipeChannel>::Unref();
}

void PipeChannel::Emit(Event event, napi_value arg) {
  if (on_event_.IsEmpty()) return;
  Napi::Env env = Env();
  try {
    on_event_.MakeCallback(Value(), {Napi::Number::New(env, event), arg}, async_context_);
  } catch (const Napi::Error& e) {
    napi_fatal_exception(env, e.Value());
  }
}

// send(streamId, type, flags, payload?): queues one frame; returns the bytes now queued.
Napi::Value PipeChannel::Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (destroyed_ || closing_) throw CodeError(env, "ERR_TTRPC_CLOSED", "ttrpc: channel is closed");
  AppendFrame(info, out_);
  size_t queued = Queued();
  if (queued >= kFlushNow && error_ == 0) {
    if (!StartWrite()) closing_ = true;
    queued = Queued();
  }
  if (queued >= kDrainMark) want_drain_ = true;
  iocp_->Schedule(this);
  return Napi::Number::New(env, double(queued));
}

// write(bytes): queues raw bytes (raw-mode channels); returns the bytes now queued.
Napi::Value PipeChannel::Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (destroyed_ || closing_) throw CodeError(env, "ERR_TTRPC_CLOSED", "pipe is closed");
  if (info.Length() < 1 || !info[0].IsTypedArray()) throw ArgError(env, "write(Uint8Array)");
  Napi::Uint8Array data = info[0].As<Napi::Uint8Array>();
  out_.insert(out_.end(), data.Data(), data.Data() + data.ByteLength());
  size_t queued = Queued();
  if (queued >= kFlushNow && error_ == 0) {
    if (!StartWrite()) closing_ = true;
    queued = Queued();
  }
  if (queued >= kDrainMark) want_drain_ = true;
  iocp_->Schedule(this);
  return Napi::Number::New(env, double(queued));
}

// close(graceful?): graceful waits for queued output to be written first.
Napi::Value PipeChannel::Close(const Napi::CallbackInfo& info) {
  if (destroyed_) return info.Env().Undefined();
  graceful_ = info.Length() > 0 && info[0].ToBoolean().Value();
  closing_ = true;
  iocp_->Schedule(this);
  return info.Env().Undefined();
}

Napi::Value PipeChannel::PauseReading(const Napi::CallbackInfo& info) {
  reading_ = false;
  return info.Env().Undefined();
}

Napi::Value PipeChannel::ResumeReading(const Napi::CallbackInfo& info) {
  if (!reading_ && !destroyed_) {
    reading_ = true;
    read_again_ = true;
    iocp_->Schedule(this);
  }
  return info.Env().Undefined();
}

Napi::Value PipeChannel::Ref(const Napi::CallbackInfo& info) {
  if (!destroyed_ && !refed_) {
    refed_ = true;
    iocp_->Ref();
  }
  return info.Env().Undefined();
}

Napi::Value PipeChannel::Unref(const Napi::CallbackInfo& info) {
  if (refed_) {
    refed_ = false;
    iocp_->Unref();
  }
  return info.Env().Undefined();
}

Napi::Value PipeChannel::Buffered(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(destroyed_ ? 0 : Queued()));
}

Napi::Value PipeChannel::Handle(const Napi::CallbackInfo& info) {
  if (handle_ == INVALID_HANDLE_VALUE) return Napi::Number::New(info.Env(), -1);
  return Napi::Number::New(info.Env(), HandleToNumber(handle_));
}

// securityDescriptor(): the pipe's owner and DACL as SDDL (what CreateNamedPipeW was given).
Napi::Value PipeChannel::SecurityDescriptor(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (handle_ == INVALID_HANDLE_VALUE) throw Win32Error(env, ERROR_INVALID_HANDLE, "GetSecurityInfo");
  PSECURITY_DESCRIPTOR sd = nullptr;
  SECURITY_INFORMATION what = DACL_SECURITY_INFORMATION;
  DWORD r = GetSecurityInfo(handle_, SE_KERNEL_OBJECT, what, nullptr, nullptr, nullptr, nullptr, &sd);
  if (r != ERROR_SUCCESS) throw Win32Error(env, r, "GetSecurityInfo");
  LPWSTR text = nullptr;
  BOOL ok = ConvertSecurityDescriptorToStringSecurityDescriptorW(sd, SDDL_REVISION_1, what, &text,
                                                                 nullptr);
  DWORD e = GetLastError();
  LocalFree(sd);
  if (!ok) throw Win32Error(env, e, "ConvertSecurityDescriptorToStringSecurityDescriptorW");
  std::string out = Narrow(text);
  LocalFree(text);
  return Napi::String::New(env, out);
}

Napi::Object InitPipe(Napi::Env env, Napi::Object exports) {
  exports.Set("PipeChannel", PipeChannel::Define(env));
  exports.Set("PipeListener", PipeListener::Define(env));
  exports.Set("writeHighWaterMark", Napi::Number::New(env, double(kDrainMark)));
  return exports;
}

}  // namespace shim

// pipeConnect(path, timeoutMs): a client connection on the libuv thread pool, so the JavaScript
// thread never blocks in CreateFileW or WaitNamedPipeW. ERROR_PIPE_BUSY (every instance taken) is
// retried with WaitNamedPipeW until the timeout; anything else (ENOENT for a pipe that does not
// exist) fails at once, like a unix-socket connect.
#include "../errors.h"
#include "iocp.h"
#include "pipe.h"
#include "win_errors.h"

namespace shim {

namespace {

class ConnectWorker : public Napi::AsyncWorker {
 public:
  ConnectWorker(Napi::Env env, std::string path, DWORD timeout_ms, HANDLE port)
      : Napi::AsyncWorker(env, "pipeConnect"),
        deferred_(Napi::Promise::Deferred::New(env)),
        path_(std::move(path)),
        wpath_(Widen(path_)),
        timeout_ms_(timeout_ms),
        port_(port) {}

  ~ConnectWorker() override {
    if (handle_ != INVALID_HANDLE_VALUE) CloseHandle(handle_);
  }

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    ULONGLONG deadline = GetTickCount64() + timeout_ms_;
    for (;;) {
      // SECURITY_IDENTIFICATION: the server may learn who we are but not impersonate us.
      handle_ = CreateFileW(wpath_.c_str(), GENERIC_READ | GENERIC_WRITE, 0, nullptr, OPEN_EXISTING,
                            FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION,
                            nullptr);
      if (handle_ != INVALID_HANDLE_VALUE) break;
      DWORD e = GetLastError();
      ULONGLONG now = GetTickCount64();
      if (e != ERROR_PIPE_BUSY || now >= deadline) {
        error_ = e;
        syscall_ = "CreateFileW";
        return;
      }
      DWORD wait = static_cast<DWORD>(deadline - now < 100 ? deadline - now : 100);
      if (!WaitNamedPipeW(wpath_.c_str(), wait) && GetTickCount64() - now < 2) {
        Sleep(10);  // Wine's WaitNamedPipeW returns at once: do not spin
      }
    }
    if (CreateIoCompletionPort(handle_, port_, 0, 0) == nullptr) {
      error_ = GetLastError();
      syscall_ = "CreateIoCompletionPort";
      CloseHandle(handle_);
      handle_ = INVALID_HANDLE_VALUE;
      return;
    }
    ULONG pid = 0;
    if (GetNamedPipeServerProcessId(handle_, &pid) && pid != 0) pid_ = static_cast<double>(pid);
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (error_ != 0) {
      deferred_.Reject(Win32Error(env, error_, syscall_, path_).Value());
      return;
    }
    Napi::Object result = Napi::Object::New(env);
    result.Set("handle", Napi::Number::New(env, HandleToNumber(handle_)));
    result.Set("pid", Napi::Number::New(env, pid_));
    handle_ = INVALID_HANDLE_VALUE;  // JavaScript's now
    deferred_.Resolve(result);
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::string path_;
  std::wstring wpath_;
  DWORD timeout_ms_;
  HANDLE port_;
  HANDLE handle_ = INVALID_HANDLE_VALUE;
  DWORD error_ = 0;
  const char* syscall_ = "";
  double pid_ = -1;
};

Napi::Value PipeConnect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw ArgError(env, "pipeConnect(path, timeoutMs?)");
  double timeout = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : 5000;
  if (!(timeout >= 0)) timeout = 0;
  if (timeout > 0x7fffffff) timeout = 0x7fffffff;
  Iocp* iocp = Iocp::Get(env);
  auto* worker = new ConnectWorker(env, info[0].As<Napi::String>().Utf8Value(),
                                   static_cast<DWORD>(timeout), iocp->port());
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// closeHandle(handle): closes a pipe handle JavaScript got but will not use (a refused client).
Napi::Value CloseHandleJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) throw ArgError(env, "closeHandle(handle)");
  HANDLE h = NumberToHandle(info[0].As<Napi::Number>().DoubleValue());
  if (!CloseHandle(h)) throw Win32Error(env, GetLastError(), "CloseHandle");
  return env.Undefined();
}

}  // namespace

Napi::Object InitPipeConnect(Napi::Env env, Napi::Object exports) {
  exports.Set("pipeConnect", Napi::Function::New(env, PipeConnect, "pipeConnect"));
  exports.Set("closeHandle", Napi::Function::New(env, CloseHandleJs, "closeHandle"));
  return exports;
}

}  // namespace shim

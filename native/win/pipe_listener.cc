#include "pipe.h"  // first: windows.h before sddl.h

#include <sddl.h>

#include "../errors.h"
#include "win_errors.h"

namespace shim {

namespace {

constexpr DWORD kPipeBuffer = 64 << 10;
constexpr int kDefaultInstances = 4;  // instances waiting in ConnectNamedPipe at any time
constexpr int kMaxInstances = 64;

// Full access for the current user, the Administrators group and LocalSystem; nobody else (the
// default DACL of a named pipe also grants Everyone read access). "P" blocks inherited ACEs.
std::wstring DefaultSddl(DWORD* error) {
  HANDLE token = nullptr;
  if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token)) {
    *error = GetLastError();
    return std::wstring();
  }
  DWORD size = 0;
  GetTokenInformation(token, TokenUser, nullptr, 0, &size);
  std::vector<uint8_t> buf(size > 0 ? size : sizeof(TOKEN_USER) + SECURITY_MAX_SID_SIZE);
  BOOL ok = GetTokenInformation(token, TokenUser, buf.data(), static_cast<DWORD>(buf.size()), &size);
  *error = ok ? 0 : GetLastError();
  CloseHandle(token);
  if (!ok) return std::wstring();
  LPWSTR sid = nullptr;
  if (!ConvertSidToStringSidW(reinterpret_cast<TOKEN_USER*>(buf.data())->User.Sid, &sid)) {
    *error = GetLastError();
    return std::wstring();
  }
  std::wstring sddl = L"D:P(A;;GA;;;" + std::wstring(sid) + L")(A;;GA;;;BA)(A;;GA;;;SY)";
  LocalFree(sid);
  return sddl;
}

Napi::Error AddressInUse(Napi::Env env, DWORD win_error, const std::string& path) {
  Napi::Error e = Win32Error(env, win_error, "CreateNamedPipeW", path);
  e.Set("message", Napi::String::New(
                       env, "EADDRINUSE: address already in use, CreateNamedPipeW '" + path + "'"));
  e.Set("code", Napi::String::New(env, "EADDRINUSE"));
  e.Set("errno", Napi::Number::New(env, -4091));
  return e;
}

}  // namespace

Napi::Function PipeListener::Define(Napi::Env env) {
  return DefineClass(env, "PipeListener",
                     {InstanceMethod<&PipeListener::Close>("close"),
                      InstanceMethod<&PipeListener::Ref>("ref"),
                      InstanceMethod<&PipeListener::Unref>("unref"),
                      InstanceAccessor<&PipeListener::Sddl>("sddl"),
                      InstanceAccessor<&PipeListener::Path>("path")});
}

// new PipeListener(path, onConnection(batch | null, error?), { sddl?, instances? }): creates the
// pipe (failing with EADDRINUSE if an instance of that name exists) and starts accepting. `batch`
// is [handle, clientPid, handle, clientPid, ...]; each handle is a connected pipe for PipeChannel
// (or closeHandle). The pid is -1 where the system does not tell (Wine).
PipeListener::PipeListener(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<PipeListener>(info), async_context_(info.Env(), "ttrpc.PipeListener") {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsFunction())
    throw ArgError(env, "new PipeListener(path, onConnection, options?)");
  path_utf8_ = info[0].As<Napi::String>().Utf8Value();
  path_ = Widen(path_utf8_);
  on_connection_ = Napi::Persistent(info[1].As<Napi::Function>());
  int instances = kDefaultInstances;
  if (info.Length() > 2 && info[2].IsObject()) {
    Napi::Object options = info[2].As<Napi::Object>();
    Napi::Value sddl = options.Get("sddl");
    if (sddl.IsString()) sddl_ = Widen(sddl.As<Napi::String>().Utf8Value());
    Napi::Value n = options.Get("instances");
    if (n.IsNumber()) instances = n.As<Napi::Number>().Int32Value();
  }
  if (instances < 1 || instances > kMaxInstances) throw ArgError(env, "instances must be 1..64");
  DWORD error = 0;
  if (sddl_.empty()) {
    sddl_ = DefaultSddl(&error);
    if (sddl_.empty()) throw Win32Error(env, error, "GetTokenInformation");
  }
  if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl_.c_str(), SDDL_REVISION_1,
                                                            &security_, nullptr)) {
    throw Win32Error(env, GetLastError(), "ConvertStringSecurityDescriptorToSecurityDescriptorW");
  }
  iocp_ = Iocp::Get(env);
  // The first instance claims the name: FILE_FLAG_FIRST_PIPE_INSTANCE fails with access denied
  // when another server already owns it (libuv reports that as EADDRINUSE too).
  HANDLE first = CreateInstance(true, &error);
  if (first == INVALID_HANDLE_VALUE) {
    LocalFree(security_);
    security_ = nullptr;
    if (error == ERROR_ACCESS_DENIED || error == ERROR_PIPE_BUSY)
      throw AddressInUse(env, error, path_utf8_);
    throw Win32Error(env, error, "CreateNamedPipeW", path_utf8_);
  }
  for (int i = 0; i < instances; i++) {
    Instance* inst = new Instance();
    inst->op = new IocpOp(this, 0);
    inst->op->data = inst;
    if (i == 0) inst->handle = first;
    instances_.push_back(inst);
  }
  iocp_->Register(this);
  iocp_->Ref();
  refed_ = true;
  Napi::ObjectWrap<PipeListener>::Ref();
  for (Instance* inst : instances_) Arm(inst);
}

PipeListener::~PipeListener() {
  if (iocp_ != nullptr) {
    iocp_->Unschedule(this);
    iocp_->Unregister(this);
    if (refed_) iocp_->Unref();
  }
  CloseAll();
  for (Instance* inst : instances_) {
    if (iocp_ != nullptr)
      iocp_->Orphan(inst->op);
    else
      delete inst->op;
    delete inst;
  }
  instances_.clear();
  for (size_t i = 0; i < accepted_.size(); i += 2) CloseHandle(NumberToHandle(accepted_[i]));
  if (security_ != nullptr) LocalFree(security_);
}

HANDLE PipeListener::CreateInstance(bool first, DWORD* error) {
  SECURITY_ATTRIBUTES sa{sizeof(sa), security_, FALSE};  // not inheritable
  DWORD open_mode = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED;
  if (first) open_mode |= FILE_FLAG_FIRST_PIPE_INSTANCE;
  DWORD pipe_mode = PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS;
  HANDLE h = CreateNamedPipeW(path_.c_str(), open_mode, pipe_mode, PIPE_UNLIMITED_INSTANCES,
                              kPipeBuffer, kPipeBuffer, 0, &sa);
  if (h == INVALID_HANDLE_VALUE) {
    *error = GetLastError();
    return h;
  }
  if (!iocp_->Associate(h, error)) {
    CloseHandle(h);
    return INVALID_HANDLE_VALUE;
  }
  return h;
}

void PipeListener::Arm(Instance* inst) {
  for (int i = 0; i < 16 && !closed_; i++) {
    if (inst->handle == INVALID_HANDLE_VALUE) {
      DWORD error = 0;
      inst->handle = CreateInstance(false, &error);
      if (inst->handle == INVALID_HANDLE_VALUE) {
        errors_.push_back(error);  // this instance stays idle until another one accepts
        iocp_->Schedule(this);
        return;
      }
    }
    inst->op->Reset();
    if (ConnectNamedPipe(inst->handle, &inst->op->ov)) {
      iocp_->Started(inst->op);  // completed at once; the packet still comes (no skip mode here)
      return;
    }
    DWORD e = GetLastError();
    if (e == ERROR_IO_PENDING) {
      iocp_->Started(inst->op);
      return;
    }
    if (e == ERROR_PIPE_CONNECTED) {  // a client got in before ConnectNamedPipe: no packet
      Accepted(inst);
      iocp_->Schedule(this);
      continue;
    }
    CloseHandle(inst->handle);
    inst->handle = INVALID_HANDLE_VALUE;
    if (e == ERROR_NO_DATA) continue;  // that client already left
    errors_.push_back(e);
    iocp_->Schedule(this);
    return;
  }
}

void PipeListener::Accepted(Instance* inst) {
  ULONG pid = 0;
  if (!GetNamedPipeClientProcessId(inst->handle, &pid)) pid = 0;
  accepted_.push_back(HandleToNumber(inst->handle));
  accepted_.push_back(pid == 0 ? -1.0 : double(pid));
  inst->handle = INVALID_HANDLE_VALUE;  // now the connection's
}

void PipeListener::OnComplete(IocpOp* op, DWORD, DWORD error) {
  Instance* inst = static_cast<Instance*>(op->data);
  if (closed_) {
    MaybeRelease();
    return;
  }
  if (error == 0 || error == ERROR_PIPE_CONNECTED) {
    Accepted(inst);
  } else {
    CloseHandle(inst->handle);
    inst->handle = INVALID_HANDLE_VALUE;
    // A client that connected and left before we saw it is nobody's business.
    if (error != ERROR_NO_DATA && error != ERROR_BROKEN_PIPE && error != ERROR_OPERATION_ABORTED)
      errors_.push_back(error);
  }
  Arm(inst);
  // Instances left idle by a failed CreateNamedPipeW get another chance.
  for (Instance* other : instances_)
    if (other != inst && other->handle == INVALID_HANDLE_VALUE && !other->op->pending) Arm(other);
}

void PipeListener::AfterCompletions() { Deliver(); }

void PipeListener::Flush() {
  Deliver();
  MaybeRelease();
}

void PipeListener::Deliver() {
  if (closed_) return;
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  if (!accepted_.empty()) {
    Napi::Array batch = Napi::Array::New(env, accepted_.size());
    for (size_t i = 0; i < accepted_.size(); i++)
      batch.Set(static_cast<uint32_t>(i), Napi::Number::New(env, accepted_[i]));
    accepted_.clear();
    try {
      on_connection_.MakeCallback(Value(), {batch}, async_context_);
    } catch (const Napi::Error& e) {
      napi_fatal_exception(env, e.Value());
    }
  }
  std::vector<DWORD> errors;
  errors.swap(errors_);
  for (DWORD error : errors) {
    if (closed_) break;
    try {
      on_connection_.MakeCallback(
          Value(), {env.Null(), Win32Error(env, error, "ConnectNamedPipe", path_utf8_).Value()},
          async_context_);
    } catch (const Napi::Error& e) {
      napi_fatal_exception(env, e.Value());
    }
  }
}

void PipeListener::CloseAll() {
  for (Instance* inst : instances_) {
    if (inst->handle == INVALID_HANDLE_VALUE) continue;
    CancelIoEx(inst->handle, nullptr);
    CloseHandle(inst->handle);
    inst->handle = INVALID_HANDLE_VALUE;
  }
}

void PipeListener::Abandon() { CloseAll(); }

void PipeListener::MaybeRelease() {
  if (!closed_ || released_ || scheduled_) return;
  for (Instance* inst : instances_)
    if (inst->op->pending) return;
  released_ = true;
  Napi::ObjectWrap<PipeListener>::Unref();
}

// close(): stops accepting; connections already handed out are unaffected.
Napi::Value PipeListener::Close(const Napi::CallbackInfo& info) {
  if (closed_) return info.Env().Undefined();
  closed_ = true;
  CloseAll();
  for (size_t i = 0; i < accepted_.size(); i += 2) CloseHandle(NumberToHandle(accepted_[i]));
  accepted_.clear();
  errors_.clear();
  if (refed_) {
    refed_ = false;
    iocp_->Unref();
  }
  iocp_->Unregister(this);
  on_connection_.Reset();  // it closes over the server: let both be collected
  MaybeRelease();
  return info.Env().Undefined();
}

Napi::Value PipeListener::Ref(const Napi::CallbackInfo& info) {
  if (!closed_ && !refed_) {
    refed_ = true;
    iocp_->Ref();
  }
  return info.Env().Undefined();
}

Napi::Value PipeListener::Unref(const Napi::CallbackInfo& info) {
  if (refed_) {
    refed_ = false;
    iocp_->Unref();
  }
  return info.Env().Undefined();
}

Napi::Value PipeListener::Sddl(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), Narrow(sddl_));
}

Napi::Value PipeListener::Path(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), path_utf8_);
}

}  // namespace shim

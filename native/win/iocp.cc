#include "iocp.h"

#include "../state.h"

namespace shim {

namespace {

constexpr ULONG_PTR kStopKey = 1;
constexpr size_t kMaxPacketsPerWake = 256;
constexpr DWORD kTeardownWaitMs = 2000;

}  // namespace

Iocp* Iocp::Get(Napi::Env env) {
  AddonState& state = GetState(env);
  if (state.iocp != nullptr) return static_cast<Iocp*>(state.iocp);
  Iocp* iocp = new Iocp(env);
  state.iocp = iocp;
  // Runs after the cleanup hook (Stop) and after every object's finalizer.
  state.cleanups.push_back([iocp]() { delete iocp; });
  return iocp;
}

Iocp::Iocp(Napi::Env env) : env_(env) {
  port_ = CreateIoCompletionPort(INVALID_HANDLE_VALUE, nullptr, 0, 1);
  if (port_ == nullptr) throw Napi::Error::New(env, "CreateIoCompletionPort failed");
  napi_value name = Napi::String::New(env, "containerd-shim.iocp");
  napi_status s = napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, nullptr,
                                                  nullptr, this, &Iocp::CallJs, &tsfn_);
  if (s != napi_ok) throw Napi::Error::New(env, "napi_create_threadsafe_function failed");
  napi_unref_threadsafe_function(env, tsfn_);
  // Registered after the thread-safe function's own hook, so it runs before it (hooks run in
  // reverse order): the thread is gone before Node frees the function it calls.
  napi_add_env_cleanup_hook(env, &Iocp::Cleanup, this);
  Napi::Object global = env.Global();
  set_immediate_ = Napi::Persistent(global.Get("setImmediate").As<Napi::Function>());
  run_scheduled_ = Napi::Persistent(Napi::Function::New(
      env,
      [](const Napi::CallbackInfo& info) {
        static_cast<Iocp*>(info.Data())->RunScheduled(info.Env());
      },
      "flushPipes", this));
  thread_ = std::thread([this]() { Run(); });
}

Iocp::~Iocp() { Stop(); }

bool Iocp::Associate(HANDLE handle, DWORD* error) {
  if (CreateIoCompletionPort(handle, port_, 0, 0) == nullptr) {
    *error = GetLastError();
    return false;
  }
  return true;
}

void Iocp::Started(IocpOp* op) {
  op->pending = true;
  in_flight_.fetch_add(1);
}

void Iocp::Orphan(IocpOp* op) {
  if (op == nullptr) return;
  if (op->pending)
    op->owner = nullptr;  // freed by Dispatch (or leaked if its packet never comes)
  else
    delete op;
}

void Iocp::Ref() {
  if (refs_++ == 0 && !stopped_) napi_ref_threadsafe_function(env_, tsfn_);
}

void Iocp::Unref() {
  if (refs_ > 0 && --refs_ == 0 && !stopped_) napi_unref_threadsafe_function(env_, tsfn_);
}

void Iocp::Schedule(IocpOwner* owner) {
  if (owner->scheduled_ || stopped_) return;
  owner->scheduled_ = true;
  scheduled_.push_back(owner);
  if (!immediate_armed_) {
    immediate_armed_ = true;
    set_immediate_.Call({run_scheduled_.Value()});
  }
}

void Iocp::Unschedule(IocpOwner* owner) {
  if (!owner->scheduled_) return;
  owner->scheduled_ = false;
  for (auto& o : scheduled_)
    if (o == owner) o = nullptr;
}

void Iocp::RunScheduled(Napi::Env env) {
  immediate_armed_ = false;
  std::vector<IocpOwner*> batch;
  batch.swap(scheduled_);
  Napi::HandleScope scope(env);
  for (IocpOwner* owner : batch) {
    if (owner == nullptr || !owner->scheduled_) continue;
    owner->scheduled_ = false;
    try {
      owner->Flush();
    } catch (const Napi::Error& e) {
      napi_fatal_exception(env, e.Value());
    }
  }
}

// The service thread: dequeue every ready packet, queue them, wake JavaScript once.
void Iocp::Run() {
  std::vector<Completion> batch;
  batch.reserve(kMaxPacketsPerWake);
  for (;;) {
    DWORD bytes = 0;
    ULONG_PTR key = 0;
    OVERLAPPED* ov = nullptr;
    BOOL ok = GetQueuedCompletionStatus(port_, &bytes, &key, &ov, INFINITE);
    bool stop = false;
    batch.clear();
    for (;;) {
      if (ov == nullptr) {
        // No packet: the port was closed (or a zero timeout found nothing more).
        if (!ok && GetLastError() != WAIT_TIMEOUT) stop = true;
        break;
      }
      if (key == kStopKey) {
        stop = true;
      } else {
        batch.push_back({reinterpret_cast<IocpOp*>(ov), bytes, ok ? 0 : GetLastError()});
        in_flight_.fetch_sub(1);
      }
      if (stop || batch.size() >= kMaxPacketsPerWake) break;
      ov = nullptr;
      ok = GetQueuedCompletionStatus(port_, &bytes, &key, &ov, 0);
    }
    if (!batch.empty()) {
      bool wake = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        queue_.insert(queue_.end(), batch.begin(), batch.end());
        if (!wake_pending_ && !stopping_.load()) {
          wake_pending_ = true;
          wake = true;
        }
      }
      if (wake) napi_call_threadsafe_function(tsfn_, nullptr, napi_tsfn_nonblocking);
    }
    if (stop) return;
  }
}

void Iocp::CallJs(napi_env env, napi_value, void* context, void*) {
  if (env == nullptr) return;  // the function is being torn down
  // Owners report their callbacks' exceptions themselves; nothing may unwind into Node.
  try {
    static_cast<Iocp*>(context)->Dispatch(Napi::Env(env));
  } catch (const Napi::Error& e) {
    napi_fatal_exception(env, e.Value());
  } catch (...) {
  }
}

void Iocp::Dispatch(Napi::Env env) {
  std::vector<Completion> batch;
  {
    std::lock_guard<std::mutex> lock(mu_);
    batch.swap(queue_);
    wake_pending_ = false;
  }
  if (stopped_) return;
  Napi::HandleScope scope(env);
  std::vector<IocpOwner*> touched;
  for (const Completion& c : batch) {
    IocpOp* op = c.op;
    op->pending = false;
    IocpOwner* owner = op->owner;
    if (owner == nullptr) {
      delete op;  // orphaned by a destroyed owner
      continue;
    }
    if (!owner->touched_) {
      owner->touched_ = true;
      touched.push_back(owner);
    }
    try {
      owner->OnComplete(op, c.bytes, c.error);
    } catch (const Napi::Error& e) {
      napi_fatal_exception(env, e.Value());  // the other completions still go out
    }
  }
  for (IocpOwner* owner : touched) {
    owner->touched_ = false;
    try {
      owner->AfterCompletions();
    } catch (const Napi::Error& e) {
      napi_fatal_exception(env, e.Value());
    }
  }
}

void Iocp::Cleanup(void* arg) { static_cast<Iocp*>(arg)->Stop(); }

// Environment teardown: cancel everything, let the thread collect the packets (bounded), stop it.
void Iocp::Stop() {
  if (stopped_) return;
  stopped_ = true;
  stopping_.store(true);
  std::vector<IocpOwner*> owners(owners_.begin(), owners_.end());
  for (IocpOwner* owner : owners) owner->Abandon();
  ULONGLONG deadline = GetTickCount64() + kTeardownWaitMs;
  while (in_flight_.load() > 0 && GetTickCount64() < deadline) Sleep(1);
  PostQueuedCompletionStatus(port_, 0, kStopKey, reinterpret_cast<OVERLAPPED*>(this));
  if (thread_.joinable()) thread_.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const Completion& c : queue_) {
      c.op->pending = false;
      if (c.op->owner == nullptr) delete c.op;
    }
    queue_.clear();
  }
  CloseHandle(port_);
  port_ = nullptr;
  napi_release_threadsafe_function(tsfn_, napi_tsfn_abort);
  set_immediate_.Reset();
  run_scheduled_.Reset();
}

}  // namespace shim

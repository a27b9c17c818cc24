// One I/O completion port per JavaScript environment, serviced by one background thread.
//
// Every pipe handle is associated with the port. The thread blocks in GetQueuedCompletionStatus,
// collects every packet that is ready (up to kMaxPacketsPerWake), appends them to a queue and wakes
// the JavaScript thread through one napi_threadsafe_function call (none while a wake-up is already
// pending, so a burst of completions costs one hop). On the JavaScript thread each completion goes
// to its owner (a channel or a listener); an owner that got several completions in one wake-up is
// told once more afterwards (AfterCompletions), so it can hand them to JavaScript in one call.
//
// Channels and listeners also use the port's scheduler: work queued by JavaScript (frames to write,
// a close) runs once per loop iteration from a setImmediate callback, like the POSIX channel's
// check-phase flush.
//
// Lifetimes: an operation (OVERLAPPED + buffer) belongs to its owner and must stay allocated until
// its packet has been dequeued. An owner destroyed with operations in flight orphans them (owner =
// nullptr) and the port frees them when their packets arrive. At environment teardown the port
// cancels the I/O of every live owner and waits (bounded) for the packets before it stops.
#pragma once
#include "win.h"

#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

namespace shim {

class IocpOwner;

struct IocpOp {
  OVERLAPPED ov;  // first member: the packet's OVERLAPPED* is the op
  IocpOwner* owner = nullptr;
  int kind = 0;
  void* data = nullptr;          // owner-defined (the listener's instance)
  std::vector<uint8_t> buffer;   // read target or bytes being written; lives as long as the op
  bool pending = false;          // a packet will come for it

  explicit IocpOp(IocpOwner* o, int k) : owner(o), kind(k) { Reset(); }
  void Reset() { ZeroMemory(&ov, sizeof(ov)); }
};

class IocpOwner {
 public:
  virtual ~IocpOwner() = default;
  // JavaScript thread. `error` is 0 on success, else the Win32 error of the operation.
  virtual void OnComplete(IocpOp* op, DWORD bytes, DWORD error) = 0;
  // JavaScript thread, once per wake-up for every owner that had a completion in it.
  virtual void AfterCompletions() {}
  // JavaScript thread, from the scheduler (see Iocp::Schedule).
  virtual void Flush() {}
  // Environment teardown: cancel all I/O and close the handles (the object stays allocated).
  virtual void Abandon() = 0;

  bool touched_ = false;
  bool scheduled_ = false;
};

class Iocp {
 public:
  // The environment's port, created (with its thread) on first use.
  static Iocp* Get(Napi::Env env);
  ~Iocp();

  HANDLE port() const { return port_; }
  // Associates a handle with the port; false and `*error` on failure.
  bool Associate(HANDLE handle, DWORD* error);
  // Marks `op` as in flight: its packet will be dequeued by the thread.
  void Started(IocpOp* op);
  // Frees `op` now if no packet is pending for it, else when its packet arrives.
  void Orphan(IocpOp* op);

  // Objects that keep the event loop alive (open, ref'd handles); counted, the port's wake-up
  // function is ref'd while any is.
  void Ref();
  void Unref();

  void Register(IocpOwner* owner) { owners_.insert(owner); }
  void Unregister(IocpOwner* owner) { owners_.erase(owner); }

  // Runs owner->Flush() from a setImmediate callback (once, however often it is scheduled).
  void Schedule(IocpOwner* owner);
  void Unschedule(IocpOwner* owner);

 private:
  struct Completion {
    IocpOp* op;
    DWORD bytes;
    DWORD error;
  };

  explicit Iocp(Napi::Env env);
  void Run();                       // the service thread
  void Dispatch(Napi::Env env);     // JavaScript thread
  void RunScheduled(Napi::Env env); // JavaScript thread, setImmediate
  void Stop();                      // environment cleanup hook

  static void CallJs(napi_env env, napi_value, void* context, void*);
  static void Cleanup(void* arg);

  napi_env env_;
  HANDLE port_ = nullptr;
  napi_threadsafe_function tsfn_ = nullptr;
  std::thread thread_;
  std::mutex mu_;
  std::vector<Completion> queue_;   // guarded by mu_
  bool wake_pending_ = false;       // guarded by mu_
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> in_flight_{0};
  int refs_ = 0;
  bool stopped_ = false;
  std::unordered_set<IocpOwner*> owners_;
  std::vector<IocpOwner*> scheduled_;
  bool immediate_armed_ = false;
  Napi::FunctionReference set_immediate_;
  Napi::FunctionReference run_scheduled_;
};

}  // namespace shim

// The reaper: collects exit statuses of this process's children on SIGCHLD without stealing the
// ones libuv waits for. Node's child_process children are libuv process handles, and libuv
// reaps each by pid; a waitpid(-1) here would make their `exit` events never fire. So each pass
// peeks at the next zombie with waitid(WNOWAIT), reaps it only if no libuv process handle has that
// pid, and otherwise stops and retries after libuv's own SIGCHLD handling (check phase). Exits go
// to JavaScript in one batch per pass: [pid, exitStatus, signal, ...].
#include <signal.h>
#include <sys/wait.h>
#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "../errors.h"
#include "../state.h"
#include "linux.h"

namespace shim {

namespace {

struct Reaper {
  uv_signal_t signal;
  uv_check_t retry;
  bool retrying = false;
  bool stopped = false;
  napi_env env;
  Napi::FunctionReference callback;
  Napi::AsyncContext* async_context = nullptr;
};

void CollectLibuvPid(uv_handle_t* handle, void* arg) {
  if (uv_handle_get_type(handle) != UV_PROCESS || uv_is_closing(handle)) return;
  static_cast<std::vector<int>*>(arg)->push_back(uv_process_get_pid(reinterpret_cast<uv_process_t*>(handle)));
}

// One pass: reaps every zombie not owned by libuv; true if a libuv-owned zombie blocked it.
bool ReapPass(uv_loop_t* loop, std::vector<double>& exits) {
  std::vector<int> libuv_pids;
  uv_walk(loop, CollectLibuvPid, &libuv_pids);
  for (;;) {
    siginfo_t peek{};
    if (::waitid(P_ALL, 0, &peek, WEXITED | WNOHANG | WNOWAIT) != 0) {
      if (errno == EINTR) continue;
      return false;  // ECHILD: no children at all
    }
    if (peek.si_pid == 0) return false;  // children, but none exited
    if (std::find(libuv_pids.begin(), libuv_pids.end(), peek.si_pid) != libuv_pids.end()) return true;
    siginfo_t done{};
    if (::waitid(P_PID, static_cast<id_t>(peek.si_pid), &done, WEXITED | WNOHANG) != 0) {
      // EINTR, or ECHILD if another thread reaped it: peek again. Ending the pass here could
      // leave other zombies whose SIGCHLD has already been consumed.
      continue;
    }
    if (done.si_pid == 0) continue;
    bool exited = done.si_code == CLD_EXITED;
    exits.push_back(done.si_pid);
    exits.push_back(exited ? done.si_status : 128 + done.si_status);
    exits.push_back(exited ? 0 : done.si_status);
  }
}

void Deliver(Reaper* r, const std::vector<double>& exits) {
  if (exits.empty()) return;
  Napi::Env env(r->env);
  Napi::HandleScope scope(env);
  Napi::Array batch = Napi::Array::New(env, exits.size());
  for (size_t i = 0; i < exits.size(); i++) batch.Set(static_cast<uint32_t>(i), Napi::Number::New(env, exits[i]));
  try {
    // napi_make_callback converts the receiver with ToObject: undefined would fail every call.
    r->callback.MakeCallback(env.Global(), {batch}, *r->async_context);
  } catch (const Napi::Error& e) {
    napi_fatal_exception(env, e.Value());
  }
}

void Run(Reaper* r) {
  if (r->stopped) return;
  std::vector<double> exits;
  bool blocked = ReapPass(r->signal.loop, exits);
  if (blocked && !r->retrying) {
    r->retrying = true;
    uv_check_start(&r->retry, [](uv_check_t* h) { Run(static_cast<Reaper*>(h->data)); });
  } else if (!blocked && r->retrying) {
    r->retrying = false;
    uv_check_stop(&r->retry);
  }
  Deliver(r, exits);
}

Reaper* Get(Napi::Env env) { return static_cast<Reaper*>(GetState(env).reaper); }

// startReaper(callback(batch)): watches SIGCHLD for the rest of the process's life (unref'd).
Napi::Value StartReaper(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsFunction()) throw ArgError(env, "startReaper(callback)");
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  // Node's main thread runs the default loop; a worker thread has its own.
  if (loop != uv_default_loop()) {
    throw CodeError(env, "ERR_REAPER_WORKER",
                    "the reaper can only run on the main thread (it would take the exits of the main "
                    "thread's child_process children)");
  }
  AddonState& state = GetState(env);
  if (state.reaper != nullptr) throw CodeError(env, "ERR_REAPER_RUNNING", "the reaper is already running");
  Reaper* r = new Reaper();
  r->env = env;
  r->callback = Napi::Persistent(info[0].As<Napi::Function>());
  r->async_context = new Napi::AsyncContext(env, "Reaper");
  uv_signal_init(loop, &r->signal);
  uv_check_init(loop, &r->retry);
  r->signal.data = r;
  r->retry.data = r;
  int rc = uv_signal_start(&r->signal, [](uv_signal_t* h, int) { Run(static_cast<Reaper*>(h->data)); }, SIGCHLD);
  if (rc != 0) {
    delete r->async_context;
    delete r;
    throw ErrnoError(env, -rc, "uv_signal_start");
  }
  uv_unref(reinterpret_cast<uv_handle_t*>(&r->signal));
  uv_unref(reinterpret_cast<uv_handle_t*>(&r->retry));
  state.reaper = r;
  state.cleanups.push_back([r]() {
    r->stopped = true;
    r->callback.Reset();
    delete r->async_context;
    r->async_context = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&r->signal), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&r->retry), [](uv_handle_t* h) { delete static_cast<Reaper*>(h->data); });
  });
  // Children may have exited before we started listening.
  Run(r);
  return env.Undefined();
}

// reapNow(): runs a pass immediately (exits go to the callback); for callers that know a child
// of theirs has just exited.
Napi::Value ReapNow(const Napi::CallbackInfo& info) {
  Reaper* r = Get(info.Env());
  if (r == nullptr) throw CodeError(info.Env(), "ERR_REAPER_NOT_RUNNING", "the reaper is not running");
  Run(r);
  return info.Env().Undefined();
}

}  // namespace

Napi::Object InitReaper(Napi::Env env, Napi::Object exports) {
  exports.Set("startReaper", Napi::Function::New(env, StartReaper, "startReaper"));
  exports.Set("reapNow", Napi::Function::New(env, ReapNow, "reapNow"));
  return exports;
}

}  // namespace shim

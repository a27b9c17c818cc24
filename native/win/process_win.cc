// Process helpers for Windows shims.
#include "../errors.h"
#include "win.h"

namespace shim {

namespace {

// setStdHandleInheritance(inherit): marks this process's stdin, stdout and stderr handles
// (non-)inheritable. `start` turns inheritance off before it launches the daemon: libuv creates
// processes with bInheritHandles, so the daemon would otherwise hold containerd's output pipe
// open and containerd's `start` (CombinedOutput, which reads to EOF) would wait for the daemon to
// exit. The Rust crate does the same (disable_handle_inheritance).
Napi::Value SetStdHandleInheritance(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsBoolean()) throw ArgError(env, "setStdHandleInheritance(inherit)");
  DWORD flags = info[0].As<Napi::Boolean>().Value() ? HANDLE_FLAG_INHERIT : 0;
  for (DWORD which : {STD_INPUT_HANDLE, STD_OUTPUT_HANDLE, STD_ERROR_HANDLE}) {
    HANDLE h = GetStdHandle(which);
    if (h == nullptr || h == INVALID_HANDLE_VALUE) continue;
    SetHandleInformation(h, HANDLE_FLAG_INHERIT, flags);  // a console pseudo-handle may refuse
  }
  return env.Undefined();
}

}  // namespace

Napi::Object InitProcessWin(Napi::Env env, Napi::Object exports) {
  exports.Set("setStdHandleInheritance",
              Napi::Function::New(env, SetStdHandleInheritance, "setStdHandleInheritance"));
  return exports;
}

}  // namespace shim

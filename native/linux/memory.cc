// Giving memory back: malloc_trim(3) returns the free pages of every glibc malloc arena (not only
// the top of the main heap) to the kernel. A shim daemon calls it once it is idle after start-up
// and after bursts of work, the way Go shims call debug.FreeOSMemory; see lib/shim/daemon-runtime.ts.
#include <cstdlib>  // defines __GLIBC__ on glibc

#include "linux.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace shim {

namespace {

// mallocTrim(): true if memory was released; false where the libc has no malloc_trim (musl).
Napi::Value MallocTrim(const Napi::CallbackInfo& info) {
#if defined(__GLIBC__)
  return Napi::Boolean::New(info.Env(), ::malloc_trim(0) != 0);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

}  // namespace

Napi::Object InitMemory(Napi::Env env, Napi::Object exports) {
  exports.Set("mallocTrim", Napi::Function::New(env, MallocTrim, "mallocTrim"));
  return exports;
}

}  // namespace shim

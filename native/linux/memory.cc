// Giving memory back: malloc_trim(3) returns the free pages of every glibc malloc arena (not only
// the top of the main heap) to the kernel. A shim daemon calls it once it is idle after start-up
// and after bursts of work, the way Go shims call debug.FreeOSMemory; the first time, V8's heap is
// shrunk first (v8ReduceMemory). See lib/shim/daemon-runtime.ts.
#include <uv.h>

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

// v8::Isolate's GetCurrent() and MemoryPressureNotification(), as the node executable exports
// them (Itanium C++ ABI names; a member function takes `this` first; MemoryPressureLevel is an
// int enum: kNone, kModerate, kCritical). Looked up once, at run time: the addon stays an N-API
// addon that loads on any node (no V8 symbol to resolve when it is loaded), and where node does
// not export them (another embedder, another ABI) v8ReduceMemory() only says false.
using GetCurrentFn = void* (*)();
using MemoryPressureFn = void (*)(void*, int);
constexpr int kCriticalMemoryPressure = 2;

bool LookUpV8(GetCurrentFn* get_current, MemoryPressureFn* pressure) {
  void* current = NodeSymbol("_ZN2v87Isolate10GetCurrentEv");
  void* notify =
      NodeSymbol("_ZN2v87Isolate26MemoryPressureNotificationENS_19MemoryPressureLevelE");
  if (current == nullptr || notify == nullptr) return false;
  *get_current = reinterpret_cast<GetCurrentFn>(current);
  *pressure = reinterpret_cast<MemoryPressureFn>(notify);
  return true;
}

// v8ReduceMemory(): critical memory pressure on this thread's isolate, which V8 answers at once
// (called on the isolate's thread) with a full collection in its memory-reducing mode, as its
// memory reducer's: the young generation back to its minimum, free pages released, code ages
// advanced and old code dropped (the "forced" collections of a low-memory notification or of
// gc() leave code ages alone). V8 puts the pressure level back to none itself. True if it ran;
// false where node does not export the call.
Napi::Value V8ReduceMemory(const Napi::CallbackInfo& info) {
  static GetCurrentFn get_current = nullptr;
  static MemoryPressureFn pressure = nullptr;
  static const bool found = LookUpV8(&get_current, &pressure);
  void* isolate = found ? get_current() : nullptr;
  if (isolate == nullptr) return Napi::Boolean::New(info.Env(), false);
  pressure(isolate, kCriticalMemoryPressure);
  return Napi::Boolean::New(info.Env(), true);
}

}  // namespace

void* NodeSymbol(const char* name) {
  uv_lib_t self;
  void* found = nullptr;
  // The process itself: node and what it loaded. Closing the main program's handle unloads
  // nothing, and the address stays valid.
  if (uv_dlopen(nullptr, &self) != 0 || uv_dlsym(&self, name, &found) != 0) found = nullptr;
  uv_dlclose(&self);
  return found;
}

Napi::Object InitMemory(Napi::Env env, Napi::Object exports) {
  exports.Set("mallocTrim", Napi::Function::New(env, MallocTrim, "mallocTrim"));
  exports.Set("v8ReduceMemory", Napi::Function::New(env, V8ReduceMemory, "v8ReduceMemory"));
  return exports;
}

}  // namespace shim

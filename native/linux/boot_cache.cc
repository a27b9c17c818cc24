// The checksum of a standby's boot cache (lib/shim/warm/boot-cache.ts). V8 checks a code
// cache's version, flags and source length but, in release builds, not its payload: a corrupt
// cache handed to V8 could crash the process or run the wrong code, so the file carries this
// checksum and is ignored when it does not match. Native because a JavaScript loop over the
// ~0.5 MB file costs a booting node ~4 ms before it is optimized; this is ~0.1 ms. Not
// cryptographic: only our uid can write the file (the pool directory is 0700).
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <uv.h>

#include <cstdio>
#include <new>
#include <string>

#include "linux.h"

namespace shim {

namespace {

constexpr uint64_t kMul1 = 0x9E3779B97F4A7C15ULL;
constexpr uint64_t kMul2 = 0xC2B2AE3D27D4EB4FULL;

inline uint64_t Rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

inline uint64_t Mix(uint64_t h, uint64_t w) {
  h ^= Rotl(w * kMul2, 31) * kMul1;
  return Rotl(h, 27) * kMul1 + 0x52DCE729;
}

// 64 bits over `n` bytes, 8 at a time; the length goes in last (a truncation changes it).
uint64_t Checksum(const uint8_t* p, size_t n) {
  uint64_t h = 0x27D4EB2F165667C5ULL;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    ::memcpy(&w, p + i, 8);
    h = Mix(h, w);
  }
  uint64_t tail = 0;
  ::memcpy(&tail, p + i, n - i);
  h = Mix(h, tail);
  h = Mix(h, static_cast<uint64_t>(n));
  h ^= h >> 33;
  h *= kMul2;
  h ^= h >> 29;
  return h;
}

// bootCacheChecksum(data: Uint8Array): string (16 hex digits)
Napi::Value BootCacheChecksum(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    Napi::TypeError::New(env, "bootCacheChecksum(data): data must be a Uint8Array")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Uint8Array data = info[0].As<Napi::Uint8Array>();
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx",
                static_cast<unsigned long long>(Checksum(data.Data(), data.ElementLength())));
  return Napi::String::New(env, hex, 16);
}

// The identity a cache records of a file: device, inode, size, mtime and ctime (ns), as
// fs.statSync(path, { bigint: true }) gives them (libuv's statx: st_dev is makedev(major, minor)).
// statx (glibc 2.28), not stat: glibc >= 2.33 exports stat itself, above the prebuilds' floor.
std::string Identity(const struct statx& st) {
  auto ns = [](const struct statx_timestamp& t) {
    return std::to_string(static_cast<long long>(t.tv_sec) * 1000000000LL + t.tv_nsec);
  };
  return std::to_string(static_cast<unsigned long long>(makedev(st.stx_dev_major, st.stx_dev_minor))) +
         ":" + std::to_string(static_cast<unsigned long long>(st.stx_ino)) + ":" +
         std::to_string(static_cast<unsigned long long>(st.stx_size)) + ":" + ns(st.stx_mtime) +
         ":" + ns(st.stx_ctime);
}

// bootCacheIdentities(paths: string[]): Array<string | number>: each path's identity, '-' when
// nothing is there, or the errno of a stat that failed otherwise. One call for the ~250 files
// and directories a cache names: through fs.statSync (bigint) they cost a cold boot ~4 ms.
Napi::Value BootCacheIdentities(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) {
    Napi::TypeError::New(env, "bootCacheIdentities(paths): paths must be an array of strings")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array paths = info[0].As<Napi::Array>();
  uint32_t n = paths.Length();
  Napi::Array out = Napi::Array::New(env, n);
  for (uint32_t i = 0; i < n; i++) {
    Napi::Value v = paths.Get(i);
    if (!v.IsString()) {
      Napi::TypeError::New(env, "bootCacheIdentities(paths): paths must be an array of strings")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    std::string path = v.As<Napi::String>().Utf8Value();
    struct statx st;
    if (::statx(AT_FDCWD, path.c_str(), 0, STATX_BASIC_STATS, &st) == 0)
      out.Set(i, Napi::String::New(env, Identity(st)));
    else if (errno == ENOENT) out.Set(i, Napi::String::New(env, "-"));
    else out.Set(i, Napi::Number::New(env, errno));
  }
  return out;
}

// V8's ScriptCompiler::CreateCodeCacheForFunction(Local<Function>) and CachedData's destructor,
// as the node executable exports them (Itanium C++ ABI names), looked up once at run time as
// memory.cc does: the addon stays an N-API addon that loads on any node, and where node does
// not export them bootCacheFunctionCode() answers undefined. A code cache made from a function
// after it ran holds the bytecode of every inner function compiled by then (what a boot's code
// cache, made at compile time, lacks: the functions V8 compiles lazily on their first call).
struct CachedDataLayout {  // v8::ScriptCompiler::CachedData's public members, in order
  const uint8_t* data;
  int length;
  bool rejected;
  int buffer_policy;
};
using CreateCodeCacheFn = CachedDataLayout* (*)(void* function);
using DestroyCachedDataFn = void (*)(CachedDataLayout*);

bool LookUpCodeCache(CreateCodeCacheFn* create, DestroyCachedDataFn* destroy) {
  uv_lib_t self;
  if (uv_dlopen(nullptr, &self) != 0) {
    uv_dlclose(&self);
    return false;
  }
  void* c = nullptr;
  void* d = nullptr;
  bool found =
      uv_dlsym(&self,
               "_ZN2v814ScriptCompiler26CreateCodeCacheForFunctionENS_5LocalINS_8FunctionEEE",
               &c) == 0 &&
      uv_dlsym(&self, "_ZN2v814ScriptCompiler10CachedDataD1Ev", &d) == 0 && c != nullptr &&
      d != nullptr;
  uv_dlclose(&self);
  if (!found) return false;
  *create = reinterpret_cast<CreateCodeCacheFn>(c);
  *destroy = reinterpret_cast<DestroyCachedDataFn>(d);
  return true;
}

// bootCacheFunctionCode(fn): Buffer | undefined. `fn` MUST be a function vm.compileFunction
// returned (V8 checks, fatally, that it is a wrapped function). In node's N-API a napi_value is
// a v8::Local<v8::Value>'s handle (one pointer), which is what Local<Function> passes.
Napi::Value BootCacheFunctionCode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  static CreateCodeCacheFn create = nullptr;
  static DestroyCachedDataFn destroy = nullptr;
  static const bool found = LookUpCodeCache(&create, &destroy);
  if (info.Length() < 1 || !info[0].IsFunction()) {
    Napi::TypeError::New(env, "bootCacheFunctionCode(fn): fn must be a function")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!found) return env.Undefined();
  napi_value fn = info[0];
  CachedDataLayout* cached = create(reinterpret_cast<void*>(fn));
  if (cached == nullptr) return env.Undefined();
  Napi::Value out = env.Undefined();
  if (cached->data != nullptr && cached->length > 0)
    out = Napi::Buffer<uint8_t>::Copy(env, cached->data, static_cast<size_t>(cached->length));
  destroy(cached);  // frees the data it owns
  ::operator delete(static_cast<void*>(cached));
  return out;
}

}  // namespace

Napi::Object InitBootCache(Napi::Env env, Napi::Object exports) {
  exports.Set("bootCacheChecksum", Napi::Function::New(env, BootCacheChecksum, "bootCacheChecksum"));
  exports.Set("bootCacheIdentities",
              Napi::Function::New(env, BootCacheIdentities, "bootCacheIdentities"));
  exports.Set("bootCacheFunctionCode",
              Napi::Function::New(env, BootCacheFunctionCode, "bootCacheFunctionCode"));
  return exports;
}

}  // namespace shim

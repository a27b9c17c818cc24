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
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <new>
#include <string>
#include <vector>

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
  void* c =
      NodeSymbol("_ZN2v814ScriptCompiler26CreateCodeCacheForFunctionENS_5LocalINS_8FunctionEEE");
  void* d = NodeSymbol("_ZN2v814ScriptCompiler10CachedDataD1Ev");
  if (c == nullptr || d == nullptr) return false;
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

// The modules' sources a boot cache holds (Latin-1, one after another), mapped from the cache
// file and handed to V8 as external strings: V8 keeps a module's source for as long as any of
// its functions lives (to compile them lazily, or again once their bytecode was flushed), and
// as a heap string that is ~0.4 MB of each process's own memory; mapped, it is the page cache's,
// one copy for every standby and daemon of the pool, and only the pages V8 reads are touched.
// The cache file is never written in place (a new one is renamed over it), so what a process
// mapped stays as it was for its life. node_api_create_external_string_latin1 is looked up at
// run time (node >= 20.4; the addon stays at its N-API version): without it, or where node
// copies (a V8 sandbox), the sources are read as before.
using ExternalLatin1Fn = napi_status (*)(napi_env env, char* str, size_t length,
                                         void (*finalize)(napi_env env, void* data, void* hint),
                                         void* hint, napi_value* result, bool* copied);

struct SourceMapping {  // one mapping, shared by its strings; unmapped when the last one goes
  void* base;
  size_t size;
  std::atomic<size_t> refs{1};
};

void Release(SourceMapping* m) {
  if (m->refs.fetch_sub(1) == 1) {
    ::munmap(m->base, m->size);
    delete m;
  }
}

void ReleaseSource(napi_env, void*, void* hint) { Release(static_cast<SourceMapping*>(hint)); }

// bootCacheSources(fd, offset, lengths): Array<string | undefined> | undefined. The file `fd`
// holds, from `offset`, sources of `lengths` bytes each (0: none), read as Latin-1. Undefined
// when they cannot be mapped as external strings (the caller reads the modules' files).
Napi::Value BootCacheSources(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  static const auto make =
      reinterpret_cast<ExternalLatin1Fn>(NodeSymbol("node_api_create_external_string_latin1"));
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsArray()) {
    Napi::TypeError::New(env, "bootCacheSources(fd, offset, lengths): bad arguments")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  double first = info[1].As<Napi::Number>().DoubleValue();
  Napi::Array list = info[2].As<Napi::Array>();
  std::vector<size_t> lengths(list.Length());
  double total = 0;
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value v = list.Get(i);
    double n = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    if (!(n >= 0 && n <= 0x3fffffff)) {
      Napi::TypeError::New(env, "bootCacheSources(fd, offset, lengths): bad length")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    lengths[i] = static_cast<size_t>(n);
    total += n;
  }
  struct statx st;  // statx, not fstat: see Identity
  if (make == nullptr || !(first >= 0) || total == 0 ||
      ::statx(fd, "", AT_EMPTY_PATH, STATX_SIZE, &st) != 0 ||
      first + total > static_cast<double>(st.stx_size))
    return env.Undefined();
  size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  size_t offset = static_cast<size_t>(first);
  size_t start = offset / page * page;
  size_t size = offset - start + static_cast<size_t>(total);
  void* base = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, static_cast<off_t>(start));
  if (base == MAP_FAILED) return env.Undefined();
  auto* mapping = new SourceMapping{base, size};
  char* at = static_cast<char*>(base) + (offset - start);
  Napi::Array out = Napi::Array::New(env, lengths.size());
  for (uint32_t i = 0; i < lengths.size(); at += lengths[i], i++) {
    if (lengths[i] == 0) continue;
    napi_value s;
    bool copied = false;
    mapping->refs.fetch_add(1);
    if (make(env, at, lengths[i], ReleaseSource, mapping, &s, &copied) != napi_ok) {
      Release(mapping);
      break;
    }
    if (copied) Release(mapping);
    out.Set(i, Napi::Value(env, s));
  }
  Release(mapping);  // the strings hold it now
  return out;
}

}  // namespace

Napi::Object InitBootCache(Napi::Env env, Napi::Object exports) {
  exports.Set("bootCacheChecksum", Napi::Function::New(env, BootCacheChecksum, "bootCacheChecksum"));
  exports.Set("bootCacheIdentities",
              Napi::Function::New(env, BootCacheIdentities, "bootCacheIdentities"));
  exports.Set("bootCacheFunctionCode",
              Napi::Function::New(env, BootCacheFunctionCode, "bootCacheFunctionCode"));
  exports.Set("bootCacheSources",
              Napi::Function::New(env, BootCacheSources, "bootCacheSources"));
  return exports;
}

}  // namespace shim

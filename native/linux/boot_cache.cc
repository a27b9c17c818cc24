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

#include <cstdio>
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

}  // namespace

Napi::Object InitBootCache(Napi::Env env, Napi::Object exports) {
  exports.Set("bootCacheChecksum", Napi::Function::New(env, BootCacheChecksum, "bootCacheChecksum"));
  exports.Set("bootCacheIdentities",
              Napi::Function::New(env, BootCacheIdentities, "bootCacheIdentities"));
  return exports;
}

}  // namespace shim

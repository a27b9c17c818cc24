// Entry points of the Linux layer: the subreaper, the exit reaper, pidfd waits (pidfd.cc), mounts, eventfd, malloc
// trimming and warm start (native/warm; module_watch.cc: a standby's staleness check; boot_cache.cc: its boot cache's checksum). Not part of a generic-POSIX build (native/posix/features.h).
#pragma once
#include <napi.h>

namespace shim {

Napi::Object InitSubreaper(Napi::Env env, Napi::Object exports);
Napi::Object InitReaper(Napi::Env env, Napi::Object exports);
Napi::Object InitPidfd(Napi::Env env, Napi::Object exports);
Napi::Object InitMount(Napi::Env env, Napi::Object exports);
Napi::Object InitMemory(Napi::Env env, Napi::Object exports);
Napi::Object InitWarm(Napi::Env env, Napi::Object exports);
Napi::Object InitModuleWatch(Napi::Env env, Napi::Object exports);
Napi::Object InitBootCache(Napi::Env env, Napi::Object exports);

// A symbol of the node executable (or what it loaded), looked up at run time, so the addon
// stays an N-API addon that loads on any node; nullptr where it is not exported (memory.cc).
void* NodeSymbol(const char* name);

}  // namespace shim

// Entry points of the Linux-only sources: process spawning, the subreaper, the reaper, mounts
// and warm start.
#pragma once
#include <napi.h>

namespace shim {

Napi::Object InitProcess(Napi::Env env, Napi::Object exports);
Napi::Object InitReaper(Napi::Env env, Napi::Object exports);
Napi::Object InitMount(Napi::Env env, Napi::Object exports);
Napi::Object InitWarm(Napi::Env env, Napi::Object exports);

}  // namespace shim

// The addon's entry point: each source file contributes its exports.
#include <napi.h>

#include "frame.h"

#ifndef _WIN32
#include "posix/channel.h"
#include "posix/posix.h"
#endif
#ifdef __linux__
#include "linux/linux.h"
#endif
#ifdef _WIN32
#include "win/win.h"
#endif

namespace shim {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitFrame(env, exports);
#ifndef _WIN32
  InitChannel(env, exports);
  InitSocket(env, exports);
  InitWatcher(env, exports);
#endif
#ifdef _WIN32
  InitPipe(env, exports);
  InitPipeConnect(env, exports);
  InitProcessWin(env, exports);
#endif
#ifdef __linux__
  InitProcess(env, exports);
  InitReaper(env, exports);
  InitMount(env, exports);
  InitWarm(env, exports);
#endif
  exports.Set("platform", Napi::String::New(env,
#if defined(_WIN32)
                                             "win32"
#elif defined(__linux__)
                                             "linux"
#else
                                             "posix"
#endif
                                             ));
  return exports;
}

}  // namespace shim

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return shim::Init(env, exports); }

NODE_API_MODULE(containerd_shim, InitAddon)

// The addon's entry point: each layer contributes its exports. Every build has the frame codec;
// POSIX builds (Linux, macOS, the BSDs) the POSIX layer; Linux builds also the Linux layer; Windows
// builds the Windows layer. `platform` says which: "linux", "posix" or "win32" (lib/native).
#include <napi.h>

#include "frame.h"

#ifndef _WIN32
#include "posix/channel.h"
#include "posix/features.h"
#include "posix/posix.h"
#endif
#ifdef SHIM_LINUX
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
  InitFd(env, exports);
  InitSpawn(env, exports);
  InitWatcher(env, exports);
#endif
#ifdef SHIM_LINUX
  InitSubreaper(env, exports);
  InitReaper(env, exports);
  InitPidfd(env, exports);
  InitMount(env, exports);
  InitMemory(env, exports);
  InitWarm(env, exports);
  InitModuleWatch(env, exports);
  InitBootCache(env, exports);
#endif
#ifdef _WIN32
  InitPipe(env, exports);
  InitPipeConnect(env, exports);
  InitProcessWin(env, exports);
#endif
  exports.Set("platform", Napi::String::New(env,
#if defined(_WIN32)
                                             "win32"
#elif defined(SHIM_LINUX)
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

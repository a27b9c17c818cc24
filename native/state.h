// Per-environment state of the addon (the main thread and each worker have their own).
#pragma once
#include <napi.h>

#include <functional>
#include <vector>

namespace shim {

struct AddonState {
  void* scheduler = nullptr;  // posix/channel.cc
  void* reaper = nullptr;     // linux/reaper.cc
  void* iocp = nullptr;       // win/iocp.cc
  // Run when the environment is torn down, in reverse order of registration.
  std::vector<std::function<void()>> cleanups;
};

inline void FreeState(Napi::Env, AddonState* s) {
  for (auto it = s->cleanups.rbegin(); it != s->cleanups.rend(); ++it) (*it)();
  delete s;
}

inline AddonState& GetState(Napi::Env env) {
  AddonState* state = env.GetInstanceData<AddonState>();
  if (state == nullptr) {
    state = new AddonState();
    env.SetInstanceData<AddonState, FreeState>(state);
  }
  return *state;
}

}  // namespace shim

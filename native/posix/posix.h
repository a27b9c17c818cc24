// Entry points of the POSIX layer: sockets, fd helpers, spawn, fd watching (and the frame channel,
// channel.h). Portable to macOS and the BSDs; Linux shortcuts are feature-tested (features.h).
#pragma once
#include <napi.h>

#include <cstdint>

namespace shim {

struct PeerCredentials {
  int64_t pid = -1;
  int64_t uid = -1;
  int64_t gid = -1;
  int error = 0;
};

PeerCredentials GetPeerCredentials(int fd);

Napi::Object InitSocket(Napi::Env env, Napi::Object exports);
Napi::Object InitFd(Napi::Env env, Napi::Object exports);
Napi::Object InitSpawn(Napi::Env env, Napi::Object exports);
Napi::Object InitWatcher(Napi::Env env, Napi::Object exports);

}  // namespace shim

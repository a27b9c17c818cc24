// Win32 errors as Node-style system errors: `code` (ENOENT, EBUSY, EPIPE, ...), `errno` (libuv's
// Windows value, the one Node's own errors carry there, so util.getSystemErrorName(errno) ===
// code), `syscall`, `path` when given, and the original Win32 code as `winError`.
#pragma once
#include "win.h"

namespace shim {

struct TranslatedError {
  const char* code;         // "ENOENT"; "UNKNOWN" when there is no equivalent
  int uv_errno;             // -4058
  const char* description;  // "no such file or directory"
};

TranslatedError TranslateWin32Error(DWORD error);

Napi::Error Win32Error(Napi::Env env, DWORD error, const char* syscall,
                       const std::string& path = "");

}  // namespace shim

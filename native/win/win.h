// Entry points and common includes of the Windows sources (named pipes over an I/O completion
// port). Everything here uses Node-API only: the mingw cross build links against node.exe's N-API
// exports (node_api.def), which do not include libuv.
#pragma once
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#if !defined(_WIN32_WINNT) || _WIN32_WINNT < 0x0602
#undef _WIN32_WINNT
#define _WIN32_WINNT 0x0602  // Windows 8: SetFileCompletionNotificationModes, CancelIoEx
#endif
#include <windows.h>
#include <napi.h>

#include <string>

namespace shim {

// PipeChannel, PipeListener, writeHighWaterMark (win/pipe_channel.cc).
Napi::Object InitPipe(Napi::Env env, Napi::Object exports);
// pipeConnect, closeHandle (win/pipe_connect.cc).
Napi::Object InitPipeConnect(Napi::Env env, Napi::Object exports);
// setStdHandleInheritance (win/process_win.cc).
Napi::Object InitProcessWin(Napi::Env env, Napi::Object exports);

// UTF-8 <-> UTF-16 for paths crossing the JavaScript boundary.
std::wstring Widen(const std::string& utf8);
std::string Narrow(const std::wstring& utf16);

// A HANDLE as a JavaScript number and back (kernel handles are small multiples of 4).
inline double HandleToNumber(HANDLE h) { return static_cast<double>(reinterpret_cast<uintptr_t>(h)); }
inline HANDLE NumberToHandle(double n) {
  return reinterpret_cast<HANDLE>(static_cast<uintptr_t>(n));
}

}  // namespace shim

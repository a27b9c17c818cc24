// Errors that cross into JavaScript carry `code`, `errno` and `syscall` like Node's own.
#pragma once
#include <napi.h>

#include <string>
#include <vector>

namespace shim {

// Symbolic name of an errno value ("ECHILD"); libuv's table lacks several Linux ones.
const char* ErrnoName(int err);

// An Error shaped like Node's system errors: message "ENOENT: no such file or directory, connect
// '/path'", code "ENOENT", errno -2, syscall "connect" and, when given, path.
Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall, const std::string& path = "");

// An Error with a string code of this library's ("ERR_TTRPC_CLOSED"); every code is listed in
// lib/error-codes.ts.
Napi::Error CodeError(Napi::Env env, const char* code, const std::string& message);

// A TypeError with code ERR_INVALID_ARG_TYPE for bad arguments from JavaScript.
Napi::Error ArgError(Napi::Env env, const std::string& message);

// An array of strings from JavaScript (undefined or null: empty); anything else throws an
// ArgError naming `what`.
std::vector<std::string> StringArray(Napi::Env env, Napi::Value value, const char* what);

}  // namespace shim

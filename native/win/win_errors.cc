#include "win_errors.h"

namespace shim {

namespace {

// libuv's error numbers on Windows (uv/errno.h); Node reports these as `errno`.
constexpr TranslatedError kEACCES{"EACCES", -4092, "permission denied"};
constexpr TranslatedError kEADDRINUSE{"EADDRINUSE", -4091, "address already in use"};
constexpr TranslatedError kEBADF{"EBADF", -4083, "bad file descriptor"};
constexpr TranslatedError kEBUSY{"EBUSY", -4082, "resource busy or locked"};
constexpr TranslatedError kECANCELED{"ECANCELED", -4081, "operation canceled"};
constexpr TranslatedError kECONNABORTED{"ECONNABORTED", -4079, "software caused connection abort"};
constexpr TranslatedError kECONNREFUSED{"ECONNREFUSED", -4078, "connection refused"};
constexpr TranslatedError kECONNRESET{"ECONNRESET", -4077, "connection reset by peer"};
constexpr TranslatedError kEEXIST{"EEXIST", -4075, "file already exists"};
constexpr TranslatedError kEINVAL{"EINVAL", -4071, "invalid argument"};
constexpr TranslatedError kEIO{"EIO", -4070, "i/o error"};
constexpr TranslatedError kEISCONN{"EISCONN", -4069, "socket is already connected"};
constexpr TranslatedError kEMFILE{"EMFILE", -4066, "too many open files"};
constexpr TranslatedError kENAMETOOLONG{"ENAMETOOLONG", -4064, "name too long"};
constexpr TranslatedError kENOBUFS{"ENOBUFS", -4060, "no buffer space available"};
constexpr TranslatedError kENOENT{"ENOENT", -4058, "no such file or directory"};
constexpr TranslatedError kENOMEM{"ENOMEM", -4057, "not enough memory"};
constexpr TranslatedError kENOTSUP{"ENOTSUP", -4049, "operation not supported on socket"};
constexpr TranslatedError kEPERM{"EPERM", -4048, "operation not permitted"};
constexpr TranslatedError kEPIPE{"EPIPE", -4047, "broken pipe"};
constexpr TranslatedError kETIMEDOUT{"ETIMEDOUT", -4039, "connection timed out"};
constexpr TranslatedError kUNKNOWN{"UNKNOWN", -4094, "unknown error"};

}  // namespace

// Follows libuv's uv_translate_sys_error for the errors named pipes produce.
TranslatedError TranslateWin32Error(DWORD error) {
  switch (error) {
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND:
    case ERROR_INVALID_NAME:
    case ERROR_BAD_PATHNAME:
    case ERROR_INVALID_DRIVE:
      return kENOENT;
    case ERROR_ACCESS_DENIED:
    case ERROR_INVALID_ACCESS:
      return kEACCES;
    case ERROR_PRIVILEGE_NOT_HELD:
      return kEPERM;
    case ERROR_INVALID_HANDLE:
      return kEBADF;
    case ERROR_NOT_ENOUGH_MEMORY:
    case ERROR_OUTOFMEMORY:
    case ERROR_NOT_ENOUGH_QUOTA:
      return kENOMEM;
    case ERROR_NO_SYSTEM_RESOURCES:
      return kENOBUFS;
    case ERROR_TOO_MANY_OPEN_FILES:
      return kEMFILE;
    case ERROR_PIPE_BUSY:
    case ERROR_BUSY:
      return kEBUSY;
    case ERROR_BROKEN_PIPE:
    case ERROR_BAD_PIPE:
    case ERROR_NO_DATA:
    case ERROR_PIPE_NOT_CONNECTED:
      return kEPIPE;
    case ERROR_PIPE_CONNECTED:
      return kEISCONN;
    case ERROR_SEM_TIMEOUT:
    case WAIT_TIMEOUT:
    case ERROR_TIMEOUT:
      return kETIMEDOUT;
    case ERROR_OPERATION_ABORTED:
      return kECANCELED;
    case ERROR_INVALID_PARAMETER:
    case ERROR_INSUFFICIENT_BUFFER:
    case ERROR_INVALID_FLAGS:
      return kEINVAL;
    case ERROR_ALREADY_EXISTS:
    case ERROR_FILE_EXISTS:
      return kEEXIST;
    case ERROR_NETNAME_DELETED:
      return kECONNRESET;
    case ERROR_CONNECTION_ABORTED:
      return kECONNABORTED;
    case ERROR_CONNECTION_REFUSED:
      return kECONNREFUSED;
    case ERROR_NOT_SUPPORTED:
      return kENOTSUP;
    case ERROR_FILENAME_EXCED_RANGE:
      return kENAMETOOLONG;
    case ERROR_GEN_FAILURE:
    case ERROR_IO_DEVICE:
      return kEIO;
    default:
      return kUNKNOWN;
  }
}

std::wstring Widen(const std::string& utf8) {
  if (utf8.empty()) return std::wstring();
  int n = MultiByteToWideChar(CP_UTF8, 0, utf8.data(), static_cast<int>(utf8.size()), nullptr, 0);
  std::wstring out(static_cast<size_t>(n), L'\0');
  MultiByteToWideChar(CP_UTF8, 0, utf8.data(), static_cast<int>(utf8.size()), &out[0], n);
  return out;
}

std::string Narrow(const std::wstring& utf16) {
  if (utf16.empty()) return std::string();
  int n = WideCharToMultiByte(CP_UTF8, 0, utf16.data(), static_cast<int>(utf16.size()), nullptr, 0,
                              nullptr, nullptr);
  std::string out(static_cast<size_t>(n), '\0');
  WideCharToMultiByte(CP_UTF8, 0, utf16.data(), static_cast<int>(utf16.size()), &out[0], n,
                      nullptr, nullptr);
  return out;
}

Napi::Error Win32Error(Napi::Env env, DWORD error, const char* syscall, const std::string& path) {
  TranslatedError t = TranslateWin32Error(error);
  std::string message = std::string(t.code) + ": " + t.description;
  if (t.uv_errno == kUNKNOWN.uv_errno) message += " (Win32 error " + std::to_string(error) + ")";
  message += std::string(", ") + syscall;
  if (!path.empty()) message += " '" + path + "'";
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, t.code));
  e.Set("errno", Napi::Number::New(env, t.uv_errno));
  e.Set("syscall", Napi::String::New(env, syscall));
  e.Set("winError", Napi::Number::New(env, static_cast<double>(error)));
  if (!path.empty()) e.Set("path", Napi::String::New(env, path));
  return e;
}

}  // namespace shim

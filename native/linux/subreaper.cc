// Becoming a child subreaper (prctl PR_SET_CHILD_SUBREAPER): orphaned descendants are
// reparented to the shim, which must reap them (reaper.cc). Linux only.
#include <sys/prctl.h>

#include <cerrno>

#include "../errors.h"
#include "linux.h"

namespace shim {

namespace {

// setSubreaper(on): prctl(PR_SET_CHILD_SUBREAPER); orphaned descendants are reparented to us.
Napi::Value SetSubreaper(const Napi::CallbackInfo& info) {
  unsigned long on = info.Length() == 0 || info[0].ToBoolean().Value() ? 1 : 0;
  if (::prctl(PR_SET_CHILD_SUBREAPER, on, 0, 0, 0) != 0) throw ErrnoError(info.Env(), errno, "prctl");
  return info.Env().Undefined();
}

Napi::Value IsSubreaper(const Napi::CallbackInfo& info) {
  int value = 0;
  if (::prctl(PR_GET_CHILD_SUBREAPER, &value, 0, 0, 0) != 0) throw ErrnoError(info.Env(), errno, "prctl");
  return Napi::Boolean::New(info.Env(), value != 0);
}

}  // namespace

Napi::Object InitSubreaper(Napi::Env env, Napi::Object exports) {
  exports.Set("setSubreaper", Napi::Function::New(env, SetSubreaper, "setSubreaper"));
  exports.Set("isSubreaper", Napi::Function::New(env, IsSubreaper, "isSubreaper"));
  return exports;
}

}  // namespace shim

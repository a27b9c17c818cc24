// FdWatcher: readiness notifications for an fd the caller owns (listening sockets, console
// sockets, eventfds, inotify): a thin wrapper over uv_poll_t.
#include <napi.h>
#include <uv.h>

#include "../errors.h"
#include "posix.h"

namespace shim {

namespace {

class FdWatcher : public Napi::ObjectWrap<FdWatcher> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "FdWatcher",
                       {InstanceMethod<&FdWatcher::Start>("start"),
                        InstanceMethod<&FdWatcher::Stop>("stop"),
                        InstanceMethod<&FdWatcher::Close>("close"),
                        InstanceMethod<&FdWatcher::Ref>("ref"),
                        InstanceMethod<&FdWatcher::Unref>("unref")});
  }

  // new FdWatcher(fd, callback(events, error?)); events: 1 readable, 2 writable.
  explicit FdWatcher(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<FdWatcher>(info), async_context_(info.Env(), "FdWatcher") {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsFunction())
      throw ArgError(env, "new FdWatcher(fd, callback)");
    callback_ = Napi::Persistent(info[1].As<Napi::Function>());
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    poll_ = new uv_poll_t;
    int r = uv_poll_init(loop, poll_, info[0].As<Napi::Number>().Int32Value());
    if (r != 0) {
      delete poll_;
      poll_ = nullptr;
      throw ErrnoError(env, -r, "uv_poll_init");
    }
    poll_->data = this;
    Napi::ObjectWrap<FdWatcher>::Ref();
  }

  ~FdWatcher() override { CloseHandle(); }

 private:
  void CloseHandle() {
    if (poll_ == nullptr) return;
    poll_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    poll_ = nullptr;
  }

  static void OnPoll(uv_poll_t* handle, int status, int events) {
    FdWatcher* self = static_cast<FdWatcher*>(handle->data);
    if (self == nullptr || self->callback_.IsEmpty()) return;
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    napi_value err = status < 0 ? ErrnoError(env, -status, "poll").Value() : env.Undefined();
    int mask = ((events & UV_READABLE) ? 1 : 0) | ((events & UV_WRITABLE) ? 2 : 0);
    try {
      self->callback_.MakeCallback(self->Value(), {Napi::Number::New(env, mask), err}, self->async_context_);
    } catch (const Napi::Error& e) {
      napi_fatal_exception(env, e.Value());
    }
  }

  Napi::Value Start(const Napi::CallbackInfo& info) {
    if (poll_ == nullptr) throw CodeError(info.Env(), "ERR_FD_WATCHER_CLOSED", "FdWatcher: closed");
    int mask = info[0].As<Napi::Number>().Int32Value();
    int events = ((mask & 1) ? UV_READABLE : 0) | ((mask & 2) ? UV_WRITABLE : 0);
    int r = uv_poll_start(poll_, events, &FdWatcher::OnPoll);
    if (r != 0) throw ErrnoError(info.Env(), -r, "uv_poll_start");
    return info.Env().Undefined();
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    if (poll_ != nullptr) uv_poll_stop(poll_);
    return info.Env().Undefined();
  }

  // close(): stops watching; the fd itself stays open (the caller owns it).
  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (poll_ != nullptr) {
      CloseHandle();
      callback_.Reset();  // it closes over the listener's owner: let both be collected
      Napi::ObjectWrap<FdWatcher>::Unref();
    }
    return info.Env().Undefined();
  }

  Napi::Value Ref(const Napi::CallbackInfo& info) {
    if (poll_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
    return info.Env().Undefined();
  }

  Napi::Value Unref(const Napi::CallbackInfo& info) {
    if (poll_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
    return info.Env().Undefined();
  }

  uv_poll_t* poll_ = nullptr;
  Napi::FunctionReference callback_;
  Napi::AsyncContext async_context_;
};

}  // namespace

Napi::Object InitWatcher(Napi::Env env, Napi::Object exports) {
  exports.Set("FdWatcher", FdWatcher::Define(env));
  return exports;
}

}  // namespace shim

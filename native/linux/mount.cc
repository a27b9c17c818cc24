// Mount primitives for runtime shims (rootfs from the task's mounts, overlay included) and the
// eventfd a runc shim needs for cgroup v1 OOM notifications. Linux only.
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <cerrno>
#include <string>
#include <vector>

#include "../errors.h"
#include "linux.h"

namespace shim {

namespace {

std::string OptionalString(const Napi::Value& value) {
  return value.IsString() ? value.As<Napi::String>().Utf8Value() : std::string();
}

// mount(source, target, fstype, flags, data): mount(2); flags are MS_* (see mountFlags).
Napi::Value Mount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 5 || !info[1].IsString() || !info[3].IsNumber())
    throw ArgError(env, "mount(source, target, fstype, flags, data)");
  std::string source = OptionalString(info[0]);
  std::string target = info[1].As<Napi::String>().Utf8Value();
  std::string fstype = OptionalString(info[2]);
  unsigned long flags = static_cast<unsigned long>(info[3].As<Napi::Number>().Int64Value());
  std::string data = OptionalString(info[4]);
  if (::mount(source.empty() ? nullptr : source.c_str(), target.c_str(), fstype.empty() ? nullptr : fstype.c_str(),
              flags, data.empty() ? nullptr : data.c_str()) != 0)
    throw ErrnoError(env, errno, "mount", target);
  return env.Undefined();
}

// umount2(target, flags): MNT_DETACH = 2, MNT_FORCE = 1.
Napi::Value Umount2(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string target = info[0].As<Napi::String>().Utf8Value();
  int flags = info.Length() > 1 ? info[1].As<Napi::Number>().Int32Value() : 0;
  if (::umount2(target.c_str(), flags) != 0) throw ErrnoError(env, errno, "umount2", target);
  return env.Undefined();
}

// A thread that closes detached mounts' descriptors. libuv's threads, not pthread_create: the
// addon's symbols come from node (uv_*), while glibc 2.34 gave pthread_create a new symbol
// version, above the prebuilds' glibc floor. libuv has no detached threads, so each closer is
// joined by a later closeDetached once it has finished (a finished thread's join is immediate).
struct Closer {
  uv_thread_t thread;
  std::vector<int> fds;
  std::atomic<bool> done{false};
};

uv_mutex_t g_closers_lock;
std::vector<Closer*> g_closers;  // started, not joined yet
uv_once_t g_closers_once = UV_ONCE_INIT;

void InitClosers() { uv_mutex_init(&g_closers_lock); }

void CloseAll(void* arg) {
  auto* c = static_cast<Closer*>(arg);
  for (int fd : c->fds) ::close(fd);
  c->done.store(true, std::memory_order_release);
}

// closeDetached(fds): closes the fds on a thread of its own, so that what the kernel does when it
// drops their last references (an unmounted overlay's shutdown syncs its upper filesystem) runs
// there; on this thread if no thread can be made. No result: a close of these can only fail as
// EINTR/EIO, with the descriptor gone all the same.
Napi::Value CloseDetached(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) throw ArgError(env, "closeDetached(fds)");
  Napi::Array list = info[0].As<Napi::Array>();
  auto* c = new Closer();
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value v = list.Get(i);
    if (v.IsNumber()) c->fds.push_back(v.As<Napi::Number>().Int32Value());
  }
  uv_once(&g_closers_once, InitClosers);
  uv_mutex_lock(&g_closers_lock);
  size_t kept = 0;
  for (Closer* old : g_closers) {
    if (old->done.load(std::memory_order_acquire)) {
      uv_thread_join(&old->thread);
      delete old;
    } else {
      g_closers[kept++] = old;
    }
  }
  g_closers.resize(kept);
  bool started = false;
  if (!c->fds.empty()) {
    uv_thread_options_t options;
    options.flags = UV_THREAD_HAS_STACK_SIZE;
    options.stack_size = 64 * 1024;
    started = uv_thread_create_ex(&c->thread, &options, CloseAll, c) == 0;
    if (started) g_closers.push_back(c);
  }
  uv_mutex_unlock(&g_closers_lock);
  if (!started) {
    CloseAll(c);
    delete c;
  }
  return env.Undefined();
}

// eventfd(): a non-blocking, close-on-exec eventfd; read 8 bytes from it with fs.readSync.
Napi::Value EventFd(const Napi::CallbackInfo& info) {
  int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) throw ErrnoError(info.Env(), errno, "eventfd");
  return Napi::Number::New(info.Env(), fd);
}

}  // namespace

Napi::Object InitMount(Napi::Env env, Napi::Object exports) {
  exports.Set("mount", Napi::Function::New(env, Mount, "mount"));
  exports.Set("umount2", Napi::Function::New(env, Umount2, "umount2"));
  exports.Set("eventfd", Napi::Function::New(env, EventFd, "eventfd"));
  exports.Set("closeDetached", Napi::Function::New(env, CloseDetached, "closeDetached"));
  Napi::Object flags = Napi::Object::New(env);
#define FLAG(name) flags.Set(#name, Napi::Number::New(env, static_cast<double>(name)));
  FLAG(MS_RDONLY) FLAG(MS_NOSUID) FLAG(MS_NODEV) FLAG(MS_NOEXEC) FLAG(MS_SYNCHRONOUS) FLAG(MS_REMOUNT)
  FLAG(MS_MANDLOCK) FLAG(MS_DIRSYNC) FLAG(MS_NOATIME) FLAG(MS_NODIRATIME) FLAG(MS_BIND) FLAG(MS_MOVE)
  FLAG(MS_REC) FLAG(MS_SILENT) FLAG(MS_UNBINDABLE) FLAG(MS_PRIVATE) FLAG(MS_SLAVE) FLAG(MS_SHARED)
  FLAG(MS_RELATIME) FLAG(MS_STRICTATIME)
#undef FLAG
  exports.Set("mountFlags", flags);
  return exports;
}

}  // namespace shim

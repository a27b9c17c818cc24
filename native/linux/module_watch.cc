// A standby's check that the modules it loaded are still the ones on disk (an upgrade makes it
// stale), made at every takeover on containerd's clock. Each file's identity (device, inode,
// size, mtime) is recorded when it is added; an inotify instance watches every file and every
// directory on their paths, so a takeover with no event since the last check reads one empty
// queue instead of stat'ing every module. Any event (a write, a chmod or touch, a rename or
// delete of the file, of its directory or of one above, a queue overflow) only says "may have
// changed": every file is then stat'ed and compared, so the answer is the identity comparison's
// either way. Without inotify (no instance or watch left for this uid) every check compares.
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>
#include <string>
#include <vector>

#include "../errors.h"
#include "linux.h"

namespace shim {

namespace {

struct Module {
  std::string path;
  bool found;
  uint32_t dev_major, dev_minor;
  uint64_t ino, size;
  int64_t mtime_sec;
  uint32_t mtime_nsec;
};

constexpr uint32_t kFileMask = IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVE_SELF | IN_DELETE_SELF;
constexpr uint32_t kDirMask =
    IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_MOVE_SELF | IN_DELETE_SELF | IN_ONLYDIR;

std::vector<Module> g_modules;
std::set<std::string> g_paths;
std::set<std::string> g_dirs;
// -1: not opened yet; -2: unusable (every check compares).
int g_inotify = -1;
// An event was read but not yet followed by a comparison that found nothing.
bool g_pending = false;

void GiveUpInotify() {
  if (g_inotify >= 0) ::close(g_inotify);
  g_inotify = -2;
}

bool Watch(const std::string& path, uint32_t mask) {
  if (g_inotify == -1) {
    g_inotify = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (g_inotify < 0) g_inotify = -2;
  }
  if (g_inotify < 0) return false;
  if (::inotify_add_watch(g_inotify, path.c_str(), mask) < 0 && errno != ENOENT) {
    GiveUpInotify();  // out of watches: a watch missing would hide a change
    return false;
  }
  return true;
}

// statx (glibc 2.28), not stat: glibc >= 2.33 exports stat itself, above the prebuilds' floor.
Module Identify(const std::string& path) {
  Module m{path, false, 0, 0, 0, 0, 0, 0};
  struct statx st;
  if (::statx(AT_FDCWD, path.c_str(), 0, STATX_INO | STATX_SIZE | STATX_MTIME, &st) == 0) {
    m.found = true;
    m.dev_major = st.stx_dev_major;
    m.dev_minor = st.stx_dev_minor;
    m.ino = st.stx_ino;
    m.size = st.stx_size;
    m.mtime_sec = st.stx_mtime.tv_sec;
    m.mtime_nsec = st.stx_mtime.tv_nsec;
  }
  return m;
}

bool Same(const Module& a, const Module& b) {
  if (a.found != b.found) return false;
  return !a.found || (a.dev_major == b.dev_major && a.dev_minor == b.dev_minor && a.ino == b.ino &&
                      a.size == b.size && a.mtime_sec == b.mtime_sec &&
                      a.mtime_nsec == b.mtime_nsec);
}

// Whether the queue held anything (read to empty); an unreadable queue counts as an event.
bool Drain() {
  alignas(struct inotify_event) char buf[4096];
  bool any = false;
  for (;;) {
    ssize_t n = ::read(g_inotify, buf, sizeof(buf));
    if (n > 0) {
      any = true;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return any;
    GiveUpInotify();
    return true;
  }
}

// moduleWatchAdd(paths): records the identity of each file not yet recorded, watching it (first)
// and the directories above it.
Napi::Value ModuleWatchAdd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) throw ArgError(env, "moduleWatchAdd(paths)");
  for (const std::string& path : StringArray(env, info[0], "paths")) {
    if (path.empty() || path[0] != '/' || !g_paths.insert(path).second) continue;
    Watch(path, kFileMask);
    for (size_t slash = path.rfind('/'); slash != std::string::npos && slash > 0;
         slash = path.rfind('/', slash - 1)) {
      std::string dir = path.substr(0, slash);
      if (!g_dirs.insert(dir).second) break;  // it and those above are watched already
      Watch(dir, kDirMask);
    }
    g_modules.push_back(Identify(path));  // after the watch: a change in between is an event
  }
  if (g_dirs.insert("/").second) Watch("/", kDirMask);
  return env.Undefined();
}

// moduleWatchChanged(): whether a recorded file's identity changed (or it appeared, or went).
Napi::Value ModuleWatchChanged(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (g_inotify >= 0 && !Drain() && !g_pending) return Napi::Boolean::New(env, false);
  g_pending = true;
  for (const Module& m : g_modules) {
    if (!Same(m, Identify(m.path))) return Napi::Boolean::New(env, true);
  }
  g_pending = false;
  return Napi::Boolean::New(env, false);
}

// moduleWatchClose(): forgets everything and closes the inotify instance (a standby becoming a
// daemon keeps nothing a cold daemon would not have).
Napi::Value ModuleWatchClose(const Napi::CallbackInfo& info) {
  if (g_inotify >= 0) ::close(g_inotify);
  g_inotify = -1;
  g_pending = false;
  g_modules.clear();
  g_paths.clear();
  g_dirs.clear();
  return info.Env().Undefined();
}

}  // namespace

Napi::Object InitModuleWatch(Napi::Env env, Napi::Object exports) {
  exports.Set("moduleWatchAdd", Napi::Function::New(env, ModuleWatchAdd, "moduleWatchAdd"));
  exports.Set("moduleWatchChanged",
              Napi::Function::New(env, ModuleWatchChanged, "moduleWatchChanged"));
  exports.Set("moduleWatchClose", Napi::Function::New(env, ModuleWatchClose, "moduleWatchClose"));
  return exports;
}

}  // namespace shim

// The launcher's settings, pool directory and trace (see settings.h).
#include "settings.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "../warm/protocol.h"

namespace launcher {

namespace {


constexpr size_t kMaxTarget = 64;
constexpr size_t kSocketPathLimit = 107;
// "s-" + 16 hex + "-" + a pid of up to 10 digits
constexpr size_t kSocketNameLength = 2 + 16 + 1 + 10;

// Environment that a Node process reads while it boots: standbys booted under different values
// are a different pool (the rest of the environment is set at handover).
const char* const kBootEnvPrefixes[] = {
    "NODE_", "UV_", "LD_", "GLIBC_TUNABLES=", "MALLOC_", "TZ=", "OPENSSL_", "SSL_CERT_",
    "CONTAINERD_SHIM_WARM_IDLE_MS=", "CONTAINERD_SHIM_WARM_FAULT=", "CONTAINERD_SHIM_WARM_WARMUP=",
};

size_t EnvSize(const char* name, size_t fallback, size_t max) {
  const char* v = ::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  unsigned long n = std::strtoul(v, &end, 10);
  if (*end != '\0') return fallback;
  return std::min<size_t>(n, max);
}

// 128-bit FNV-1a (two 64-bit lanes with different offsets): an identity, not a secret.
class Hash {
 public:
  void Add(const void* data, size_t len) {
    const unsigned char* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < len; i++) {
      a_ = (a_ ^ p[i]) * 0x100000001b3ULL;
      b_ = (b_ ^ p[i]) * 0x100000001b3ULL;
    }
    unsigned char sep = 0xff;
    a_ = (a_ ^ sep) * 0x100000001b3ULL;
    b_ = (b_ ^ sep) * 0x100000001b3ULL;
  }
  void Add(const std::string& s) { Add(s.data(), s.size()); }
  void AddStat(const struct stat& st) {
    unsigned long long v[5] = {static_cast<unsigned long long>(st.st_dev),
                               static_cast<unsigned long long>(st.st_ino),
                               static_cast<unsigned long long>(st.st_size),
                               static_cast<unsigned long long>(st.st_mtim.tv_sec),
                               static_cast<unsigned long long>(st.st_mtim.tv_nsec)};
    Add(v, sizeof(v));
  }
  std::string Hex() const {
    char out[33];
    std::snprintf(out, sizeof(out), "%016llx%016llx", a_, b_);
    return out;
  }

 private:
  unsigned long long a_ = 0xcbf29ce484222325ULL;
  unsigned long long b_ = 0x84222325cbf29ce4ULL;
};

bool PrivateDir(const std::string& path, std::string* why) {
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    *why = "mkdir " + path + ": " + std::strerror(errno);
    return false;
  }
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    *why = "lstat " + path + ": " + std::strerror(errno);
    return false;
  }
  if (!S_ISDIR(st.st_mode) || st.st_uid != ::geteuid() || (st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", st.st_mode & 07777);
    *why = path + " is not a directory of uid " + std::to_string(::geteuid()) +
           " with mode 0700 (uid " + std::to_string(st.st_uid) + ", mode " + mode +
           "): not used";
    return false;
  }
  return true;
}

std::string DefaultRoot() {
  if (::geteuid() == 0) return "/run/containerd-shim-node";
  const char* xdg = ::getenv("XDG_RUNTIME_DIR");
  if (xdg != nullptr && xdg[0] == '/') return std::string(xdg) + "/containerd-shim-node";
  return "/tmp/containerd-shim-node-" + std::to_string(::geteuid());
}

void AddNamespaces(Hash* h) {
  static const char* const kinds[] = {"mnt", "pid", "net", "ipc", "uts", "user", "cgroup", "time"};
  for (const char* kind : kinds) {
    char path[32], link[64];
    std::snprintf(path, sizeof(path), "/proc/self/ns/%s", kind);
    ssize_t n = ::readlink(path, link, sizeof(link));
    h->Add(link, n > 0 ? static_cast<size_t>(n) : 0);
  }
}

void AddCredentials(Hash* h) {
  unsigned long long ids[2] = {::geteuid(), ::getegid()};
  h->Add(ids, sizeof(ids));
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (::syscall(SYS_capget, &header, data) == 0) {
    unsigned int eff[2] = {data[0].effective, data[1].effective};
    h->Add(eff, sizeof(eff));
  }
}

bool BootRelevant(const std::string& entry) {
  for (const char* prefix : kBootEnvPrefixes) {
    if (entry.compare(0, std::strlen(prefix), prefix) == 0) return true;
  }
  return false;
}

}  // namespace

Settings ReadSettings() {
  Settings s;
  const char* on = ::getenv("CONTAINERD_SHIM_WARM");
  if (on != nullptr) {
    std::string v(on);
    for (auto& c : v) c = static_cast<char>(::tolower(c));
    if (v == "0" || v == "false" || v == "off" || v == "no") s.enabled = false;
  }
  s.target = EnvSize("CONTAINERD_SHIM_WARM_POOL", 3, kMaxTarget);
  s.max_boots = EnvSize("CONTAINERD_SHIM_WARM_BOOTS", 2, kMaxTarget);
  if (s.max_boots == 0) s.max_boots = 1;
  const char* root = ::getenv("CONTAINERD_SHIM_WARM_DIR");
  s.root = root != nullptr && root[0] == '/' ? root : DefaultRoot();
  while (s.root.size() > 1 && s.root.back() == '/') s.root.pop_back();
  const char* log = ::getenv("CONTAINERD_SHIM_WARM_LOG");
  if (log != nullptr && log[0] == '/') s.log = log;
  return s;
}

std::string PreparePool(const Settings& settings, const Config& config,
                        const struct stat& node, const struct stat& entry,
                        const std::vector<std::string>& environ_list, std::string* why) {
  Hash h;
  char version[16];
  std::snprintf(version, sizeof(version), "warm-v%u", static_cast<unsigned>(warm::kVersion));
  h.Add(version);
  h.AddStat(config.self);
  h.AddStat(node);
  h.AddStat(entry);
  h.Add(config.node);
  h.Add(config.entry);
  h.Add(config.text);
  AddCredentials(&h);
  AddNamespaces(&h);
  std::vector<std::string> boot;
  for (const auto& e : environ_list)
    if (BootRelevant(e)) boot.push_back(e);
  std::sort(boot.begin(), boot.end());
  for (const auto& e : boot) h.Add(e);

  std::string pool = settings.root + "/" + h.Hex();
  if (pool.size() + 1 + kSocketNameLength > kSocketPathLimit) {
    *why = "pool directory " + pool + " is too long for a unix socket path";
    return "";
  }
  if (!PrivateDir(settings.root, why) || !PrivateDir(pool, why)) return "";
  return pool;
}

void Trace(const Settings& settings, const std::string& line) {
  if (settings.log.empty()) return;
  int fd = ::open(settings.log.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return;
  timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  char head[64];
  std::snprintf(head, sizeof(head), "%lld.%03ld pid=%d ", static_cast<long long>(ts.tv_sec),
                ts.tv_nsec / 1000000, static_cast<int>(::getpid()));
  std::string text = head + line + "\n";
  warm::WriteAll(fd, text.data(), text.size());
  ::close(fd);
}

}  // namespace launcher

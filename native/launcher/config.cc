// Reading the packaged configuration (see config.h).
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstring>

namespace launcher {

namespace {

constexpr char kMagic[8] = {'C', 'S', 'H', 'I', 'M', 'L', 'N', '1'};
constexpr uint32_t kMaxText = 1u << 20;

bool PreadAll(int fd, void* buf, size_t len, off_t offset) {
  char* p = static_cast<char*>(buf);
  while (len > 0) {
    ssize_t n = ::pread(fd, p, len, offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    len -= static_cast<size_t>(n);
    offset += n;
  }
  return true;
}

// A path relative to the binary's directory, made absolute and clean (it shows in ps).
std::string Resolve(const std::string& path, const std::string& dir) {
  if (path.empty() || path[0] == '/') return path;
  std::string joined = dir + "/" + path;
  char real[PATH_MAX];
  return ::realpath(joined.c_str(), real) != nullptr ? std::string(real) : joined;
}

}  // namespace

bool LoadConfig(Config* config, std::string* error) {
  int fd = ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = std::string("cannot open /proc/self/exe: ") + std::strerror(errno);
    return false;
  }
  bool ok = false;
  char tail[12];
  uint32_t length = 0;
  if (::fstat(fd, &config->self) != 0) {
    *error = std::string("fstat: ") + std::strerror(errno);
  } else if (config->self.st_size < static_cast<off_t>(sizeof(tail)) ||
             !PreadAll(fd, tail, sizeof(tail), config->self.st_size - sizeof(tail)) ||
             std::memcmp(tail + 4, kMagic, sizeof(kMagic)) != 0) {
    *error = "this launcher carries no shim configuration: write a shim binary with "
             "`containerd-shim package <entry.js> -o <binary>`";
  } else {
    std::memcpy(&length, tail, 4);
    if (length > kMaxText || static_cast<off_t>(length + sizeof(tail)) > config->self.st_size) {
      *error = "corrupt shim configuration trailer";
    } else {
      config->text.resize(length);
      ok = length == 0 ||
           PreadAll(fd, &config->text[0], length, config->self.st_size - sizeof(tail) - length);
      if (!ok) *error = "cannot read the shim configuration trailer";
    }
  }
  ::close(fd);
  if (!ok) return false;

  char real[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", real, sizeof(real) - 1);
  std::string self = n > 0 ? std::string(real, static_cast<size_t>(n)) : "";
  size_t slash = self.rfind('/');
  config->dir = slash == std::string::npos ? "." : self.substr(0, slash == 0 ? 1 : slash);

  size_t pos = 0;
  while (pos < config->text.size()) {
    size_t end = config->text.find('\n', pos);
    if (end == std::string::npos) end = config->text.size();
    std::string line = config->text.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty()) continue;
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string key = line.substr(0, eq);
    std::string value = line.substr(eq + 1);
    if (key == "node") config->node = value;
    else if (key == "entry") config->entry = value;
    else if (key == "arg") config->args.push_back(value);
    else if (key == "env") config->env.push_back(value);
    else if (key == "name") config->name = value;
    else if (key == "warm") config->warm = value != "0";
  }
  if (config->node.empty() || config->entry.empty()) {
    *error = "the shim configuration names no node or no entry script";
    return false;
  }
  config->node = Resolve(config->node, config->dir);
  config->entry = Resolve(config->entry, config->dir);
  return true;
}

}  // namespace launcher

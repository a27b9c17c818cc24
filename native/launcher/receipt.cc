// Reads a delete receipt exactly as lib/shim/delete-receipt.ts does: one line
//   containerd-shim-delete-receipt/1 <id> <pid> <exit status>\n
// in a regular file (not followed through a symlink) owned by our euid and writable by nobody
// else. The answer is the DeleteResponse run() prints for it (lib/shim/delete-response.ts):
//   { uint32 pid = 1; uint32 exit_status = 2; Timestamp exited_at = 3 { int64 seconds = 1;
//     int32 nanos = 2; } }, proto3 (zero fields not written).
#include "receipt.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

#include "../warm/protocol.h"

namespace launcher {

namespace {

constexpr const char kFile[] = "delete-receipt";
constexpr const char kMagic[] = "containerd-shim-delete-receipt/1 ";
constexpr size_t kMaxBytes = 512;

// A decimal of 1-10 digits that fits in uint32, ending at `end` (space or newline).
bool ParseU32(const char** at, char end, uint32_t* out) {
  const char* p = *at;
  uint64_t v = 0;
  int digits = 0;
  for (; *p >= '0' && *p <= '9'; p++) {
    if (++digits > 10) return false;
    v = v * 10 + static_cast<uint64_t>(*p - '0');
  }
  if (digits == 0 || v > 0xffffffffu || *p != end) return false;
  *out = static_cast<uint32_t>(v);
  *at = p + 1;
  return true;
}

void Varint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void Field(std::string* out, int tag, uint64_t v) {
  if (v == 0) return;
  out->push_back(static_cast<char>(tag));
  Varint(out, v);
}

std::string PathIn(const std::string& bundle) {
  return bundle.empty() ? kFile : bundle + "/" + kFile;
}

bool Read(const std::string& bundle, std::string* text) {
  std::string path = PathIn(bundle);
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st;
  bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == ::geteuid() &&
            (st.st_mode & 022) == 0 && st.st_size <= static_cast<off_t>(kMaxBytes);
  char buf[kMaxBytes + 1];
  ssize_t n = 0;
  if (ok) {
    do n = ::pread(fd, buf, sizeof(buf), 0);
    while (n < 0 && errno == EINTR);
    ok = n > 0 && static_cast<size_t>(n) <= kMaxBytes;
  }
  ::close(fd);
  if (ok) text->assign(buf, static_cast<size_t>(n));
  return ok;
}

}  // namespace

bool AnswerFromReceipt(const std::string& bundle, const std::string& id, bool* written) {
  if (id.empty() || id.size() > 255) return false;
  std::string text;
  if (!Read(bundle, &text)) return false;
  size_t magic = sizeof(kMagic) - 1;
  if (text.compare(0, magic, kMagic) != 0) return false;
  if (text.compare(magic, id.size(), id) != 0 || text.size() <= magic + id.size() ||
      text[magic + id.size()] != ' ')
    return false;
  for (char c : id)  // printable ASCII but space and '/', as the writer allows
    if (c < 0x21 || c > 0x7e || c == '/') return false;
  const char* at = text.c_str() + magic + id.size() + 1;
  uint32_t pid = 0, status = 0;
  if (!ParseU32(&at, ' ', &pid) || !ParseU32(&at, '\n', &status)) return false;
  if (static_cast<size_t>(at - text.c_str()) != text.size()) return false;

  // Used once: a bundle containerd could not remove must not answer for a later task's delete.
  ::unlink(PathIn(bundle).c_str());
  timespec now;
  ::clock_gettime(CLOCK_REALTIME, &now);
  std::string ts, out;
  Field(&ts, 0x08, static_cast<uint64_t>(now.tv_sec));
  // Milliseconds, as run()'s answer (a JS Date) has them.
  Field(&ts, 0x10, static_cast<uint64_t>(now.tv_nsec / 1000000 * 1000000));
  Field(&out, 0x08, pid);
  Field(&out, 0x10, status);
  out.push_back(0x1a);
  Varint(&out, ts.size());
  out += ts;
  *written = warm::WriteAll(1, out.data(), out.size());
  return true;
}

}  // namespace launcher

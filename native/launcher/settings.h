// The launcher's side of warm start: its settings (containerd's environment), the pool
// directory of this build, and the trace.
#pragma once
#include <sys/stat.h>

#include <cstddef>
#include <string>
#include <vector>

#include "config.h"

namespace launcher {

struct Settings {
  bool enabled = true;   // CONTAINERD_SHIM_WARM (0, false, off, no: cold only)
  size_t target = 3;     // CONTAINERD_SHIM_WARM_POOL: standbys kept ready
  size_t max_boots = 2;  // CONTAINERD_SHIM_WARM_BOOTS: standbys booting at once
  std::string root;      // CONTAINERD_SHIM_WARM_DIR
  std::string log;       // CONTAINERD_SHIM_WARM_LOG
};

Settings ReadSettings();

// The pool directory of this build: root/<32 hex identity of the launcher, node, entry script,
// trailer, credentials, namespaces and the environment node reads while booting>, created 0700
// if needed. Empty when the root or the pool is not a directory owned by us with no group or
// other access (`why` says).
std::string PreparePool(const Settings& settings, const Config& config,
                        const struct stat& node, const struct stat& entry,
                        const std::vector<std::string>& environ_list, std::string* why);

// Appends one line to the warm-start trace (CONTAINERD_SHIM_WARM_LOG), if set.
void Trace(const Settings& settings, const std::string& line);

}  // namespace launcher

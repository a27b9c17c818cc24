// What `containerd-shim package` appends to a copy of the launcher: which node runs which entry
// script, with which node flags and boot environment. The trailer sits after the ELF image (the
// loader never reads it):
//
//   <config text: "key=value\n" lines> <u32 LE length of the text> "CSHIMLN1"
//
// Keys: node (path), entry (path; relative paths are relative to the binary's directory),
// arg (a node flag; repeated), env (NAME=value for every Node process unless set; repeated),
// name (the runtime's name, for messages), warm (0: never hand work to standbys, as with
// CONTAINERD_SHIM_WARM=0).
#pragma once
#include <sys/stat.h>

#include <string>
#include <vector>

namespace launcher {

struct Config {
  std::string node;
  std::string entry;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::string name;
  bool warm = true;
  std::string text;   // the raw trailer (part of the build identity)
  struct stat self{};  // the binary itself
  std::string dir;    // the binary's directory (symlinks resolved)
};

// Reads the trailer of /proc/self/exe. False with `error` set when there is none or it is bad.
bool LoadConfig(Config* config, std::string* error);

}  // namespace launcher

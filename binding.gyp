{
  "variables": {
    # 1: a generic-POSIX build on Linux: the POSIX layer's portable paths only, no Linux layer
    # (scripts/build-posix.js; native/posix/features.h).
    "generic_posix%": 0
  },
  "targets": [
    {
      "target_name": "containerd_shim",
      "sources": ["native/addon.cc", "native/frame.cc", "native/errors.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-fvisibility=hidden", "-O2"],
      "conditions": [
        ["OS!='win'", {
          "sources": [
            "native/posix/channel.cc",
            "native/posix/fd.cc",
            "native/posix/socket.cc",
            "native/posix/spawn.cc",
            "native/posix/watcher.cc"
          ]
        }],
        ["OS=='linux'", {
          # Never unloaded: when a worker thread that loaded the addon ends, Node unloads
          # addons before libuv runs the close callbacks of the addon's loop handles.
          # Symbols bound at load: a spawn's vfork child (native/posix/spawn.cc) then never runs
          # the lazy-binding resolver in memory it shares with the parent.
          "ldflags": ["-Wl,-z,nodelete", "-Wl,-z,now"]
        }],
        ["OS=='linux' and generic_posix==0", {
          "sources": [
            "native/linux/memory.cc",
            "native/linux/module_watch.cc",
            "native/linux/boot_cache.cc",
            "native/linux/mount.cc",
            "native/linux/pidfd.cc",
            "native/linux/reaper.cc",
            "native/linux/subreaper.cc",
            "native/linux/warm.cc",
            "native/warm/claim.cc",
            "native/warm/pool.cc",
            "native/warm/protocol.cc"
          ]
        }],
        ["OS=='linux' and generic_posix==1", {
          # glibc has no getpeereid(); libbsd provides it, as a BSD libc does.
          "defines": ["SHIM_GENERIC_POSIX", "SHIM_GETPEEREID_LIBBSD"],
          "libraries": ["-lbsd"]
        }],
        ["OS=='mac'", {
          "xcode_settings": {
            "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
            "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
            "GCC_SYMBOLS_PRIVATE_EXTERN": "YES",
            "MACOSX_DEPLOYMENT_TARGET": "10.15"
          }
        }],
        ["OS=='win'", {
          "sources": [
            "native/win/iocp.cc",
            "native/win/pipe_channel.cc",
            "native/win/pipe_connect.cc",
            "native/win/pipe_listener.cc",
            "native/win/process_win.cc",
            "native/win/win_errors.cc"
          ],
          "libraries": ["-ladvapi32"],
          "msvs_settings": { "VCCLCompilerTool": { "ExceptionHandling": 1 } }
        }]
      ]
    }
  ],
  "conditions": [
    ["OS=='linux' and generic_posix==0", {
      "targets": [
        {
          # The shim launcher (native/launcher): a small executable, no V8, no libstdc++.so.
          # Linux-only (warm start is), so not part of a generic-POSIX build.
          "target_name": "containerd-shim-launcher",
          "type": "executable",
          "sources": [
            "native/launcher/main.cc",
            "native/launcher/config.cc",
            "native/launcher/receipt.cc",
            "native/launcher/settings.cc",
            "native/warm/claim.cc",
            "native/warm/pool.cc",
            "native/warm/protocol.cc"
          ],
          "cflags_cc!": ["-std=gnu++17"],
          "cflags_cc": ["-std=c++17", "-O2", "-fno-exceptions", "-fno-rtti", "-ffunction-sections", "-fdata-sections"],
          "ldflags": ["-static", "-Wl,--gc-sections"]
        }
      ]
    }]
  ]
}

{
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
        ["OS=='linux'", {
          # Never unloaded: when a worker thread that loaded the addon ends, Node unloads
          # addons before libuv runs the close callbacks of the addon's loop handles.
          "ldflags": ["-Wl,-z,nodelete"],
          "sources": [
            "native/posix/channel.cc",
            "native/posix/socket.cc",
            "native/posix/watcher.cc",
            "native/linux/process.cc",
            "native/linux/reaper.cc",
            "native/linux/mount.cc"
          ]
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
  ]
}

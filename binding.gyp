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
          "sources": [
            "native/posix/channel.cc",
            "native/posix/socket.cc",
            "native/posix/watcher.cc",
            "native/linux/process.cc",
            "native/linux/reaper.cc",
            "native/linux/mount.cc",
            "native/linux/warm.cc",
            "native/warm/claim.cc",
            "native/warm/pool.cc",
            "native/warm/protocol.cc"
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
  ],
  "conditions": [
    ["OS=='linux'", {
      "targets": [
        {
          # The shim launcher (native/launcher): a small executable, no V8, no libstdc++.so.
          "target_name": "containerd-shim-launcher",
          "type": "executable",
          "sources": [
            "native/launcher/main.cc",
            "native/launcher/config.cc",
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

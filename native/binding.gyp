{
  "targets": [
    {
      "target_name": "shim_native",
      "sources": ["src/addon.cc", "src/process.cc", "src/fd.cc", "src/sys.cc", "src/poll.cc", "src/handoff.cc", "src/splice.cc", "src/last-words.cc", "src/reexec.cc", "src/zygote.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "_GNU_SOURCE"],
      "cflags_cc": ["-Wall", "-Wextra", "-std=c++17"]
    },
    {
      "target_name": "tsshim-launcher",
      "type": "executable",
      "sources": ["launcher/launcher.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"],
      "ldflags": ["-static-libgcc"]
    }
  ]
}

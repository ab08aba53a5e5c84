{
  "targets": [
    {
      # The addon: thin syscall wrappers, node-addon-api without C++ exceptions.
      "target_name": "berth",
      "sources": ["addon/addon.cc", "addon/process.cc", "addon/watch.cc", "addon/fds.cc", "addon/eventfd.cc", "addon/bpf.cc", "addon/unix.cc", "addon/tty.cc", "addon/mount.cc", "addon/ns.cc"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags_cc": ["-std=gnu++17", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fno-exceptions"],
      # Resolve every symbol at load: the clone3 child must never enter the lazy PLT resolver.
      "ldflags": ["-Wl,-z,now"]
    },
    {
      # The init helper: plain C, single-threaded, linked statically so it needs nothing from
      # the host filesystem once it runs (it is executed from a sealed memfd copy).
      "target_name": "berth-init",
      "type": "executable",
      "sources": [
        "init/init.c", "init/plan.c", "init/ops.c", "init/resolve.c",
        "init/mounts.c", "init/creds.c", "init/exec.c",
        "init/chan.c", "init/terminal.c", "init/hooks.c", "init/mountapi.c", "init/copyup.c",
        "init/seccomp.c", "init/process.c", "init/ns.c"
      ],
      "defines": ["_GNU_SOURCE"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-O2"],
      "ldflags": ["-static"],
      # Debian's libseccomp-dev: with -static the linker takes libseccomp.a.
      "libraries": ["-lseccomp"]
    },
    {
      # The log copier of managed containers (src/manager/logs.ts): one small process per
      # container for as long as its output is open, so plain C and static, not a node.
      "target_name": "berth-logs",
      "type": "executable",
      "sources": ["logs/berth-logs.c"],
      "defines": ["_GNU_SOURCE"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-O2"],
      "ldflags": ["-static"]
    }
  ]
}

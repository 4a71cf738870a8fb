#!/usr/bin/env bash
# One-shot demo for a fresh Debian 12 machine (as root): installs what is needed, builds, starts a
# private containerd under a temp dir and runs a container through our shim, which says hello.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v containerd >/dev/null || ! command -v runc >/dev/null || ! [ -x /bin/busybox ]; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y containerd runc busybox-static
fi
[ -d node_modules ] && [ -f native/build/Release/shim_native.node ] || npm ci
npm run build >/dev/null
node scripts/demo.mjs

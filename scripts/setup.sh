#!/usr/bin/env bash
# Installs everything berth needs on a Debian bookworm host (as root), idempotently:
# apt packages, npm dependencies, the native addon and init helper, and the compiled library.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_pkgs=(build-essential python3 pkg-config busybox-static runc crun iproute2 nftables psmisc libseccomp-dev containerd podman)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# CRIU for checkpoint/restore (built from trixie's source: bookworm's fails on this kernel).
bash scripts/setup-criu.sh

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

npm run --silent build

# `berth` on PATH for the README's commands (a dev checkout's build, not an npm install).
chmod +x dist/cli.js
ln -sf "$PWD/dist/cli.js" /usr/local/bin/berth

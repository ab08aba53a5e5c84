#!/usr/bin/env bash
# Installs everything berth needs (scripts/setup.sh), then runs every test tier:
# unit, integration and end-to-end (real containers on this kernel, as root).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run --silent typecheck
npm test

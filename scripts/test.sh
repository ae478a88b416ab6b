#!/usr/bin/env bash
# Set up everything the test suite needs on a fresh Debian machine, then run the whole suite.
# Usage: scripts/test.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: chromium for the browser tests of the review console; postgresql (the server
# binaries: the tests start their own throwaway servers on 127.0.0.1, as the 'postgres' user under
# root); nodejs/npm for Azurite when they are missing.
SUDO=""
[ "$(id -u)" = "0" ] || SUDO="sudo"
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v npm >/dev/null 2>&1 || need+=(nodejs npm)
if [ "${#need[@]}" -gt 0 ]; then
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# Azurite, the Azure Storage emulator (npm), for the Azure Blob audit sink tests. Pinned: 3.36 and
# later need Node.js 22, and Debian 12's is 20.
if ! command -v azurite-blob >/dev/null 2>&1 && [ ! -x node_modules/.bin/azurite-blob ]; then
  npm install --no-save --no-audit --no-fund --silent azurite@3.35.0 >/dev/null
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'

.venv/bin/ruff check gatekeeper tests bench policies
.venv/bin/mypy
exec .venv/bin/python -m pytest -n 2 -q "$@"

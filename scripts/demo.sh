#!/usr/bin/env bash
# Set up gatekeeper on a fresh machine and run the demo on embedded defaults
# (in-process moto, local stand-ins for Azure and Google Cloud, SQLite, a local audit log).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[demo]'
exec .venv/bin/gatekeeper demo "$@"

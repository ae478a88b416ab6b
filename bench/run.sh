#!/bin/sh
# Run the benchmarks from a fresh clone: python -m bench with the project's virtualenv if there is one.
# Arguments are passed on (--quick, --only engine,audit, --out FILE, --markdown FILE).
set -eu
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
exec "$PY" -m bench "$@"

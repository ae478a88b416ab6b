#!/bin/sh
# Build the gcp hook's deploy bundle (docs/hooks.md, "Deploy bundles"); the work is in deploy/build.py,
# shared by the three clouds. Run with the Python 3.11 of a development environment (PYTHON, default python3).
#
#   deploy/gcp/build.sh [OUT.zip] [PACK_PATH ...] [--arch arm64|x86_64]
set -eu
exec "${PYTHON:-python3}" "$(dirname "$0")/../build.py" gcp "$@"

#!/bin/sh
# Build the Lambda package that deploy/aws/template.yaml runs (docs/hooks.md, "Deploying on AWS"):
# gatekeeper and its dependencies for the function's runtime (Python 3.11, arm64, with their .pyc
# files), and the policy bundle: the packs validated now, by this checkout's gatekeeper and its
# pydantic models, so that the function's cold start needs neither (gatekeeper/policy/bundle.py),
# and the methods of gatekeeper's dataclasses compiled for this Python (gatekeeper/_dataclass_code.py).
#
#   deploy/aws/build.sh [OUT.zip] [PACK_PATH ...]
#
# PACK_PATH: your own pack files or folders, bundled beside the shipped packs (copy them into the
# package too, and name them in the configuration's `policies`). Run it with the Python 3.11 of a
# development environment (PYTHON, default python3): it writes the .pyc files for that version, and
# the bundle is checked against the package's own pack format when the function starts (a bundle
# built from another version is rejected, and the function validates the packs itself).
set -eu
PYTHON=${PYTHON:-python3}
out=$(realpath -m "${1:-gatekeeper-hook.zip}")
[ $# -gt 0 ] && shift
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT

"$PYTHON" -m pip install --quiet "$root" -t "$build" \
    --platform manylinux2014_aarch64 --implementation cp --python-version 3.11 --only-binary=:all:
PYTHONPATH="$root" "$PYTHON" -m gatekeeper.policy.bundle --out "$build/gatekeeper/policy/bundle.json" \
    "$build/gatekeeper/_shipped_policies" "$@"
rm -f "$out"
(cd "$build" && zip -qr "$out" .)
echo "$out"

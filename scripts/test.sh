#!/usr/bin/env bash
# Install the test dependencies and run the whole test suite (this is what CI runs).
# As root it also installs the Debian packages the cluster tests need (sshd, sshfs, vde2, ...)
# and the codec programs the compression tests run (zstd, xz, cjxl, ...);
# the cluster tests then simulate nodes in network namespaces on this machine.
# Extra arguments go to pytest, e.g. scripts/test.sh tests/unit -x
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -eq 0 ]; then
  bash .ci/setup-cluster-deps.sh
  bash .ci/setup-codec-deps.sh
  bash .ci/setup-analysis-deps.sh
fi

VENV=${ENB_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e ".[test,ray]"
exec "$VENV/bin/python" -m pytest "$@"

#!/usr/bin/env bash
# Run the executor suite and ray's unit tests on the lowest ray that pyproject.toml accepts
# (enb[ray]'s lower bound), in a venv of its own: CI's main run has the newest ray of the
# range. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${ENB_LOWEST_RAY_VENV:-.venv-lowest-ray}
LOWEST=$(python3 -c '
import re, tomllib
extra = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["ray"]
bound = re.search(r">=\s*([0-9.]+)", extra[0]).group(1)
print(bound + ".0" * (2 - bound.count(".")))')
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e ".[test]" "ray==$LOWEST"
echo "lowest-ray: ray $("$VENV/bin/python" -c 'import ray; print(ray.__version__)')"
exec "$VENV/bin/python" -m pytest tests/executors tests/unit/test_ray_start_command.py \
  tests/unit/test_ray_startup_patches.py tests/unit/test_ray_node_agent.py "$@"

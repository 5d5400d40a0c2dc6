#!/usr/bin/env bash
# Set up everything blender-coco needs on a fresh machine, idempotently:
#   - .venv/ with blender-coco installed editable, plus Blender as a Python module
#     (bpy 5.0, Python 3.11) and the test tools;
#   - Debian's `blender` binary (3.4) for the `blender -b` path, and Debian's
#     `chromium` for the HTML gallery tests, when apt-get is available and we are
#     root (CI); otherwise say how to get them.
# Usage: bash scripts/bootstrap.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for cand in python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PY="$cand"; break
    fi
  done
fi
if [ -z "$PY" ]; then
  echo "bootstrap: Python 3.11 not found (the bpy module needs exactly 3.11); install it or set PYTHON=/path/to/python3.11" >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv with $PY"
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[bpy,test,plot]'

if ! command -v blender >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "bootstrap: installing Debian's blender for the 'blender -b' path"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq blender >/dev/null
  else
    echo "bootstrap: no 'blender' binary; the blender -b tests will be skipped (apt-get install blender, or put Blender on PATH)" >&2
  fi
fi
if ! command -v chromium >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "bootstrap: installing Debian's chromium for the HTML gallery tests (headless screenshots)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "bootstrap: no 'chromium'; the HTML gallery browser tests will be skipped (apt-get install chromium)" >&2
  fi
fi
echo "bootstrap: ready ($(.venv/bin/python -c 'import bpy; print("bpy", bpy.app.version_string)'))"

#!/usr/bin/env bash
# Set up everything blender-coco needs on a fresh machine, idempotently:
#   - .venv/ with blender-coco installed editable, plus Blender as a Python module
#     (bpy 5.0, Python 3.11), Ray (render --ray) and the test tools (pytest, datumaro);
#   - Debian's `blender` binary (3.4) for the `blender -b` path, Debian's
#     `chromium` for the HTML gallery tests, and `xvfb` + `xdotool` for the add-on
#     panel's screenshot test, when apt-get is available and we are root (CI);
#     otherwise say how to get them.
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
.venv/bin/python -m pip install -q -e '.[bpy,test,plot,ray,interop]'

# Debian packages for the tests of the real binaries; skipped (with a note) where we cannot install.
apt_install() {  # apt_install COMMAND PACKAGE WHAT
  command -v "$1" >/dev/null 2>&1 && return 0
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "bootstrap: installing Debian's $2 for $3"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
  else
    echo "bootstrap: no '$1'; $3 will be skipped (apt-get install $2)" >&2
  fi
}
apt_install blender blender "the 'blender -b' tests"
apt_install chromium chromium "the HTML gallery browser tests"
apt_install Xvfb xvfb "the add-on panel screenshot test"
apt_install xdotool xdotool "the add-on panel screenshot test"
echo "bootstrap: ready ($(.venv/bin/python -c 'import bpy; print("bpy", bpy.app.version_string)'))"

"""Shared test fixtures: repository paths, the third-party assets, Blender in subprocesses.

``bpy`` state is global, so each Blender run happens in its own process: the bpy
module through ``sys.executable`` (the venv's Python 3.11), or Debian's Blender 3.4
binary. A missing binary or missing ../shared/assets skips its tests, except under CI
(``$CI`` set), where it fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared_assets import ASSETS, REPO, require

BLENDER = os.environ.get("BLENDER", "/usr/bin/blender")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "scenes"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.pop("BLENDER_COCO_PYTHON", None)
    return env


def _run(cmd: list[str], what: str, ok: bool | None = True, timeout: float = 300,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=REPO, env=env or _env(),
                          timeout=timeout)
    if ok is True and proc.returncode != 0:
        pytest.fail(f"{what} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    if ok is False and proc.returncode == 0:
        pytest.fail(f"{what} should have failed but exited 0:\n{proc.stderr[-2000:]}")
    return proc


@pytest.fixture(scope="session")
def run():
    """``run(cmd, what, ok=True, env=None)``: run a command from the repository root; ``ok`` True/False
    asserts success/failure (None: no check). Scenes in scenes/ import by module name (``env``:
    the whole environment instead)."""
    return _run


@pytest.fixture(scope="session")
def run_bpy():
    """``run_bpy(code, *args, ok=True)``: run Python code in a fresh bpy-module process."""
    def run_code(code: str, *args, ok: bool | None = True, what: str = "bpy script") -> subprocess.CompletedProcess:
        return _run([sys.executable, "-c", code, *args], what, ok)
    return run_code


@pytest.fixture(scope="session")
def blender_binary() -> str:
    """Path of the stock Blender binary; skip without it (fail under CI, which must run it)."""
    if not (os.path.isfile(BLENDER) and os.access(BLENDER, os.X_OK)):
        msg = f"no Blender binary at {BLENDER} (apt-get install blender, or set $BLENDER)"
        if os.environ.get("CI"):
            pytest.fail(msg + "; CI must run the blender -b tests")
        pytest.skip(msg)
    return BLENDER


@pytest.fixture(scope="session")
def assets() -> Path:
    """The third-party test assets (../shared/assets); skip when absent (fail under CI)."""
    return require(ASSETS)

"""Where a run's randomization config comes from: a TOML or JSON file.

- :func:`load`: read and validate a ``.toml`` (or ``.json``) config file.
- :data:`SCENE_PROP`: the scene custom property holding a scene's own config;
  :data:`OFF`: the ``RenderConfig.randomize`` value that turns randomization off.

A TOML file is read with the standard library's ``tomllib`` (Python 3.11+). A Python
without it (some Blender 3.x builds run 3.10) asks the export Python instead
(``python -m blender_coco.randomize FILE``, the Python that already runs the export
stage; see :mod:`blender_coco.randomize.__main__`) to turn the TOML into validated
JSON: the same choice as the export's (:mod:`blender_coco.blender.handoff`), so
inside a Blender binary no package from some other environment (a virtualenv's
``tomli``) is imported. Only without that Python is ``tomli`` tried. ``.json``
configs load anywhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from blender_coco.child_python import child_env
from blender_coco.errors import UserError
from blender_coco.files import read_json
from blender_coco.randomize.sections import RandomizeConfig, from_dict

#: Scene custom property holding a scene's own randomization (JSON text of a config).
SCENE_PROP = "coco_randomize"
#: ``RenderConfig.randomize`` value that turns randomization off (even a scene's own).
OFF = "off"


def _toml_module(python: str | None):
    """``tomllib``; else, with no export Python to ask, ``tomli`` if it imports; else None."""
    try:
        import tomllib  # Python 3.11+
        return tomllib
    except ImportError:
        pass
    if python is not None:
        return None
    try:
        import tomli  # type: ignore[import-not-found]
    except ImportError:
        return None
    return tomli


def _read_toml(path: Path, python: str | None) -> Any:
    tomllib = _toml_module(python)
    if tomllib is not None:
        try:
            with open(path, "rb") as fh:
                return tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise UserError(f"randomize config {path} is not valid TOML ({exc}); fix the file") from None
        except UnicodeDecodeError:
            raise UserError(f"randomize config {path} is not UTF-8 text; save it as UTF-8") from None
    if python is None:
        raise UserError(f"this Python ({sys.version.split()[0]}) cannot read the TOML file {path}; set {{python}} to "
                        "the Python of an environment with blender-coco installed, or use a .json config",
                        field="python")
    cmd = [python, "-m", "blender_coco.randomize", str(path)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env=child_env(), timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UserError(f"cannot run {python} to read {path} ({exc}); set {{python}} to a working Python or use a .json config",
                        field="python") from None
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
        msg = lines[-1] if lines else f"exit {done.returncode}"
        raise UserError(msg.replace("blender-coco: error: ", "", 1))
    return json.loads(done.stdout)


def load(path: str | os.PathLike, *, python: str | None = None) -> RandomizeConfig:
    """Read and validate a TOML (or ``.json``) randomization config.

    Relative folders (``world.images``, ``materials[].textures``) start at the file's
    folder. Without ``tomllib`` (Python 3.10) the TOML is read by ``python``.
    """
    p = Path(path)
    if not p.is_file():
        raise UserError(f"randomize config {p} does not exist; pass the path of a TOML (or JSON) file")
    if p.suffix.lower() == ".json":
        data = read_json(p, "randomize config")
    else:
        data = _read_toml(p, python)
    return from_dict(data, source=str(p), base_dir=p.resolve().parent)


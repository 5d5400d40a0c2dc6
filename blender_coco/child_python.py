"""Environment for a child Python process that must run this same blender-coco.

The render stage starts other Pythons (the export stage under a stock Blender, the
TOML reader for Blender 3.4's Python); :func:`child_env` gives them the package in
use first on ``PYTHONPATH`` and drops a ``PYTHONHOME`` that Blender may point at its
own Python.
"""

from __future__ import annotations

import os
from pathlib import Path

import blender_coco

#: The folder holding the blender_coco package in use.
PACKAGE_ROOT = str(Path(blender_coco.__file__).resolve().parents[1])


def child_env() -> dict[str, str]:
    """``os.environ`` for a child Python that imports this blender_coco package."""
    env = dict(os.environ)
    env.pop("PYTHONHOME", None)
    parts = [PACKAGE_ROOT] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(parts)
    return env

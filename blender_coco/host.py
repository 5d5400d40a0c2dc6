"""Which program hosts this Python: a Blender binary, Blender as a module, or a plain Python.

::

    in_blender_binary() -> bool

Inside a Blender binary (``blender -b ...``, the add-on in Blender's UI) compiled
libraries must not be loaded casually: a Blender whose Python sees a virtualenv
(Debian's Blender puts an activated venv's site-packages on ``sys.path``) would load
that venv's numpy and OpenEXR wheels next to the OpenEXR Blender links, and crashes
on the first EXR read. :mod:`blender_coco.blender.handoff` therefore hands the export
to another Python there, and :mod:`blender_coco.records.passes` never imports
OpenEXR there.

The answer comes from ``sys.modules`` alone (this module never imports ``bpy``):

* no ``bpy`` imported: a plain Python (a Blender binary imports ``bpy`` at startup);
* ``bpy.app.module`` is True (Blender 4.3+ modules), or ``bpy`` was loaded from a
  compiled extension file (``bpy/__init__.so``/``.pyd``: every ``pip install bpy``):
  Blender as a Python module;
* else ``bpy.app.binary_path`` names the running executable: a Blender binary
  (it is ``""`` in the module). Checked on Debian's Blender 3.4 and bpy 4.2/5.0.
"""

from __future__ import annotations

import importlib.machinery
import sys


def _loaded_as_extension_module(module) -> bool:
    spec = getattr(module, "__spec__", None)
    origin = getattr(spec, "origin", None) or ""
    return origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


def in_blender_binary() -> bool:
    """True when this Python runs inside a Blender executable (not the ``bpy`` module)."""
    bpy = sys.modules.get("bpy")
    app = getattr(bpy, "app", None)
    if app is None:
        return False
    if getattr(app, "module", False) is True or _loaded_as_extension_module(bpy):
        return False
    return bool(getattr(app, "binary_path", ""))

"""Run a scene builder as a script: build into an empty file and save a .blend.

Scene builders (``build(scene)``) work on every Blender from 3.4 to 5.0, while a
.blend saved by 5.0 does not open in 3.x; so scenes ship as builders and each
Blender saves its own file:

    blender -b --python-exit-code 1 -P scenes/demo.py -- --save demo.blend
    python scenes/demo.py --save demo.blend          # the bpy module
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import bpy

from blender_coco.blender.session import script_argv
from blender_coco.errors import UserError


def main(build, argv: list[str] | None = None, description: str = "Build a scene and save it as a .blend.") -> int:
    """Parse ``--save PATH``, build into an empty file, save; returns an exit code."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--save", required=True, metavar="PATH", help="where to write the .blend")
    args = p.parse_args(script_argv(sys.argv if argv is None else argv))
    target = Path(args.save).resolve()
    try:
        if not target.parent.is_dir():
            raise UserError(f"folder {target.parent} does not exist; create it or choose another --save path")
        bpy.ops.wm.read_factory_settings(use_empty=True)
        build(bpy.context.scene)
        bpy.ops.wm.save_as_mainfile(filepath=str(target))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except RuntimeError as exc:
        print(f"error: cannot save {target}: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    return 0

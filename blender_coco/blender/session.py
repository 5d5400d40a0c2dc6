"""What the two command-line front ends share inside Blender: arguments and the scene.

``blender-coco render`` (the ``bpy`` module) and ``scripts/render_coco.py`` (a stock
``blender -b`` or the ``bpy`` module) both call :func:`render`: open the .blend
(or build the demo scene) and run :func:`blender_coco.blender.pipeline.render_dataset`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import bpy

from blender_coco import stop
from blender_coco.blender import demo_scene, pipeline
from blender_coco.coco.export_result import ExportResult
from blender_coco.config import RenderConfig
from blender_coco.errors import UserError
from blender_coco.files import unreadable

log = logging.getLogger(__name__)


def is_bpy_module() -> bool:
    """True in Blender as a Python module, False inside a Blender binary."""
    return not bpy.app.binary_path


def script_argv(argv: list[str]) -> list[str]:
    """The script's own arguments: those after ``--``; inside a Blender binary without
    ``--`` there are none (the rest belongs to Blender); in the module, ``argv[1:]``."""
    if "--" in argv:
        return argv[argv.index("--") + 1:]
    return list(argv[1:]) if is_bpy_module() else []


def open_blend(path: str):
    """Open a .blend file; returns its active scene. One-line error when it cannot."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"scene file {p} does not exist; pass the path of a .blend file")
    if not os.access(p, os.R_OK):
        raise unreadable(p, "scene file")
    try:
        bpy.ops.wm.open_mainfile(filepath=str(p.resolve()))
    except RuntimeError as exc:
        msg = " ".join(str(exc).split())
        raise UserError(f"cannot open {p} with Blender {bpy.app.version_string}: {msg}; "
                        "pass a .blend saved by this Blender version or an older one") from None
    return bpy.context.scene


def load_scene(config: RenderConfig, *, demo_when_empty: bool):
    """The scene to render: ``config.scene`` opened, else the current scene, else the demo.

    With ``demo_when_empty`` the demo scene is built when no .blend is given and none is
    loaded (``blender-coco render`` without SCENE; ``blender -b`` without a file).
    """
    if config.scene:
        return open_blend(config.scene)
    if demo_when_empty and (is_bpy_module() or not bpy.data.filepath):
        log.info("no scene given: rendering the built-in demo scene")
        return demo_scene.new_scene()
    return bpy.context.scene


def render(config: RenderConfig, *, demo_when_empty: bool = True) -> ExportResult:
    """Load the scene and render the dataset; returns the export's result (files written, counts).

    SIGINT / SIGTERM / SIGHUP stop the run after the frame in flight (:mod:`blender_coco.stop`)."""
    with stop.on_signals():
        scene = load_scene(config, demo_when_empty=demo_when_empty)
        result = pipeline.render_dataset(config, scene)
    if config.stage == "all" and result.files:  # (a shard that ended before the last one: nothing yet)
        log.info("dataset written: %s", result)
    return result

"""Write one frame record from the current Render Result: image, EXR, then the sidecar.

::

    write_record(scene, out_dir, index, fmt, sidecar, view=None)

The image and the EXR are saved from the same Render Result (one render per frame),
each to a temp name and then renamed (the EXR in a codec the export stage's reader
decodes: :func:`~blender_coco.blender.handoff.passes_codec`); the sidecar is written
last, atomically, so a frame is complete exactly when its sidecar exists. Names, the sidecar's shape and
what happens to frames already in the folder: :mod:`blender_coco.records`.
"""

from __future__ import annotations

from pathlib import Path

import bpy

from blender_coco.blender import handoff, image_format
from blender_coco.errors import UserError
from blender_coco.files import atomic_path, write_json_atomic
from blender_coco.records.layout import record_paths
from blender_coco.records.sidecar import Sidecar


def _save_render(scene, target: Path) -> None:
    result = bpy.data.images.get("Render Result")
    if result is None:
        raise RuntimeError("Blender produced no Render Result")
    with atomic_path(target) as tmp:
        try:
            result.save_render(filepath=str(tmp), scene=scene)
        except RuntimeError as exc:
            raise UserError(f"cannot write {target}: {str(exc).strip()}; check the folder's permissions and free space") from None
        if not tmp.exists():
            raise UserError(f"Blender did not write {target}; check the folder's permissions and free space")


def write_record(scene, out_dir: Path, index: int, fmt: str, sidecar: Sidecar, view: str | None = None) -> None:
    """Save the current Render Result as frame ``index`` (seen by view token ``view``): image, EXR, then the sidecar."""
    image_path, exr_path, json_path = record_paths(out_dir, index, fmt, view)
    settings = scene.render.image_settings
    image_format.use_rgb(settings, fmt)
    _save_render(scene, image_path)
    image_format.use_exr_multilayer(settings, handoff.passes_codec())
    _save_render(scene, exr_path)
    write_json_atomic(json_path, sidecar.to_json())

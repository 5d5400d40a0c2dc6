"""Write one frame record from the current Render Result: image, EXR, then the sidecar.

::

    write_record(scene, out_dir, index, fmt, sidecar, view=None)

The image and the EXR are saved from the same Render Result (one render per frame),
each to a temp name and then renamed (the EXR in a codec the export stage's reader
decodes: :func:`~blender_coco.blender.handoff.passes_codec`); the sidecar is written
last, atomically, so a frame is complete exactly when its sidecar exists. Blender does not
report a full disk, so each file is checked (whole, its size on disk) before the rename;
a PNG or JPEG loses Cycles' render-time text (same seed, same bytes:
:mod:`blender_coco.records.image_file`); the sidecar records both sizes (``file_sizes``),
which ``--resume`` checks. Names, the sidecar's shape and
what happens to frames already in the folder: :mod:`blender_coco.records`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import bpy

from blender_coco.blender import handoff, image_format
from blender_coco.errors import UserError
from blender_coco.files import atomic_path, write_json_atomic, write_synced
from blender_coco.records.image_file import exr_problem, strip_jpeg_comments, strip_png_text
from blender_coco.records.layout import record_paths
from blender_coco.records.scan import FILE_SIZES, file_is_complete
from blender_coco.records.sidecar import Sidecar


def _save_render(scene, target: Path) -> int:
    """Save the Render Result to ``target`` (temp name, check, rename); returns the file's size."""
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
        return _checked(tmp, target)


def _checked(tmp: Path, target: Path) -> int:
    """The size of the whole file Blender wrote to ``tmp`` (PNG text, JPEG comments stripped); a UserError
    when it is cut short (a full disk or a file size limit: Blender's save does not say so)."""
    full = (f"cannot write {target}: the file came out incomplete (is the disk full?); free space, then "
            "continue with --resume")
    if not file_is_complete(tmp, target.suffix):
        raise UserError(full)
    suffix = target.suffix.lower()
    if suffix not in (".png", ".jpg", ".exr"):
        return tmp.stat().st_size
    data = tmp.read_bytes()
    if suffix == ".exr":
        if exr_problem(data) is not None:
            raise UserError(full)
        return len(data)
    try:
        stripped = strip_png_text(data) if suffix == ".png" else strip_jpeg_comments(data)
    except ValueError:
        raise UserError(full) from None
    if stripped != data:
        try:
            write_synced(tmp, stripped)
        except OSError as exc:
            raise UserError(f"cannot write {target}: {exc.strerror}; free space, then continue with --resume") from None
    if tmp.stat().st_size != len(stripped):
        raise UserError(full)
    return len(stripped)


def write_record(scene, out_dir: Path, index: int, fmt: str, sidecar: Sidecar, view: str | None = None) -> None:
    """Save the current Render Result as frame ``index`` (seen by view token ``view``): image, EXR, then the sidecar."""
    image_path, exr_path, json_path = record_paths(out_dir, index, fmt, view)
    settings = scene.render.image_settings
    image_format.use_rgb(settings, fmt)
    image_size = _save_render(scene, image_path)
    image_format.use_exr_multilayer(settings, handoff.passes_codec())
    exr_size = _save_render(scene, exr_path)
    sizes = {FILE_SIZES: {"image": image_size, "passes": exr_size}}
    write_json_atomic(json_path, replace(sidecar, extra={**sidecar.extra, **sizes}).to_json())

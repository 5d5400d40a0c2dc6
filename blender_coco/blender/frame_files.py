"""Write one frame record: RGB image, multilayer EXR of the passes, JSON sidecar.

Layout and sidecar fields follow docs/records.md. The image and the EXR are saved
from the same Render Result (one render per frame), each to a temp name and then
renamed; the sidecar is written last, atomically, so a frame is complete exactly
when its sidecar exists.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import bpy

from blender_coco.blender import image_format
from blender_coco.errors import UserError
from blender_coco.io.files import atomic_path, ensure_dir, write_json_atomic

log = logging.getLogger(__name__)

RECORD_FORMAT = "blender-coco-record"
RECORD_VERSION = 1

_FRAME_FILE = re.compile(r"^(\d{6,})\.(json|exr|png|jpg)$")


def image_name(index: int, fmt: str) -> str:
    return f"{index:06d}{image_format.EXTENSIONS[fmt]}"


def record_paths(out_dir: Path, index: int, fmt: str) -> tuple[Path, Path, Path]:
    """(image, EXR, sidecar) paths of frame ``index``."""
    return (out_dir / "images" / image_name(index, fmt),
            out_dir / "records" / f"{index:06d}.exr",
            out_dir / "records" / f"{index:06d}.json")


def prepare_out_dir(out_dir: Path, total: int, fmt: str) -> None:
    """Create images/ and records/, and remove frame files this run would not rewrite.

    Frames ``>= total`` from an earlier, longer run (and images of the other format)
    would otherwise end up in the new dataset. Only files named like frame files
    (``NNNNNN.json|exr|png|jpg``) are touched; sidecars go first so that no
    half-removed frame looks complete.
    """
    keep_ext = image_format.EXTENSIONS[fmt].lstrip(".")
    stale: list[Path] = []
    for sub in ("records", "images"):
        folder = ensure_dir(out_dir / sub)
        for entry in os.scandir(folder):
            m = _FRAME_FILE.match(entry.name)
            if not m:
                continue
            index, ext = int(m.group(1)), m.group(2)
            if index >= total or (sub == "images" and ext != keep_ext):
                stale.append(Path(entry.path))
    if stale:
        stale.sort(key=lambda p: (p.suffix != ".json", str(p)))
        log.warning("removing %d frame file(s) of an earlier run from %s", len(stale), out_dir)
        for p in stale:
            try:
                p.unlink()
            except OSError as exc:
                raise UserError(f"cannot remove stale frame file {p}: {exc.strerror}; delete it or choose another --out") from None


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


def write_record(scene, out_dir: Path, index: int, fmt: str, sidecar: dict) -> None:
    """Save the current Render Result as frame ``index``: image, EXR, then the sidecar."""
    image_path, exr_path, json_path = record_paths(out_dir, index, fmt)
    settings = scene.render.image_settings
    image_format.use_rgb(settings, fmt)
    _save_render(scene, image_path)
    image_format.use_exr_multilayer(settings)
    _save_render(scene, exr_path)
    write_json_atomic(json_path, sidecar)


def camera_entry(camera) -> dict:
    """The sidecar's ``camera``: name, type (PERSP/ORTHO/PANO) and world matrix rows."""
    return {
        "name": camera.name,
        "type": getattr(camera.data, "type", "PERSP"),
        "matrix_world": [[float(v) for v in row] for row in camera.matrix_world],
    }

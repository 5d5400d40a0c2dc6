"""Frame records: the hand-off between the render stage and the exporter.

See docs/records.md for the contract. A frame is complete when its JSON sidecar
exists (written last, atomically); this module reads sidecars and the EXR passes
(object index + depth) next to them. Never imports bpy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from blender_coco.errors import UserError
from blender_coco.files import read_json

RECORD_FORMAT = "blender-coco-record"
RECORD_VERSION = 1
_SIDECAR = re.compile(r"^\d{6,}\.json$")

# Pass channel names differ between Blender versions (see DESIGN.md section 4).
_INDEX_SUFFIXES = (".IndexOB.X", ".Object Index.X")
_DEPTH_SUFFIXES = (".Depth.Z", ".Depth.V")


@dataclass(frozen=True)
class FrameRecord:
    """One rendered frame: its sidecar's content plus where it lives."""

    path: Path
    index: int
    image: str
    passes: str
    width: int
    height: int
    seed: int
    categories: tuple[dict[str, Any], ...]
    instances: tuple[dict[str, Any], ...]
    raw: dict[str, Any]

    @property
    def exr_path(self) -> Path:
        return self.path.parent / self.passes


def records_dir(ds_dir: str | Path) -> Path:
    return Path(ds_dir) / "records"


def list_records(ds_dir: str | Path) -> list[Path]:
    """Sidecar paths of complete frames, sorted by frame index (temp files ignored)."""
    folder = records_dir(ds_dir)
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if _SIDECAR.match(p.name)), key=lambda p: int(p.stem))


def load_record(path: str | Path) -> FrameRecord:
    """Read and check one sidecar; a one-line :class:`UserError` if it is not a valid record."""
    path = Path(path)
    data = read_json(path, "frame record")
    fix = "delete it and re-render that frame (blender-coco render ... --resume)"
    if not isinstance(data, dict) or data.get("format") != RECORD_FORMAT:
        raise UserError(f"{path} is not a blender-coco frame record; {fix}")
    if data.get("version") != RECORD_VERSION:
        raise UserError(f"{path}: record version {data.get('version')!r} is not supported (expected {RECORD_VERSION}); "
                        "export with the blender-coco version that rendered it, or re-render")
    try:
        rec = FrameRecord(
            path=path,
            index=int(data["index"]),
            image=str(data["image"]),
            passes=str(data["passes"]),
            width=int(data["width"]),
            height=int(data["height"]),
            seed=int(data.get("seed", 0)),
            categories=tuple(data.get("categories", ())),
            instances=tuple(data.get("instances", ())),
            raw=data,
        )
        for inst in rec.instances:
            int(inst["pass_index"]), str(inst["category"])
        for cat in rec.categories:
            str(cat["name"])
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{path}: malformed frame record ({type(exc).__name__}: {exc}); {fix}") from None
    return rec


def read_passes(exr_path: str | Path, width: int | None = None, height: int | None = None
                ) -> tuple[np.ndarray, np.ndarray | None]:
    """(ID mask as uint16, depth as float32 or None) from a multilayer EXR, rows top to bottom.

    Reads single-part (Blender 3.4) and multi-part (Blender 5.0) files alike.
    """
    import OpenEXR

    exr_path = Path(exr_path)
    fix = "delete its record and re-render that frame (blender-coco render ... --resume)"
    if not exr_path.is_file():
        raise UserError(f"pass file {exr_path} is missing; {fix}")
    try:
        f = OpenEXR.File(str(exr_path), separate_channels=True)
        channels: dict[str, np.ndarray] = {}
        for part in f.parts:
            for name, ch in part.channels.items():
                channels[name] = ch.pixels
    except Exception as exc:  # OpenEXR raises plain RuntimeError/Exception on corrupt files
        raise UserError(f"pass file {exr_path} cannot be read ({exc}); {fix}") from None
    index = next((v for k, v in channels.items() if k.endswith(_INDEX_SUFFIXES)), None)
    if index is None:
        raise UserError(f"pass file {exr_path} has no object index pass (channels: {', '.join(sorted(channels))}); {fix}")
    depth = next((v for k, v in channels.items() if k.endswith(_DEPTH_SUFFIXES)), None)
    if width is not None and height is not None and index.shape != (height, width):
        raise UserError(f"pass file {exr_path} is {index.shape[1]}x{index.shape[0]}, its record says {width}x{height}; {fix}")
    # Index values are floats holding integers 0..32767; round, don't truncate.
    mask = np.rint(index).astype(np.uint16)
    return mask, None if depth is None else np.asarray(depth, dtype=np.float32)

"""Read a frame record's EXR: the object-index pass as an ID mask, and the depth pass.

::

    read_passes(exr_path, width=None, height=None) -> (mask uint16, depth float32 | None)

Rows run top to bottom. Reads single-part (Blender 3.4) and multi-part (Blender 5.0)
files through ``OpenEXR.File(path, separate_channels=True)`` and its ``parts``; the
index channel is ``*.IndexOB.X`` (3.4, 4.x) or ``*.Object Index.X`` (5.0), depth
``*.Depth.Z`` (or ``*.Depth.V``). numpy and OpenEXR are imported when called, so the
package imports in a Blender Python that has neither.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from blender_coco.errors import UserError

if TYPE_CHECKING:
    import numpy as np

# Pass channel names differ between Blender versions (docs/records.md, EXR passes).
_INDEX_SUFFIXES = (".IndexOB.X", ".Object Index.X")
_DEPTH_SUFFIXES = (".Depth.Z", ".Depth.V")


def read_passes(exr_path: str | Path, width: int | None = None, height: int | None = None
                ) -> tuple[np.ndarray, np.ndarray | None]:
    """(ID mask as uint16, depth as float32 or None) from a multilayer EXR, rows top to bottom.

    ``width``/``height`` (from the sidecar), when given, must match the passes.
    """
    import numpy as np
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

"""Pixel-level comparisons for tests: rendered image folders, masks, the object-index pass.

::

    digest(folder) -> {file name: hash of decoded pixels}
    iou(a, b) -> intersection over union of two boolean masks
    index_pass(exr_path) -> int array of the EXR's object-index pass (a truth independent of our masks)
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image


def digest(folder: Path) -> dict[str, str]:
    """File name -> hash of the decoded pixels (independent of PNG/JPEG metadata and encoder settings)."""
    out = {}
    for p in sorted(folder.iterdir()):
        with Image.open(p) as im:
            out[p.name] = hashlib.sha256(im.tobytes()).hexdigest()
    return out


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks (0 when both are empty)."""
    return float((a & b).sum() / max(1, (a | b).sum()))


def index_pass(path) -> np.ndarray:
    """The object-index pass of a Blender multilayer EXR (Blender 3.4 and 5.0 channel names), as ints."""
    import OpenEXR

    exr = OpenEXR.File(str(path), separate_channels=True)
    for part in exr.parts:
        for name, channel in part.channels.items():
            if name.endswith((".IndexOB.X", ".Object Index.X", "IndexOB.X")):
                return np.rint(channel.pixels).astype(int)
    raise AssertionError(f"no object index pass in {path}")

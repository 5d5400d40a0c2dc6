"""Pixel-level comparison of rendered image folders (for tests that compare two runs)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from PIL import Image


def digest(folder: Path) -> dict[str, str]:
    """File name -> hash of the decoded pixels (independent of PNG/JPEG metadata and encoder settings)."""
    out = {}
    for p in sorted(folder.iterdir()):
        with Image.open(p) as im:
            out[p.name] = hashlib.sha256(im.tobytes()).hexdigest()
    return out

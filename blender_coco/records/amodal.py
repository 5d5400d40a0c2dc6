"""The optional ``amodal`` field of a sidecar instance entry: the object's unoccluded silhouette.

::

    Amodal(counts, outside_area)        counts: COCO compressed RLE string of the frame's size
    Amodal.to_json() / Amodal.from_json(data)
    encode_counts([runs...]) -> str     pycocotools' compressed-RLE string, in pure Python

``counts`` is the silhouette inside the image (pixel centres covered by the
instance's evaluated triangles, as if nothing occluded them), as a COCO compressed
RLE of size (height, width) of the frame: ``{"size": [h, w], "counts": counts}``
decodes with ``pycocotools.mask.decode``. ``outside_area`` is the area (pixels) of
the rest of the projected silhouette, beyond the image border (how it is measured:
:mod:`blender_coco.silhouette`, docs/records.md). The exporter derives
``amodal_segmentation``, ``amodal_bbox``, ``amodal_area``, ``visible_fraction`` and
``truncation`` from these two and the visible mask. Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable


@dataclass(frozen=True)
class Amodal:
    """An instance's unoccluded silhouette in the frame (see the module docstring)."""

    counts: str
    outside_area: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"counts": self.counts, "outside_area": self.outside_area}

    @classmethod
    def from_json(cls, data: Any) -> "Amodal":
        if not isinstance(data, dict):
            raise TypeError(f"amodal must be an object with counts and outside_area, got {data!r}")
        area = float(data.get("outside_area", 0.0))
        if not area >= 0:
            raise ValueError(f"amodal outside_area must be >= 0, got {area!r}")
        return cls(counts=str(data["counts"]), outside_area=area)


def encode_counts(counts: Iterable[int]) -> str:
    """Uncompressed COCO RLE counts -> the compressed string (pycocotools' ``rleToString``)."""
    cnts = [int(c) for c in counts]
    out = []
    for i, x in enumerate(cnts):
        if i > 2:
            x -= cnts[i - 2]
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = (x != -1) if (c & 0x10) else (x != 0)
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)

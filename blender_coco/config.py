"""Configuration as frozen dataclasses, validated on construction.

Every front end (CLI, ``blender -b`` script, add-on operator) builds these same
objects and hands them to the same pipeline function. Messages follow one shape:
"``field`` must be ..., got ...".
"""

from __future__ import annotations

from dataclasses import dataclass

from blender_coco.errors import check

SEGMENTATION_MODES = ("auto", "polygon", "rle")


@dataclass(frozen=True)
class ExportConfig:
    """How instance masks become COCO annotations.

    segmentation: ``auto`` (polygons where they can express the mask, RLE where it
        has holes), ``polygon`` (outer contours only: holes are filled) or ``rle``
        (compressed RLE, exact).
    tolerance: Douglas-Peucker tolerance for polygon simplification, in pixels.
        Up to 0.3 the polygons rasterize back to the exact mask on every mask we
        measured; larger values give fewer vertices and lower IoU (see
        docs/benchmarks.md).
    min_area: instances with fewer visible pixels are dropped.
    iscrowd: mark every annotation as crowd (Detectron2 training and COCOeval
        matching ignore crowd annotations; leave off unless you want that).
    """

    segmentation: str = "auto"
    tolerance: float = 0.3
    min_area: int = 1
    iscrowd: bool = False

    def __post_init__(self) -> None:
        check(self.segmentation in SEGMENTATION_MODES,
              f"segmentation must be one of {', '.join(SEGMENTATION_MODES)}, got {self.segmentation!r}")
        check(isinstance(self.tolerance, (int, float)) and 0 <= self.tolerance <= 10,
              f"tolerance must be a number of pixels in [0, 10], got {self.tolerance!r}")
        check(isinstance(self.min_area, int) and self.min_area >= 1,
              f"min_area must be an integer >= 1 (pixels), got {self.min_area!r}")
        check(isinstance(self.iscrowd, bool), f"iscrowd must be true or false, got {self.iscrowd!r}")

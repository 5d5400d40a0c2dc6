"""The amodal keys of an instance annotation (:mod:`blender_coco.coco.amodal`).

:func:`check_amodal` applies when an annotation has any of ``amodal_segmentation``,
``amodal_bbox``, ``amodal_area``, ``visible_fraction``, ``truncation``; then it must
have all five, and:

* ``amodal_segmentation`` is a valid RLE (or polygons) of the image's size: the amodal
  mask lies inside the image; ``amodal_bbox`` is a box inside the image;
* ``amodal_area`` > 0 is its pixel count (exact for RLE), and ``area`` <= ``amodal_area``;
* the visible mask lies inside the amodal one, edge pixels aside: at most
  :data:`EDGE_TOLERANCE` of the visible pixels (and at least 2) may fall outside it
  (blender-coco's export unites the two, so its files have none; a tool that
  rasterizes the silhouette and samples the visible mask differently may differ
  along edges);
* ``visible_fraction`` in (0, 1] equals ``area / amodal_area`` (within 1e-4 after
  rounding), ``truncation`` in [0, 1).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from blender_coco.coco.amodal import AMODAL_KEYS
from blender_coco.coco.segmentation import decode_mask, segmentation_areas, segmentation_error
from blender_coco.coco.validate.common import Report, check_bbox
from blender_coco.values import is_number, short

#: Share of the visible pixels that may lie outside the amodal mask (edge pixels).
EDGE_TOLERANCE = 0.01


def check_amodal(report: Report, where: str | Callable[[], str], ann: dict, size: tuple[int, int] | None) -> None:
    """Every amodal rule for one annotation (nothing when it has no amodal key). ``size`` is
    None when the image's size is unknown or too large to rasterize (nothing is decoded then)."""
    present = [k for k in AMODAL_KEYS if k in ann]
    if not present:
        return
    if callable(where):
        where = where()
    missing = [k for k in AMODAL_KEYS if k not in ann]
    if missing:
        report.add(where, f"has {', '.join(present)} but not {', '.join(missing)}; amodal annotations carry all five")
    amodal_mask = None
    seg = ann.get("amodal_segmentation")
    if seg is not None:
        err = segmentation_error(seg, *(size or (None, None)))
        if err:
            report.add(where, f"amodal_segmentation: {err}")
        elif size is not None:
            amodal_mask = decode_mask(seg, *size)
    if "amodal_bbox" in ann:
        check_bbox(report, where + " amodal_bbox", ann["amodal_bbox"], size)
    amodal_area = ann.get("amodal_area")
    if "amodal_area" in ann:
        if not is_number(amodal_area) or amodal_area <= 0:
            report.add(where, f"amodal_area must be a number > 0, got {short(amodal_area)}")
            amodal_area = None
        elif amodal_mask is not None and isinstance(seg, dict):
            count = segmentation_areas(seg, *size)[0]
            if count != amodal_area:
                report.add(where, f"amodal_area {amodal_area:g} is not the amodal_segmentation's pixel count {count:g}")
    area = ann.get("area")
    if is_number(area) and amodal_area is not None and area > amodal_area:
        report.add(where, f"area {area:g} > amodal_area {amodal_area:g}: the visible part cannot exceed the whole")
    _check_fractions(report, where, ann, area, amodal_area)
    visible_seg = ann.get("segmentation")
    if (amodal_mask is not None and visible_seg not in (None, [])
            and segmentation_error(visible_seg, *size) is None):
        visible = decode_mask(visible_seg, *size)
        if visible is not None:
            outside = int(np.count_nonzero(visible & ~amodal_mask))
            if outside > max(2, EDGE_TOLERANCE * int(visible.sum())):
                report.add(where, f"{outside} visible pixels lie outside amodal_segmentation (more than edge pixels); "
                                  "the amodal mask must contain the visible one")


def _check_fractions(report: Report, where: str, ann: dict, area: Any, amodal_area: Any) -> None:
    fraction = ann.get("visible_fraction")
    if "visible_fraction" in ann:
        if not is_number(fraction) or not 0 < fraction <= 1:
            report.add(where, f"visible_fraction must be a number in (0, 1], got {short(fraction)}")
        elif is_number(area) and amodal_area and abs(fraction - area / amodal_area) > 1e-4:
            report.add(where, f"visible_fraction {fraction:g} is not area / amodal_area = {area / amodal_area:.6f}")
    if "truncation" in ann:
        value = ann["truncation"]
        if not is_number(value) or not 0 <= value < 1:
            report.add(where, f"truncation must be a number in [0, 1), got {short(value)}")

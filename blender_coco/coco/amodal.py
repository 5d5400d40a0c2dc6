"""Amodal fields of an instance annotation, and the visibility / truncation filters.

::

    amodal_fields(visible, amodal, height, width) -> dict   the five keys below (visible: mask or RLE)
    keep(annotation, config) -> bool                        min_visibility / max_truncation
    AMODAL_KEYS

Each annotation of an instance rendered with amodal masks gets, after COCO's own keys:

- ``amodal_segmentation``: compressed RLE of the silhouette as if nothing occluded it,
  inside the image: the rasterized silhouette of the frame record
  (:class:`~blender_coco.records.amodal.Amodal`) united with the visible mask, so the
  visible mask lies inside it by construction (Cycles samples edge pixels with a
  jittered sample, the rasterizer at pixel centres: they may differ by an edge pixel);
- ``amodal_bbox`` ([x, y, w, h], from that mask) and ``amodal_area`` (its pixel count);
- ``visible_fraction`` = ``area / amodal_area``, in (0, 1], rounded to 6 decimals;
- ``truncation`` = outside / (``amodal_area`` + outside), where outside is the record's
  ``outside_area`` (the silhouette beyond the image border), in [0, 1), 6 decimals.

Filters compare the rounded values, so a reader of the JSON sees exactly what was cut.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from pycocotools import mask as mask_utils

from blender_coco.config import ExportConfig
from blender_coco.records.amodal import Amodal

AMODAL_KEYS = ("amodal_segmentation", "amodal_bbox", "amodal_area", "visible_fraction", "truncation")


def amodal_fields(visible: np.ndarray | Mapping[str, Any], amodal: Amodal, height: int, width: int) -> dict[str, Any]:
    """The amodal keys of one annotation: ``visible`` is its bool mask (height, width), or that
    mask as a COCO RLE (``counts`` str or bytes: no full-image mask is made then)."""
    if isinstance(visible, np.ndarray):
        seen_rle = mask_utils.encode(np.asfortranarray(visible.astype(np.uint8)))
    else:
        counts = visible["counts"]
        seen_rle = {"size": [height, width], "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
    raster = {"size": [height, width], "counts": amodal.counts.encode("ascii")}
    rle = mask_utils.merge([raster, seen_rle], intersect=False)  # the union, as RLE
    area = int(mask_utils.area(rle))
    x, y, w, h = (int(round(v)) for v in mask_utils.toBbox(rle))
    seen = int(mask_utils.area(seen_rle))
    total = area + amodal.outside_area
    return {
        "amodal_segmentation": {"size": [height, width], "counts": rle["counts"].decode("ascii")},
        "amodal_bbox": [x, y, w, h],
        "amodal_area": area,
        "visible_fraction": round(seen / area, 6) if area else 0.0,
        "truncation": round(amodal.outside_area / total, 6) if total > 0 else 0.0,
    }


def keep(annotation: dict[str, Any], config: ExportConfig) -> bool:
    """Whether ``annotation`` passes ``config.min_visibility`` and ``config.max_truncation``."""
    return (annotation["visible_fraction"] >= config.min_visibility
            and annotation["truncation"] <= config.max_truncation)

"""Stuff files (``kind="stuff"``; the CLI assumes it for files named ``stuff*.json``).

:func:`check_stuff` -- at most one annotation per (image, category), and the
regions of one image do not overlap (a pixel has one stuff class). Masks are
decoded with :func:`blender_coco.coco.segmentation.decode_mask`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from blender_coco.coco.segmentation import decode_mask
from blender_coco.coco.validate.common import Report
from blender_coco.values import short


def check_stuff(report: Report, by_id: dict[int, dict]) -> None:
    """One region per (image, category); no pixel in two regions. ``by_id``: the annotations by id."""
    import numpy as np

    groups: dict[tuple[Any, Any], list[int]] = defaultdict(list)
    per_image: dict[Any, list[int]] = defaultdict(list)
    for ann_id, ann in by_id.items():
        groups[(ann.get("image_id"), ann.get("category_id"))].append(ann_id)
        per_image[ann.get("image_id")].append(ann_id)
    for (img_id, cat_id), ids in groups.items():
        if len(ids) > 1:
            report.add(f"annotation {ids[1]} (image {short(img_id)})",
                       f"stuff category {short(cat_id)} already has annotation {ids[0]} in this image; "
                       "stuff is one region per image and category: merge them")
    for img_id, ids in per_image.items():
        size = report.image_size(img_id)
        if size is None or len(ids) < 2:
            continue
        count = np.zeros(size, np.int32)
        owner = np.zeros(size, np.int64)
        for ann_id in ids:
            m = decode_mask(by_id[ann_id].get("segmentation"), *size)
            if m is None:
                continue
            clash = m & (count > 0)
            if clash.any():
                other = int(owner[clash][0])
                report.add(f"annotation {ann_id} (image {short(img_id)})",
                           f"overlaps stuff annotation {other} on {int(clash.sum())} pixels; a pixel has one stuff class")
            count += m
            owner[m & (owner == 0)] = ann_id

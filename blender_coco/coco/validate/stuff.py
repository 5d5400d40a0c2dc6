"""Stuff files (``kind="stuff"``; the CLI assumes it for files named ``stuff*.json``).

:func:`check_stuff` -- at most one annotation per (image, category), and the
regions of one image do not overlap (a pixel has one stuff class). Masks are
compared as RLEs (:func:`blender_coco.coco.segmentation.mask_rle`), never decoded.
"""

from __future__ import annotations

from collections import defaultdict

from blender_coco.coco.segmentation import mask_rle
from blender_coco.coco.validate.common import Report
from blender_coco.values import is_int, short


def check_stuff(report: Report, by_id: dict[int, dict]) -> None:
    """One region per (image, category); no pixel in two regions. ``by_id``: the annotations by id.

    Annotations whose image_id or category_id is not an integer are left out (they are
    reported with the other annotation rules). Overlaps are measured on RLEs, so memory
    follows the masks' outlines, not the image's pixel count.
    """
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    per_image: dict[int, list[int]] = defaultdict(list)
    for ann_id, ann in by_id.items():
        img_id, cat_id = ann.get("image_id"), ann.get("category_id")
        if is_int(img_id):
            per_image[img_id].append(ann_id)
            if is_int(cat_id):
                groups[(img_id, cat_id)].append(ann_id)
    for (img_id, cat_id), ids in groups.items():
        if len(ids) > 1:
            report.add(f"annotation {ids[1]} (image {short(img_id)})",
                       f"stuff category {short(cat_id)} already has annotation {ids[0]} in this image; "
                       "stuff is one region per image and category: merge them")
    for img_id, ids in per_image.items():
        size = report.image_size(img_id)
        if size is not None and len(ids) > 1:
            _check_overlaps(report, img_id, ids, by_id, size)


def _check_overlaps(report: Report, img_id: int, ids: list[int], by_id: dict[int, dict], size: tuple[int, int]) -> None:
    from pycocotools import mask as mask_utils

    seen: list[tuple[int, dict]] = []
    union = None
    for ann_id in ids:
        rle = mask_rle(by_id[ann_id].get("segmentation"), *size)
        if rle is None:
            continue
        if union is not None:
            clash = int(mask_utils.area(mask_utils.merge([union, rle], intersect=True)))
            if clash:
                other = next(o for o, r in seen if mask_utils.area(mask_utils.merge([r, rle], intersect=True)))
                report.add(f"annotation {ann_id} (image {short(img_id)})",
                           f"overlaps stuff annotation {other} on {clash} pixels; a pixel has one stuff class")
        seen.append((ann_id, rle))
        union = rle if union is None else mask_utils.merge([union, rle])

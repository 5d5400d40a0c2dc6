"""A loaded COCO file indexed by id, for the tools that draw it (preview, gallery).

:class:`CocoIndex` keeps ``images`` (id -> image, the first of duplicate ids),
``categories`` (id -> category) and ``annotations`` (image id -> its instance
annotations in file order; panoptic entries and annotations without an integer
image_id are left out). It is lenient: malformed entries are skipped, since drawing
should show what it can (``blender-coco validate`` says what is wrong). Only what a
caller asks for by name fails, as a one-line :class:`~blender_coco.errors.UserError`:
a file without an ``images`` list, an image id not in the file
(:meth:`CocoIndex.image`), an image without a positive integer width and height, or
one larger than :data:`MAX_DRAW_PIXELS`. :meth:`CocoIndex.choose` picks the images to
draw (named ones, or all that can be drawn).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any, Iterable

from blender_coco.values import is_int, short
from blender_coco.errors import UserError

log = logging.getLogger(__name__)

#: The largest image preview and the gallery draw: 8192 x 8192 pixels (drawing takes
#: about 20 bytes a pixel, so ~1.3 GB at this size).
MAX_DRAW_PIXELS = 8192 * 8192


class CocoIndex:
    """Images, categories and annotations of one COCO dict, looked up by id."""

    def __init__(self, data: Any) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("images"), list):
            raise UserError("the COCO file has no 'images' list; pass a COCO dataset file "
                            "(blender-coco validate FILE says what is wrong)")
        self.images: dict[int, dict] = {}
        for img in data["images"]:
            if isinstance(img, dict) and is_int(img.get("id")) and img["id"] not in self.images:
                self.images[img["id"]] = img
        cats = data.get("categories")
        self.categories = {c["id"]: c for c in cats if isinstance(c, dict) and is_int(c.get("id"))} \
            if isinstance(cats, list) else {}
        self.annotations: dict[int, list[dict]] = defaultdict(list)
        anns = data.get("annotations")
        for ann in anns if isinstance(anns, list) else []:
            if isinstance(ann, dict) and "segments_info" not in ann and is_int(ann.get("image_id")):
                self.annotations[ann["image_id"]].append(ann)

    def image(self, image_id: Any) -> dict:
        """The image with this id, with a positive integer width and height; UserError otherwise."""
        img = self.images.get(image_id)
        if img is None:
            known = sorted(self.images)
            shown = ", ".join(map(str, known[:8])) + (", ..." if len(known) > 8 else "")
            raise UserError(f"image id {image_id} is not in the COCO file (its image ids: {shown or 'none'}); "
                            "pick one of those")
        w, h = img.get("width"), img.get("height")
        if not (is_int(w) and is_int(h) and w > 0 and h > 0):
            raise UserError(f"image {short(image_id)} has width/height {short(w)}/{short(h)}, not positive integers; "
                            "fix the COCO file")
        if w * h > MAX_DRAW_PIXELS:
            raise UserError(f"image {image_id} is {w}x{h} ({w * h:,} pixels); preview and the gallery draw images of at "
                            f"most {MAX_DRAW_PIXELS:,} pixels (8192x8192): pick others with --image-ids")
        return img

    def category(self, category_id: Any) -> dict:
        """The category with this id, or ``{}`` (unknown, or not an integer id)."""
        return self.categories.get(category_id, {}) if is_int(category_id) else {}

    def choose(self, image_ids: Iterable[Any] | None, limit: int | None) -> list[dict]:
        """The images to draw: ``image_ids`` (each checked by :meth:`image`), or every image
        whose size can be drawn (others skipped with a warning each); at most ``limit``."""
        if limit is not None and not (is_int(limit) and limit > 0):
            raise UserError(f"{{limit}} must be a positive integer, got {limit!r}", field="limit")
        if image_ids is not None:
            chosen = [self.image(i) for i in dict.fromkeys(image_ids)]
        else:
            chosen = []
            for img in self.images.values():
                w, h = img.get("width"), img.get("height")
                if is_int(w) and is_int(h) and w * h > MAX_DRAW_PIXELS:
                    log.warning("image %s is %sx%s, more than %s pixels: not drawn", img["id"], w, h, f"{MAX_DRAW_PIXELS:,}")
                    continue
                chosen.append(img)
        return chosen[:limit] if limit is not None else chosen

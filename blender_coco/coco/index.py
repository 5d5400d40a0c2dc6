"""A loaded COCO file indexed by id, for the tools that draw it (preview, gallery).

:class:`CocoIndex` keeps ``images`` (id -> image, the first of duplicate ids),
``categories`` (id -> category) and ``annotations`` (image id -> its instance
annotations in file order; panoptic entries are left out). It is lenient: malformed
entries are skipped, since drawing should show what it can (``blender-coco
validate`` says what is wrong). Only what a caller asks for by name fails, as a
one-line :class:`~blender_coco.errors.UserError`: a file without an ``images``
list, an image id not in the file (:meth:`CocoIndex.image`), or an image without a
positive integer width and height.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from blender_coco.values import is_int
from blender_coco.errors import UserError


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
        self.categories = {c["id"]: c for c in cats if isinstance(c, dict) and "id" in c} if isinstance(cats, list) else {}
        self.annotations: dict[int, list[dict]] = defaultdict(list)
        anns = data.get("annotations")
        for ann in anns if isinstance(anns, list) else []:
            if isinstance(ann, dict) and "segments_info" not in ann:
                self.annotations[ann.get("image_id")].append(ann)

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
            raise UserError(f"image {image_id} has width/height {w!r}/{h!r}, not positive integers; fix the COCO file")
        return img

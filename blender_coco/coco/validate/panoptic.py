"""Panoptic files (annotations with ``segments_info``) and, on request, their segment PNGs.

* :func:`check_panoptic_annotation` -- a known ``image_id``, a ``file_name`` (the
  PNG), ``segments_info`` a list of segments with a unique positive id
  (R + 256 G + 256^2 B; 0 is void), a known ``category_id``, and a valid bbox,
  area and iscrowd where given.
* :func:`check_panoptic_file` -- categories carry ``isthing`` (pq_compute reads it);
  one annotation per image, PNG names unique. With the PNG folder each PNG is
  checked as panopticapi's ``pq_compute`` reads it: it exists, is RGB (a palette
  PNG decodes to palette indices, not segment ids), has the image's size, the ids
  in it (0 = void) are exactly the ``segments_info`` ids, and each segment's
  ``area`` is its pixel count (segments cannot overlap in one PNG). A PNG's header is
  read first: one of another size than its image, or over :data:`MAX_PNG_PIXELS`,
  is reported without decoding it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from blender_coco.coco.validate.common import Report, check_bbox
from blender_coco.values import is_int, is_number, short

#: Segment PNGs are read only up to this many pixels (Pillow's decompression-bomb
#: warning limit, ~0.5 GB of pixels and ids); a larger one is reported, not read.
MAX_PNG_PIXELS = 89_478_485


def check_panoptic_annotation(report: Report, ann: dict, check_cats: bool) -> None:
    """One image's panoptic annotation and its ``segments_info``."""
    img_id = ann.get("image_id")
    where = f"panoptic annotation (image {short(img_id)})"
    size = None
    if not is_int(img_id) or img_id not in report.images:
        report.add(where, f"image_id {short(img_id)} is not an image in this file")
    else:
        size = report.image_size(img_id)
    if not (isinstance(ann.get("file_name"), str) and ann["file_name"]):
        report.add(where, f"'file_name' (the segment PNG) must be a non-empty string, got {short(ann.get('file_name'))}")
    segs = ann["segments_info"]
    if not isinstance(segs, list):
        report.add(where, f"'segments_info' must be a list, got {type(segs).__name__}")
        return
    seen: set[int] = set()
    for n, s in enumerate(segs):
        if not isinstance(s, dict):
            report.add(where, f"segments_info[{n}] must be a JSON object")
            continue
        sid = s.get("id")
        swhere = f"segment {short(sid)} (image {short(img_id)})"
        if not (is_int(sid) and sid > 0):
            report.add(swhere, f"segment id must be a positive integer (R + 256 G + 256^2 B, 0 is void), got {short(sid)}")
        elif sid in seen:
            report.add(swhere, "duplicate segment id within this image")
        else:
            seen.add(sid)
        cat_id = s.get("category_id")
        if check_cats and not (is_int(cat_id) and cat_id in report.categories):
            report.add(swhere, f"category_id {short(cat_id)} is not a category in this file")
        if "bbox" in s:
            check_bbox(report, swhere, s["bbox"], size)
        if "area" in s and not (is_number(s["area"]) and s["area"] > 0):
            report.add(swhere, f"area must be a number > 0, got {short(s['area'])}")
        if "iscrowd" in s and not (is_int(s["iscrowd"]) and s["iscrowd"] in (0, 1)):
            report.add(swhere, f"iscrowd must be 0 or 1, got {short(s['iscrowd'])}")


def check_panoptic_file(report: Report, panoptic: list[dict], panoptic_dir: Path | None) -> None:
    """File-wide panoptic rules, then each PNG in ``panoptic_dir`` (None: PNGs not checked)."""
    for cat_id, cat in report.categories.items():
        if cat.get("isthing") not in (0, 1):
            report.add(f"category {cat_id}", f"panoptic categories need 'isthing' 0 or 1 (pq_compute reads it), "
                                             f"got {short(cat.get('isthing'))}")
    per_image: dict[Any, int] = Counter(a.get("image_id") for a in panoptic if is_int(a.get("image_id")))
    for img_id, n in per_image.items():
        if n > 1:
            report.add(f"image {short(img_id)}", f"has {n} panoptic annotations; give each image exactly one")
    names = Counter(a.get("file_name") for a in panoptic if isinstance(a.get("file_name"), str))
    for name, n in names.items():
        if n > 1:
            report.add("file", f"panoptic PNG {name!r} is used by {n} annotations; each image needs its own PNG")
    if panoptic_dir is None:
        return
    for ann in panoptic:
        if isinstance(ann.get("file_name"), str) and ann["file_name"] and isinstance(ann.get("segments_info"), list):
            _check_panoptic_png(report, ann, panoptic_dir)


def _check_panoptic_png(report: Report, ann: dict, panoptic_dir: Path) -> None:
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    img_id = ann.get("image_id")
    where = f"panoptic annotation (image {short(img_id)})"
    path = panoptic_dir / ann["file_name"]
    if not path.is_file():
        report.add(where, f"segment PNG {path} does not exist")
        return
    size = report.image_size(img_id)
    try:
        with Image.open(path) as im:
            mode, (pw, ph) = im.mode, im.size
            if mode != "RGB":
                what = "a palette PNG: its pixels decode to palette indices, not segment ids" if mode == "P" else f"mode {mode}"
                report.add(where, f"segment PNG {path} is {what}; save it as RGB (id = R + 256 G + 256^2 B)")
                return
            if size is not None and (ph, pw) != size:
                report.add(where, f"segment PNG {path} is {pw}x{ph} but the image is {size[1]}x{size[0]}")
                return
            if pw * ph > MAX_PNG_PIXELS:
                report.add(where, f"segment PNG {path} is {pw}x{ph}, more than {MAX_PNG_PIXELS:,} pixels; its ids "
                                  "and areas are not checked")
                return
            pixels = np.asarray(im)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        report.add(where, f"segment PNG {path} cannot be read ({exc.__class__.__name__})")
        return
    packed = pixels[..., 0].astype(np.uint32)
    packed |= pixels[..., 1].astype(np.uint32) << 8
    packed |= pixels[..., 2].astype(np.uint32) << 16
    del pixels
    ids, counts = np.unique(packed, return_counts=True)
    in_png = {int(i): int(c) for i, c in zip(ids, counts) if i != 0}
    segs = {s["id"]: s for s in ann["segments_info"] if isinstance(s, dict) and is_int(s.get("id"))}
    missing = sorted(set(in_png) - set(segs))
    if missing:
        report.add(where, f"ids {short(missing)} are in {path.name} but not in segments_info (0 is void)")
    unused = sorted(set(segs) - set(in_png))
    if unused:
        report.add(where, f"segments_info ids {short(unused)} have no pixels in {path.name}")
    for sid, seg in segs.items():
        area = seg.get("area")
        if sid in in_png and is_number(area) and area != in_png[sid]:
            report.add(f"segment {sid} (image {short(img_id)})", f"area {area:g} but {in_png[sid]} pixels in {path.name}")

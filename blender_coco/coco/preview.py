"""Preview: draw a COCO image's annotations over the image (or a grey canvas) as a PNG.

* :func:`render_preview` -- the preview of one image, as a Pillow image.
* :func:`write_previews` -- one PNG per image into a folder, named by
  :func:`preview_names` (the image's stem; ``_<id>`` added where stems collide).

Per annotation, in this order so that small marks stay on top:

1. the mask (polygons, compressed or uncompressed RLE, decoded as pycocotools'
   ``annToMask`` does: :func:`blender_coco.coco.segmentation.decode_mask`) filled
   with the category colour at :data:`~blender_coco.coco.colors.MASK_ALPHA`;
   then, for annotations with ``amodal_segmentation``, the outline of the amodal mask
   where it runs through hidden pixels (outside the visible mask), dashed, in the
   category colour: the object's occluded shape;
2. the bbox outline in the category colour, on the outermost pixels the box covers;
3. the skeleton: lines only between keypoints with v > 0, solid when both ends are
   visible (v = 2), thin and dashed when an end is occluded (v = 1);
4. keypoints: v = 2 a filled ``VISIBLE_KEYPOINT`` disc with a dark rim, v = 1 a
   hollow ``OCCLUDED_KEYPOINT`` ring (the image shows through), v = 0 nothing;
5. the category name on a tag of the category colour (``crowd`` added for iscrowd=1).

Keypoints use COCO's pixel-index convention (the centre of pixel (c, r) is (c, r)),
which is also Pillow's, so they are drawn where they are. Colours are a fixed
function of the category id (:mod:`blender_coco.coco.colors`): the same category
looks the same in every image and every run. Malformed annotations are skipped piecewise
with a warning (run ``blender-coco validate`` for the reasons); nothing raises for
a bad annotation.
"""

from __future__ import annotations

import io
import logging
import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from blender_coco.coco.canvas import base_image
from blender_coco.coco.colors import KEYPOINT_RIM, MASK_ALPHA, OCCLUDED_KEYPOINT, VISIBLE_KEYPOINT, category_color
from blender_coco.coco.index import CocoIndex
from blender_coco.coco.segmentation import decode_mask
from blender_coco.values import is_int, is_number
from blender_coco.files import ensure_dir, write_bytes_atomic

log = logging.getLogger(__name__)


class _Style:
    """Sizes that scale with the image, so a 64x48 render and a 640x480 photo both read well."""

    def __init__(self, width: int, height: int) -> None:
        side = min(width, height)
        self.line = max(1, round(side / 240))
        self.radius = max(2, round(side / 110))
        self.dash = max(2, 2 * self.radius)
        size = max(8, round(side / 32))
        try:
            self.font = ImageFont.load_default(size=size)
        except (TypeError, OSError):  # Pillow < 10.1 or no FreeType: the fixed bitmap font
            self.font = ImageFont.load_default()


def _clamp(v: float, hi: int) -> int:
    """round(v) within -1..hi + 1 (a box at x = 1e308 is off the picture, not an OverflowError)."""
    return round(min(max(v, -1.0), hi + 1.0))


def _box_pixels(bbox: Any, width: int, height: int) -> tuple[int, int, int, int] | None:
    """Inclusive pixel rectangle (x0, y0, x1, y1) of the pixels a continuous bbox covers."""
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(is_number(v) for v in bbox)) or bbox[2] < 0 or bbox[3] < 0:
        return None
    x, y, w, h = (float(v) for v in bbox)
    x0, y0 = max(0, _clamp(x, width)), max(0, _clamp(y, height))
    x1, y1 = min(width - 1, _clamp(x + w, width) - 1), min(height - 1, _clamp(y + h, height) - 1)
    x1, y1 = max(x0, x1), max(y0, y1)
    if x0 >= width or y0 >= height:
        return None
    return x0, y0, x1, y1


def _keypoints(ann: dict, width: int, height: int) -> list[tuple[float, float, int]]:
    """(x, y, v) per keypoint; v = 0 for one further than the image's size off the picture
    (not drawn: Pillow would overflow or walk a line for ever)."""
    kps = ann.get("keypoints")
    if not (isinstance(kps, list) and len(kps) % 3 == 0 and all(is_number(v) for v in kps)):
        return []
    m = max(width, height)
    out = []
    for i in range(0, len(kps), 3):
        x, y, v = float(kps[i]), float(kps[i + 1]), kps[i + 2]
        near = -m <= x <= width + m and -m <= y <= height + m
        out.append((x, y, int(v) if near and v in (1, 2) else 0))
    return out


def _dashed(draw: ImageDraw.ImageDraw, a: tuple[float, float], b: tuple[float, float], color, dash: int) -> None:
    length = math.dist(a, b)
    steps = max(1, int(length // dash))
    for i in range(0, steps, 2):
        t0, t1 = i / steps, min(1.0, (i + 1) / steps)
        draw.line([(a[0] + (b[0] - a[0]) * t0, a[1] + (b[1] - a[1]) * t0),
                   (a[0] + (b[0] - a[0]) * t1, a[1] + (b[1] - a[1]) * t1)], fill=color, width=1)


def _label_tag(draw: ImageDraw.ImageDraw, text: str, box: tuple[int, int, int, int], color, style: _Style,
               size: tuple[int, int]) -> None:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=style.font)
    tw, th = right - left + 2, bottom - top + 2
    x = min(box[0], max(0, size[0] - tw))
    y = box[1] - th if box[1] - th >= 0 else box[1] + style.line  # above the box if there is room
    draw.rectangle([x, y, x + tw - 1, y + th - 1], fill=color)
    ink = (0, 0, 0) if 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2] > 140 else (255, 255, 255)
    draw.text((x + 1 - left, y + 1 - top), text, fill=ink, font=style.font)


def _amodal_outlines(pixels: np.ndarray, anns: list[dict], h: int, w: int, dash: int) -> None:
    """Paint, dashed, the outline of each amodal mask where it runs through hidden (not visible) pixels."""
    dashes = None
    for ann in anns:
        amodal = decode_mask(ann.get("amodal_segmentation"), h, w)
        if amodal is None:
            continue
        p = np.pad(amodal, 1)
        inner = p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
        edge = amodal & ~inner
        visible = decode_mask(ann.get("segmentation"), h, w)
        if visible is not None:
            edge &= ~visible
        if dashes is None:
            dashes = (np.add.outer(np.arange(h), np.arange(w)) // dash) % 2 == 0
        pixels[edge & dashes] = category_color(ann.get("category_id"))


def _draw(index: CocoIndex, img: dict, images_dir: Path | None) -> Image.Image:
    w, h = img["width"], img["height"]
    base = base_image(img, images_dir)
    anns = index.annotations.get(img["id"], [])
    style = _Style(w, h)

    pixels = np.asarray(base, dtype=np.float32).copy()
    for ann in anns:
        mask = decode_mask(ann.get("segmentation"), h, w)
        if mask is None:
            if ann.get("segmentation") not in (None, []):
                log.warning("image %s: annotation %s has a malformed segmentation; not drawn (run blender-coco validate)",
                            img["id"], ann.get("id"))
            continue
        color = np.array(category_color(ann.get("category_id")), dtype=np.float32)
        pixels[mask] = pixels[mask] * (1.0 - MASK_ALPHA) + color * MASK_ALPHA
    _amodal_outlines(pixels, anns, h, w, style.dash)
    out = Image.fromarray(np.rint(pixels).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(out)

    boxes = []
    for ann in anns:
        color = category_color(ann.get("category_id"))
        box = _box_pixels(ann.get("bbox"), w, h)
        if box is not None:
            draw.rectangle(box, outline=color, width=style.line)
        boxes.append(box)

    for ann in anns:
        kps = _keypoints(ann, w, h)
        if not kps:
            continue
        color = category_color(ann.get("category_id"))
        cat = index.category(ann.get("category_id"))
        skeleton = cat.get("skeleton") if isinstance(cat.get("skeleton"), list) else []
        for pair in skeleton:
            if not (isinstance(pair, list) and len(pair) == 2 and all(is_int(v) and 1 <= v <= len(kps) for v in pair)):
                continue
            (xa, ya, va), (xb, yb, vb) = kps[pair[0] - 1], kps[pair[1] - 1]
            if va <= 0 or vb <= 0:
                continue
            if va == 2 and vb == 2:
                draw.line([(xa, ya), (xb, yb)], fill=color, width=style.line + 1)
            else:
                _dashed(draw, (xa, ya), (xb, yb), color, style.dash)

    r = style.radius
    for ann in anns:
        for x, y, v in _keypoints(ann, w, h):
            if v == 2:
                draw.ellipse([x - r, y - r, x + r, y + r], fill=VISIBLE_KEYPOINT, outline=KEYPOINT_RIM)
            elif v == 1:
                draw.ellipse([x - r, y - r, x + r, y + r], outline=OCCLUDED_KEYPOINT, width=max(1, r // 2))

    for ann, box in zip(anns, boxes):
        if box is None:
            continue
        cat = index.category(ann.get("category_id"))
        name = cat.get("name") if isinstance(cat.get("name"), str) and cat.get("name") else f"category {ann.get('category_id')}"
        text = f"{name} crowd" if ann.get("iscrowd") == 1 else name
        _label_tag(draw, text, box, category_color(ann.get("category_id")), style, (w, h))
    return out


def render_preview(data: dict, image_id: int, images_dir: Path | None = None) -> Image.Image:
    """The preview of one image as an RGB image of the image's width x height."""
    index = CocoIndex(data)
    return _draw(index, index.image(image_id), images_dir)


def preview_names(images: Iterable[dict]) -> dict[int, str]:
    """Output file name per image id: the image file's stem + ``.png``; ``_<id>`` added where stems collide."""
    images = list(images)
    stems = [Path(str(img.get("file_name") or f"image_{img['id']}")).stem for img in images]
    seen = defaultdict(int)
    for s in stems:
        seen[s] += 1
    return {img["id"]: f"{s}_{img['id']}.png" if seen[s] > 1 else f"{s}.png" for img, s in zip(images, stems)}


def write_previews(data: dict, out_dir: Path, images_dir: Path | None = None,
                   image_ids: Iterable[int] | None = None, limit: int | None = None) -> list[Path]:
    """Write one preview PNG per image (all, or ``image_ids``, at most ``limit``) into ``out_dir``, atomically.

    Returns the written paths in order.
    """
    index = CocoIndex(data)
    chosen = index.choose(image_ids, limit)
    names = preview_names(index.images.values())
    out = ensure_dir(out_dir)
    written = []
    for img in chosen:
        index.image(img["id"])  # width/height check, with its one-line error
        picture = _draw(index, img, images_dir)
        buf = io.BytesIO()
        picture.save(buf, format="PNG")
        path = out / names[img["id"]]
        write_bytes_atomic(path, buf.getvalue())
        log.debug("wrote %s", path)
        written.append(path)
    log.info("wrote %d preview%s to %s", len(written), "" if len(written) == 1 else "s", out)
    return written

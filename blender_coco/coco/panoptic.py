"""COCO panoptic segmentation: ``annotations/panoptic.json`` + one segment PNG per image.

The format (as panopticapi reads it):

* Each image has an RGB PNG (never a palette PNG) in ``annotations/panoptic/``, named
  after the image's stem, whose pixels hold segment ids: id = R + 256 G + 256^2 B.
  Id 0 is void (unlabelled, ignored by evaluation).
* ``annotations``: one per image with ``image_id``, ``file_name`` (the PNG) and
  ``segments_info``: one entry per segment with ``id``, ``category_id``, ``area``
  (its pixel count in the PNG), ``bbox`` (from those pixels) and ``iscrowd``.
* Every id in the PNG has exactly one entry in ``segments_info`` and vice versa;
  segments never overlap (one id per pixel).
* ``categories`` carry ``isthing`` (1 thing, 0 stuff) and a display ``color``.

Things are the instances of ``instances.json`` (the same pixels, the same
``min_area``); stuff is the merged region of ``stuff.json``. Everything else is void.
Segment ids are colours, as panopticapi's ``IdGenerator`` makes them: a stuff
segment is its category's colour, a thing segment that colour jittered by a
generator seeded with (image id, pass index); so the PNGs read as a picture, and the
same input gives byte-identical files.

Both writers (the export stage and ``masks2coco``) build the file from the same parts:

* :func:`segment_map` -- a rendered frame's segment-id image and ``segments_info``
  (ids from :class:`SegmentIds`); ``masks2coco`` keeps its mask colours as ids.
* :func:`png_name`, :func:`write_segment_png` -- an image's segment PNG.
* :func:`panoptic_annotation` -- an image's entry of ``annotations``.
* :func:`panoptic_categories` -- ``categories`` with ``isthing`` and ``color``.
* :func:`write_panoptic_json` -- the file, with the instances file's info and images.
* :func:`rgb2id` / :func:`id2rgb` -- PNG colours <-> segment ids;
  :func:`panoptic_paths` -- where ``--panoptic X`` puts the JSON and the PNGs.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from PIL import Image

from blender_coco.coco.colors import category_color
from blender_coco.coco.dataset import Category
from blender_coco.files import write_bytes_atomic, write_json_atomic

#: Largest segment id an RGB PNG can hold.
MAX_ID = 256 ** 3 - 1
_JITTER = 30


def rgb2id(rgb: np.ndarray) -> np.ndarray:
    """H x W x 3 uint8 -> H x W segment ids (R + 256 G + 256^2 B), as panopticapi's ``rgb2id``."""
    rgb = np.asarray(rgb).astype(np.uint32)
    return rgb[..., 0] + 256 * rgb[..., 1] + 256 * 256 * rgb[..., 2]


def id2rgb(ids: np.ndarray) -> np.ndarray:
    """Segment ids -> H x W x 3 uint8 colours (the inverse of :func:`rgb2id`)."""
    ids = np.asarray(ids, dtype=np.uint32)
    return np.stack([ids & 255, (ids >> 8) & 255, (ids >> 16) & 255], axis=-1).astype(np.uint8)


def color_id(color: Sequence[int]) -> int:
    r, g, b = (int(c) for c in color)
    return r + 256 * g + 256 * 256 * b


def category_display_color(category_id: int) -> list[int]:
    """The display colour of a category: the same one previews and the gallery use."""
    return list(category_color(category_id))


def panoptic_categories(categories: Iterable[Category], stuff_ids: Iterable[int],
                        display_colors: Mapping[str, Sequence[int]] = {}) -> list[dict[str, Any]]:
    """Panoptic ``categories``: id, name, supercategory, isthing, color; by id.

    ``color`` is :func:`category_display_color` unless ``display_colors`` gives the
    category's name one.
    """
    stuff = set(stuff_ids)
    return [{"id": c.id, "name": c.name, "supercategory": c.supercategory or c.name,
             "isthing": 0 if c.id in stuff else 1,
             "color": list(display_colors[c.name]) if c.name in display_colors else category_display_color(c.id)}
            for c in sorted(categories, key=lambda c: c.id)]


class SegmentIds:
    """Unique, non-zero segment ids for one image, derived from category colours."""

    def __init__(self, image_id: int) -> None:
        self.image_id = image_id
        self.used: set[int] = {0}

    def _take(self, candidate: int, rng: np.random.Generator, base: np.ndarray) -> int:
        while candidate in self.used:
            rgb = np.clip(base + rng.integers(-_JITTER, _JITTER + 1, 3), 0, 255)
            candidate = color_id(rgb)
            if candidate in self.used:  # a crowded neighbourhood: anywhere will do
                candidate = int(rng.integers(1, MAX_ID + 1))
        self.used.add(candidate)
        return candidate

    def stuff(self, category_id: int) -> int:
        """A stuff segment's id: its category's colour (jittered only on a clash)."""
        base = np.array(category_display_color(category_id))
        rng = np.random.default_rng([self.image_id, 0, category_id])
        return self._take(color_id(base), rng, base)

    def thing(self, category_id: int, label: int) -> int:
        """A thing segment's id: its category's colour, jittered, seeded by (image id, pass index)."""
        base = np.array(category_display_color(category_id))
        rng = np.random.default_rng([self.image_id, 1, label])
        first = color_id(np.clip(base + rng.integers(-_JITTER, _JITTER + 1, 3), 0, 255))
        return self._take(first, rng, base)


def segment_map(mask: np.ndarray, things: Sequence[tuple[int, dict]], smap: np.ndarray | None,
                stuff: Sequence[dict], image_id: int) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """The segment-id image and ``segments_info`` of one frame.

    ``things``: (pass index, annotation) of every thing kept in ``instances.json``
    (category_id, area, bbox, iscrowd are taken from it: they were computed from the
    same pixels). ``smap``/``stuff``: the stuff map and the kept stuff annotations.
    Pixels of anything else are void (0). Segments: things by pass index, then stuff
    by category id.
    """
    ids = SegmentIds(image_id)
    segments: list[dict[str, Any]] = []
    size = max([int(mask.max(initial=0))] + [label for label, _ in things]) + 1
    lut = np.zeros(size, np.uint32)
    for label, ann in things:
        sid = ids.thing(ann["category_id"], label)
        lut[label] = sid
        segments.append({"id": sid, "category_id": ann["category_id"], "area": ann["area"],
                         "bbox": list(ann["bbox"]), "iscrowd": ann.get("iscrowd", 0)})
    seg = lut[mask]
    if smap is not None and stuff:
        slut = np.zeros(int(smap.max(initial=0)) + 1, np.uint32)
        for ann in stuff:
            sid = ids.stuff(ann["category_id"])
            slut[ann["category_id"]] = sid
            segments.append({"id": sid, "category_id": ann["category_id"], "area": ann["area"],
                             "bbox": list(ann["bbox"]), "iscrowd": 0})
        stuff_px = slut[smap]
        seg = np.where(stuff_px > 0, stuff_px, seg)
    return seg, segments


def png_bytes(seg: np.ndarray) -> bytes:
    """Segment ids -> RGB PNG bytes (mode RGB, never a palette)."""
    buf = io.BytesIO()
    Image.fromarray(id2rgb(seg), "RGB").save(buf, format="PNG")
    return buf.getvalue()


def png_name(image_file_name: str) -> str:
    """The segment PNG of an image: its file name's stem + ``.png``."""
    return Path(image_file_name).stem + ".png"


def write_segment_png(path: str | Path, seg: np.ndarray) -> None:
    """Write a segment PNG atomically."""
    write_bytes_atomic(path, png_bytes(seg))


def panoptic_paths(target: str | Path) -> tuple[Path, Path]:
    """(JSON path, PNG folder) for ``--panoptic DIR_OR_JSON``.

    ``X.json`` -> (X.json, X/) beside it, COCO's own layout (panoptic_val2017.json
    next to panoptic_val2017/); a folder D -> (D/panoptic.json, D/panoptic/).
    """
    t = Path(target)
    if t.suffix.lower() == ".json":
        return t, t.with_suffix("")
    return t / "panoptic.json", t / "panoptic"


def panoptic_annotation(image_id: int, image_file_name: str, segments: list[dict[str, Any]]) -> dict[str, Any]:
    """One image's entry of ``annotations``: image_id, file_name (its segment PNG, :func:`png_name`), segments_info."""
    return {"image_id": image_id, "file_name": png_name(image_file_name), "segments_info": segments}


def write_panoptic_json(path: str | Path, head: Mapping[str, Any], annotations: list[dict[str, Any]],
                        categories: list[dict[str, Any]]) -> None:
    """Write the panoptic file atomically: ``info``, ``licenses`` and ``images`` of ``head``
    (the instances file's JSON, so ids match), then ``annotations`` and ``categories``."""
    write_json_atomic(path, {"info": head["info"], "licenses": head["licenses"], "images": head["images"],
                             "annotations": annotations, "categories": categories})

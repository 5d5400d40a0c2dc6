"""COCO dataset model and writer, and :func:`load_coco` (read a COCO file, one-line errors).

The format's rules, written once (pycocotools is the judge of every output):

* Coordinates: continuous pixel grid. (0, 0) is the top-left corner of the top-left
  pixel; x grows right, y grows down. A pixel at column c, row r covers
  [c, c+1) x [r, r+1); its centre is (c + 0.5, r + 0.5).
* ``bbox`` = [x, y, w, h] in that grid, from the mask itself: a single pixel at
  column 0, row 0 has bbox [0, 0, 1, 1]. ``area`` = the mask's pixel count, never a
  polygon's area. COCOeval uses ``area`` for its size buckets and for keypoint OKS.
* ``segmentation``: a list of polygons ``[[x0, y0, x1, y1, ...], ...]`` (each >= 3
  points, all merged by union: no holes), or RLE ``{"size": [h, w], "counts": ...}``
  in column-major (Fortran) order starting with a run of zeros. We write compressed
  RLE with ``counts`` as str (pycocotools returns bytes).
* ``keypoints``: [x1, y1, v1, ...] in COCO's pixel-index convention: continuous
  coordinate minus 0.5 (the centre of pixel (c, r) is (c, r)). v = 0 (with x = y = 0):
  not labelled / outside the image or behind the camera; v = 1: in the image but
  occluded; v = 2: visible. ``num_keypoints`` = count of v > 0.
* Category ``skeleton`` pairs are 1-based indices into the category's ``keypoints``.
* ``iscrowd`` = 0 unless asked: Detectron2 drops crowd annotations from training and
  COCOeval never matches them, so crowd is a deliberate choice, not a side effect
  of RLE.
* Ids (images, annotations, categories) are positive integers, unique per kind, and
  assigned deterministically (same input -> byte-identical JSON).
* ``info.polygon_tolerance`` (px): written when polygons were simplified with a
  tolerance above :data:`EXACT_TOLERANCE`; their pixels may then fall short of
  ``area`` (still the mask's pixel count), and validate allows for it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

from blender_coco.errors import UserError, check
from blender_coco.files import read_json, write_json_atomic


@dataclass(frozen=True)
class Category:
    """A COCO category. ``skeleton`` pairs are 1-based, as in COCO."""

    id: int
    name: str
    supercategory: str = ""
    keypoints: tuple[str, ...] = ()
    skeleton: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        check(isinstance(self.id, int) and self.id > 0, f"category id must be a positive integer, got {self.id!r}")
        check(isinstance(self.name, str) and self.name.strip() != "", f"category name must be a non-empty string, got {self.name!r}")
        n = len(self.keypoints)
        check(len(set(self.keypoints)) == n, f"category {self.name!r}: keypoint names must be unique, got {list(self.keypoints)}")
        for a, b in self.skeleton:
            check(1 <= a <= n and 1 <= b <= n, f"category {self.name!r}: skeleton pair [{a}, {b}] must index 1..{n}")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "name": self.name, "supercategory": self.supercategory or self.name}
        if self.keypoints:
            out["keypoints"] = list(self.keypoints)
            out["skeleton"] = [list(p) for p in self.skeleton]
        return out


#: Polygons simplified with at most this tolerance (px) rasterize back to the exact
#: mask (see ``ExportConfig.tolerance``); past it, the export records ``polygon_tolerance``.
EXACT_TOLERANCE = 0.2


@dataclass(frozen=True)
class DatasetInfo:
    """The ``info`` block. All fields come from config: no clock is read here."""

    description: str = "blender-coco dataset"
    version: str = "1.0"
    year: int = 2026
    contributor: str = ""
    url: str = ""
    date_created: str = ""
    extra: tuple[tuple[str, Any], ...] = ()

    def with_overrides(self, pairs: Iterable[tuple[str, str]]) -> "DatasetInfo":
        """A copy with user-given fields (``ExportConfig.info``); ``year`` becomes an int."""
        changes: dict[str, Any] = {k: (int(v) if k == "year" else v) for k, v in pairs}
        return replace(self, **changes) if changes else self

    def for_export(self, config: Any) -> "DatasetInfo":
        """:meth:`with_overrides` of an ``ExportConfig``'s ``info``, plus ``polygon_tolerance``
        (px) when its polygons are simplified past :data:`EXACT_TOLERANCE`, so that
        ``blender-coco validate`` knows how much pixel area such polygons may lose."""
        out = self.with_overrides(config.info)
        if config.segmentation != "rle" and config.tolerance > EXACT_TOLERANCE:
            out = replace(out, extra=out.extra + (("polygon_tolerance", float(config.tolerance)),))
        return out

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "description": self.description,
            "url": self.url,
            "version": self.version,
            "year": self.year,
            "contributor": self.contributor,
            "date_created": self.date_created,
        }
        out.update(dict(self.extra))
        return out


DEFAULT_LICENSE = {"id": 1, "name": "unspecified", "url": ""}


def load_coco(path: str | Path, what: str = "COCO file") -> Any:
    """:func:`blender_coco.files.read_json`, plus one-line errors for the JSON Python's
    parser refuses past its limits: nesting deeper than its recursion limit, and
    integers of more than ``sys.get_int_max_str_digits()`` (4300) digits."""
    try:
        return read_json(path, what)
    except RecursionError:
        raise UserError(f"{what} {path} nests arrays or objects too deeply for Python's JSON parser; "
                        "a COCO file is a few levels deep: fix or regenerate it") from None
    except ValueError:  # not JSONDecodeError (read_json reports that): an integer too long to convert
        raise UserError(f"{what} {path} has an integer of more than {sys.get_int_max_str_digits()} digits, "
                        "which Python's JSON parser refuses; fix or regenerate the file") from None


def categories_from_names(entries: Iterable[dict[str, Any]]) -> list[Category]:
    """Categories from dicts with ``name`` (and optional supercategory/keypoints/skeleton).

    Ids are 1..n in order of name, so every shard and every machine agrees on them.
    Two entries with one name must agree on their definition.
    """
    by_name: dict[str, dict[str, Any]] = {}
    for e in entries:
        name = e["name"]
        norm = {
            "supercategory": e.get("supercategory") or "",
            "keypoints": tuple(e.get("keypoints") or ()),
            "skeleton": tuple(tuple(p) for p in (e.get("skeleton") or ())),
        }
        if name in by_name and by_name[name] != norm:
            old = by_name[name]
            if not norm["supercategory"] and not norm["keypoints"]:
                continue
            if old["supercategory"] or old["keypoints"]:
                raise UserError(
                    f"category {name!r} is defined twice with different supercategory/keypoints "
                    f"({old} vs {norm}); make the definitions agree"
                )
        by_name[name] = norm
    return [Category(id=i, name=n, **by_name[n]) for i, n in enumerate(sorted(by_name), start=1)]


@dataclass
class CocoDataset:
    """An in-memory COCO dataset; ids are assigned in insertion order starting at 1."""

    info: DatasetInfo = field(default_factory=DatasetInfo)
    categories: list[Category] = field(default_factory=list)
    licenses: list[dict[str, Any]] = field(default_factory=lambda: [dict(DEFAULT_LICENSE)])
    images: list[dict[str, Any]] = field(default_factory=list)
    annotations: list[dict[str, Any]] = field(default_factory=list)

    def category_id(self, name: str) -> int:
        for c in self.categories:
            if c.name == name:
                return c.id
        known = ", ".join(c.name for c in self.categories) or "none"
        raise UserError(f"unknown category {name!r} (known: {known}); add it to the categories")

    def add_image(self, file_name: str, width: int, height: int, *, image_id: int | None = None,
                  date_captured: str = "", license_id: int = 1, **extra: Any) -> int:
        image_id = len(self.images) + 1 if image_id is None else int(image_id)
        check(image_id > 0, f"image id must be positive, got {image_id}")
        self.images.append({
            "id": image_id, "file_name": file_name, "width": int(width), "height": int(height),
            "license": license_id, "date_captured": date_captured, **extra,
        })
        return image_id

    def add_annotation(self, image_id: int, ann: dict[str, Any]) -> int:
        """Add ``ann`` (category_id, segmentation, area, bbox, iscrowd, ...) to an image."""
        ann_id = len(self.annotations) + 1
        self.annotations.append({"id": ann_id, "image_id": image_id, **ann})
        return ann_id

    def to_json(self) -> dict[str, Any]:
        return {
            "info": self.info.to_json(),
            "licenses": self.licenses,
            "images": self.images,
            "annotations": self.annotations,
            "categories": [c.to_json() for c in self.categories],
        }

    def write(self, path: str, *, indent: int | None = None) -> None:
        """Write atomically (temp file + rename): a crash never leaves a half file."""
        write_json_atomic(path, self.to_json(), indent=indent)

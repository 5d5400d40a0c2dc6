"""Validate a COCO file: structure and meaning, every problem as one line.

:func:`validate_coco` is a pure function of the loaded JSON (plus, on request, the
image files' headers). It never stops at the first problem: it returns every
:class:`Problem` it finds, each naming the image, annotation or category id, so a
user can fix a file in one pass. ``blender-coco validate`` prints them; the render
pipeline can call it on what it wrote.

What is checked (see :mod:`blender_coco.coco.dataset` for the format's rules):

* Top level: a JSON object with ``images`` and ``annotations`` lists; ``categories``
  a list (required once any annotation carries a box, mask or keypoints); ``info`` an
  object and ``licenses`` a list when present.
* Ids: positive integers, unique per kind (images, annotations, categories).
  COCOeval stores the matched ground-truth id in ``dtMatches`` and tests it with
  ``> 0``, so a ground-truth annotation with id 0 is never matched: id 0 is a real
  problem, not pedantry. Panoptic segment ids must be unique within their image.
* References: ``image_id`` and ``category_id`` resolve. Files without categories
  whose annotations carry no box/mask/keypoints (captions, image_info) are fine.
* Instance annotations (any of bbox, segmentation, area, keypoints, iscrowd
  present) must have ``bbox``, ``area``, ``iscrowd`` and ``category_id``;
  ``segmentation`` is optional, and ``[]`` means "box only".
* ``bbox``: 4 finite numbers, w and h >= 0, inside the image within
  :data:`BBOX_EPS` px. The bbox is *not* compared with the mask: third-party files
  (datumaro's fixtures) disagree by design, and COCO's own boxes are polygon
  extents, not mask extents.
* ``area`` > 0 and consistent with the segmentation (see :func:`area_matches`). Polygons
  cannot express holes, so for polygons only an area *larger* than the polygons' is
  flagged (``--segmentation polygon`` writes a holed mask's pixel count, which is
  smaller); RLE areas are checked both ways.
* Polygons: a list of flat lists of finite numbers, even length >= 6.
* RLE: ``size == [height, width]`` of the image; ``counts`` a compressed str that
  decodes to non-negative runs, or a list of non-negative ints; the runs sum to
  ``height * width``. Runs are checked in pure Python *before* anything is handed
  to pycocotools, whose C decoder writes past its buffer on a bad sum.
* ``iscrowd`` in {0, 1}.
* Keypoints: ``3K`` numbers for the category's K keypoint names, v in {0, 1, 2},
  x = y = 0 where v = 0, ``num_keypoints`` = count of v > 0. A category that names
  no keypoints (missing or ``[]``, as datumaro writes) has an unknown K: then its
  annotations must merely agree with each other on the length, and its skeleton
  is not range-checked (it indexes names that are not there).
* Categories: non-empty unique names; ``keypoints`` a list of unique strings;
  ``skeleton`` pairs of 1-based indices in 1..K.
* With ``images_dir``: each image file exists and its header's size equals
  ``width`` x ``height`` (only the header is read, with Pillow).
* Panoptic files (annotations with ``segments_info``): categories carry ``isthing``;
  one annotation per image, PNG names unique. With ``panoptic_dir`` the PNGs are
  checked as panopticapi's ``pq_compute`` reads them: the file exists, is RGB (a
  palette PNG decodes to palette indices, not segment ids), has the image's size;
  the ids in the PNG (0 = void) are exactly the ``segments_info`` ids, and each
  segment's ``area`` is its pixel count (segments cannot overlap in one PNG).
* Stuff files (``kind="stuff"``; the CLI assumes it for files named ``stuff*.json``):
  at most one annotation per (image, category), and regions of one image do not
  overlap.
* Captions (annotations with ``caption``): a non-empty string on a known image.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: A bbox may pass the image edge by this many pixels. COCO stores coordinates with
#: two decimals and rounds x and w separately, so x + w can exceed the edge by 0.01.
BBOX_EPS = 0.01 + 1e-9

#: ``area`` is consistent when it lies within max(AREA_ABS_TOL, AREA_REL_TOL * ref)
#: of a reference: the segmentation's pixel count as pycocotools rasterizes it, or
#: (for polygons) the polygons' own area. COCO's polygon areas are polygon areas
#: (0.25 % .. 1.4 % from the pixel count on the val2017 sample); blender-coco's and
#: RLE areas are pixel counts. 5 % / 2 px has no false alarm on any file in the
#: shared assets and still catches a doubled area (and, for RLE, a halved one).
AREA_REL_TOL = 0.05
AREA_ABS_TOL = 2.0

_INSTANCE_KEYS = ("bbox", "segmentation", "area", "keypoints", "iscrowd")


@dataclass(frozen=True)
class Problem:
    """One problem: ``where`` names the item (``annotation 7 (image 3)``), ``message`` what is wrong."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _short(v: Any, limit: int = 60) -> str:
    text = repr(v)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ----------------------------------------------------------------------------- RLE


def decode_rle_string(counts: str) -> list[int] | None:
    """pycocotools' compressed RLE string -> run lengths, or None if it is malformed.

    The inverse of ``rleToString`` in pycocotools' maskApi.c: 5-bit groups in chars
    48..111, a continuation bit 0x20, sign bit 0x10 in the last group, and from the
    fourth run on each value is a delta from the run two places back.
    """
    runs: list[int] = []
    p, n = 0, len(counts)
    while p < n:
        x = k = 0
        more = True
        while more:
            if p >= n:
                return None  # truncated: the last group still had its continuation bit
            c = ord(counts[p]) - 48
            if not 0 <= c <= 63:
                return None
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(runs) > 2:
            x += runs[-2]
        runs.append(x)
    return runs


def rle_runs(seg: dict) -> tuple[list[int] | None, str | None]:
    """(runs, None) for a well-formed RLE dict, else (None, what is wrong). Size is checked by the caller."""
    counts = seg.get("counts")
    if isinstance(counts, str):
        runs = decode_rle_string(counts)
        if runs is None:
            return None, "RLE counts is not a valid compressed RLE string"
    elif isinstance(counts, list):
        if not all(_int(c) for c in counts):
            return None, "uncompressed RLE counts must all be integers"
        runs = counts
    else:
        return None, f"RLE counts must be a str (compressed) or a list of ints, got {type(counts).__name__}"
    if any(c < 0 for c in runs):
        return None, "RLE counts has a negative run"
    return runs, None


def segmentation_error(seg: Any, height: int | None, width: int | None) -> str | None:
    """What is wrong with a segmentation (None if nothing). ``height``/``width`` None: image unknown."""
    if isinstance(seg, list):
        for i, poly in enumerate(seg):
            if not isinstance(poly, list):
                return f"polygon {i} must be a flat list of numbers, got {type(poly).__name__}"
            if not all(_num(v) for v in poly):
                return f"polygon {i} has a value that is not a finite number"
            if len(poly) % 2:
                return f"polygon {i} has an odd number of coordinates ({len(poly)})"
            if len(poly) < 6:
                return f"polygon {i} has {len(poly) // 2} points; a polygon needs at least 3"
        return None
    if isinstance(seg, dict):
        size = seg.get("size")
        if not (isinstance(size, list) and len(size) == 2 and all(_int(v) and v >= 0 for v in size)):
            return f"RLE size must be [height, width], got {_short(size)}"
        if height is not None and size != [height, width]:
            return f"RLE size {size} does not match the image's [height, width] = [{height}, {width}]"
        runs, err = rle_runs(seg)
        if err:
            return err
        total = sum(runs)
        if total != size[0] * size[1]:
            return f"RLE runs sum to {total}, not height*width = {size[0] * size[1]}"
        return None
    return f"segmentation must be a list of polygons or an RLE object, got {type(seg).__name__}"


def segmentation_areas(seg: Any, height: int, width: int) -> list[float]:
    """Reference areas of a *valid* non-empty segmentation: pixel count, and polygon area for polygons."""
    if isinstance(seg, dict):
        runs, _ = rle_runs(seg)
        return [float(sum(runs[1::2]))]
    from pycocotools import mask as mask_utils

    rle = mask_utils.merge(mask_utils.frPyObjects(seg, height, width))
    shoelace = 0.0
    for poly in seg:
        xs, ys = poly[0::2], poly[1::2]
        s = sum(xs[i] * ys[i - 1] - xs[i - 1] * ys[i] for i in range(len(xs)))
        shoelace += abs(s) / 2.0
    return [float(mask_utils.area(rle)), shoelace]


def area_matches(area: float, refs: list[float], *, allow_smaller: bool = False) -> bool:
    """True if ``area`` is within max(AREA_ABS_TOL, AREA_REL_TOL * ref) of one of ``refs``.

    ``allow_smaller``: any area up to that bound passes (polygons: the mask may have holes).
    """
    def tol(r: float) -> float:
        return max(AREA_ABS_TOL, AREA_REL_TOL * r)

    if allow_smaller:
        return any(area <= r + tol(r) for r in refs)
    return any(abs(area - r) <= tol(r) for r in refs)


# ----------------------------------------------------------------------------- checks


class _Checker:
    """Accumulates problems while walking one COCO dict."""

    def __init__(self, data: Any, images_dir: Path | None, panoptic_dir: Path | None = None,
                 kind: str | None = None) -> None:
        self.data = data
        self.images_dir = images_dir
        self.panoptic_dir = panoptic_dir
        self.kind = kind
        self.problems: list[Problem] = []
        self.images: dict[int, dict] = {}
        self.categories: dict[int, dict] = {}
        self.num_keypoints: dict[int, int | None] = {}  # category id -> K (None: names not given)

    def add(self, where: str, message: str) -> None:
        self.problems.append(Problem(where, message))

    def run(self) -> list[Problem]:
        data = self.data
        if isinstance(data, list):
            self.add("file", "the top level is a list (a results/detections file?); a COCO dataset is an object "
                             "with 'images', 'annotations' and 'categories'")
            return self.problems
        if not isinstance(data, dict):
            self.add("file", f"the top level must be a JSON object, got {type(data).__name__}")
            return self.problems
        images = self._top_list("images", required=True)
        annotations = self._top_list("annotations", required=True)
        cats_present = "categories" in data
        categories = self._top_list("categories", required=False)
        for key, typ in (("info", dict), ("licenses", list)):
            if key in data and not isinstance(data[key], typ):
                self.add("file", f"'{key}' must be a JSON {'object' if typ is dict else 'list'}, got {type(data[key]).__name__}")

        self.images = self._index(images, "image")
        for img_id, img in self.images.items():
            self._check_image(img_id, img)
        self.categories = self._index(categories, "category")
        self._check_category_names()
        for cat_id, cat in self.categories.items():
            self._check_category(cat_id, cat)

        detection = [a for a in annotations if isinstance(a, dict) and "segments_info" not in a]
        panoptic = [a for a in annotations if isinstance(a, dict) and "segments_info" in a]
        for i, a in enumerate(annotations):
            if not isinstance(a, dict):
                self.add(f"annotations[{i}]", f"must be a JSON object, got {type(a).__name__}")
        check_cats = cats_present and isinstance(data.get("categories"), list)
        if not cats_present and any(any(k in a for k in _INSTANCE_KEYS) for a in detection):
            self.add("file", "'categories' is missing but annotations carry boxes/masks/keypoints; add the categories")
        by_id = self._index(detection, "annotation", positions=[i for i, a in enumerate(annotations)
                                                                 if isinstance(a, dict) and "segments_info" not in a])
        kp_lengths: dict[int, Counter] = defaultdict(Counter)
        for ann_id, ann in by_id.items():
            self._check_annotation(ann_id, ann, check_cats, kp_lengths)
        for ann in panoptic:
            self._check_panoptic(ann, check_cats)
        if panoptic:
            self._check_panoptic_file(panoptic)
        if self.kind == "stuff":
            self._check_stuff(by_id)
        for cat_id, lengths in sorted(kp_lengths.items()):
            if len(lengths) > 1:
                seen = ", ".join(f"{n} values x{c}" for n, c in sorted(lengths.items()))
                self.add(f"category {cat_id}", f"names no keypoints and its annotations disagree on the keypoints length ({seen}); "
                                               "give the category its keypoint names")
        if self.images_dir is not None:
            self._check_image_files()
        return self.problems

    # -- top level and ids

    def _top_list(self, key: str, *, required: bool) -> list:
        if key not in self.data:
            if required:
                self.add("file", f"required key '{key}' is missing")
            return []
        value = self.data[key]
        if not isinstance(value, list):
            self.add("file", f"'{key}' must be a list, got {type(value).__name__}")
            return []
        return value

    def _index(self, items: list, kind: str, positions: list[int] | None = None) -> dict[int, dict]:
        """{id: item} of the items with a valid id; reports bad and duplicate ids."""
        plural = {"image": "images", "annotation": "annotations", "category": "categories"}[kind]
        out: dict[int, dict] = {}
        first: dict[int, int] = {}
        dups: dict[int, list[int]] = {}
        for n, item in enumerate(items):
            pos = positions[n] if positions else n
            if not isinstance(item, dict):
                if kind != "annotation":
                    self.add(f"{plural}[{pos}]", f"must be a JSON object, got {type(item).__name__}")
                continue
            if "id" not in item:
                self.add(f"{plural}[{pos}]", "has no 'id'")
                continue
            item_id = item["id"]
            if not _int(item_id) or item_id <= 0:
                self.add(f"{kind} {_short(item_id)}", f"id must be a positive integer, got {_short(item_id)} ({plural}[{pos}])"
                         + ("; COCOeval never matches a ground truth with id 0" if item_id == 0 and kind == "annotation" else ""))
                if not _int(item_id):
                    continue
            if item_id in first:
                dups.setdefault(item_id, [first[item_id]]).append(pos)
                continue
            first[item_id] = pos
            out[item_id] = item
        for item_id, where in dups.items():
            listed = ", ".join(f"{plural}[{p}]" for p in where)
            self.add(f"{kind} {item_id}", f"duplicate id: used {len(where)} times ({listed}); ids must be unique")
        return out

    # -- images

    def _check_image(self, img_id: int, img: dict) -> None:
        where = f"image {img_id}"
        for key in ("width", "height"):
            v = img.get(key)
            if not (_int(v) and v > 0):
                self.add(where, f"'{key}' must be a positive integer, got {_short(v)}")
        name = img.get("file_name")
        if not (isinstance(name, str) and name):
            self.add(where, f"'file_name' must be a non-empty string, got {_short(name)}")

    def _image_size(self, img_id: Any) -> tuple[int, int] | None:
        img = self.images.get(img_id) if _int(img_id) else None
        if img is None:
            return None
        h, w = img.get("height"), img.get("width")
        return (h, w) if _int(h) and _int(w) and h > 0 and w > 0 else None

    def _check_image_files(self) -> None:
        from PIL import Image, UnidentifiedImageError

        for img_id, img in self.images.items():
            name = img.get("file_name")
            if not (isinstance(name, str) and name):
                continue
            path = self.images_dir / name
            where = f"image {img_id}"
            if not path.is_file():
                self.add(where, f"file {path} does not exist")
                continue
            try:
                with Image.open(path) as im:
                    w, h = im.size
            except (UnidentifiedImageError, OSError) as exc:
                self.add(where, f"file {path} is not an image Pillow can read ({exc.__class__.__name__})")
                continue
            if (w, h) != (img.get("width"), img.get("height")):
                self.add(where, f"file {path} is {w}x{h} but the JSON says {img.get('width')}x{img.get('height')}")

    # -- categories

    def _check_category_names(self) -> None:
        names: dict[str, list[int]] = defaultdict(list)
        for cat_id, cat in self.categories.items():
            name = cat.get("name")
            if not (isinstance(name, str) and name.strip()):
                self.add(f"category {cat_id}", f"'name' must be a non-empty string, got {_short(name)}")
            else:
                names[name].append(cat_id)
        for name, ids in names.items():
            if len(ids) > 1:
                self.add(f"category {ids[1]}", f"name {name!r} is also used by category {ids[0]}; names must be unique")

    def _check_category(self, cat_id: int, cat: dict) -> None:
        where = f"category {cat_id}"
        kps = cat.get("keypoints")
        k: int | None = None
        if kps is not None:
            if not (isinstance(kps, list) and all(isinstance(n, str) for n in kps)):
                self.add(where, f"'keypoints' must be a list of names, got {_short(kps)}")
            else:
                dup = sorted(n for n, c in Counter(kps).items() if c > 1)
                if dup:
                    self.add(where, f"keypoint names must be unique, repeated: {', '.join(dup)}")
                k = len(kps) or None
        self.num_keypoints[cat_id] = k
        skel = cat.get("skeleton")
        if skel is None:
            return
        if not isinstance(skel, list):
            self.add(where, f"'skeleton' must be a list of [a, b] pairs, got {_short(skel)}")
            return
        for j, pair in enumerate(skel):
            if not (isinstance(pair, list) and len(pair) == 2 and all(_int(v) for v in pair)):
                self.add(where, f"skeleton[{j}] must be a pair of integers, got {_short(pair)}")
            elif k is not None and not all(1 <= v <= k for v in pair):
                self.add(where, f"skeleton[{j}] = {pair} must index keypoints 1..{k} (skeleton indices are 1-based)")

    # -- annotations

    def _check_annotation(self, ann_id: int, ann: dict, check_cats: bool, kp_lengths: dict[int, Counter]) -> None:
        img_id = ann.get("image_id")
        where = f"annotation {ann_id} (image {_short(img_id)})"
        size = None
        if "image_id" not in ann:
            self.add(f"annotation {ann_id}", "has no 'image_id'")
        elif not _int(img_id) or img_id not in self.images:
            self.add(where, f"image_id {_short(img_id)} is not an image in this file")
        else:
            size = self._image_size(img_id)
        instance = any(k in ann for k in _INSTANCE_KEYS)
        if "caption" in ann and not isinstance(ann["caption"], str):
            self.add(where, f"'caption' must be a string, got {type(ann['caption']).__name__}")
        elif "caption" in ann and not ann["caption"].strip():
            self.add(where, "'caption' is empty; write a sentence or drop the annotation")

        cat_id = ann.get("category_id")
        known_cat = False
        if "category_id" not in ann:
            if instance:
                self.add(where, "has no 'category_id'")
        elif check_cats and (instance or self.categories):
            known_cat = _int(cat_id) and cat_id in self.categories
            if not known_cat:
                self.add(where, f"category_id {_short(cat_id)} is not a category in this file")
        if not instance:
            return
        for key in ("bbox", "area", "iscrowd"):
            if key not in ann:
                self.add(where, f"has no '{key}'")

        if "bbox" in ann:
            self._check_bbox(where, ann["bbox"], size)
        if "iscrowd" in ann and not (_int(ann["iscrowd"]) and ann["iscrowd"] in (0, 1)):
            self.add(where, f"iscrowd must be 0 or 1, got {_short(ann['iscrowd'])}")

        seg_ok = False
        if "segmentation" in ann:
            seg = ann["segmentation"]
            err = segmentation_error(seg, *(size or (None, None)))
            if err:
                self.add(where, err)
            seg_ok = err is None and size is not None and seg not in ([], None)
        if "area" in ann:
            area = ann["area"]
            if not _num(area):
                self.add(where, f"area must be a number, got {_short(area)}")
            elif area <= 0:
                self.add(where, f"area must be > 0, got {area}")
            elif seg_ok:
                refs = segmentation_areas(ann["segmentation"], *size)
                polygons = isinstance(ann["segmentation"], list)
                if not area_matches(area, refs, allow_smaller=polygons):
                    ref = ", ".join(f"{r:g}" for r in refs)
                    what = "is larger than the polygons cover (pixel count, polygon area" if polygons else \
                        "does not match the segmentation (pixel count"
                    self.add(where, f"area {area:g} {what}: {ref})")

        k = self.num_keypoints.get(cat_id) if known_cat else None
        if "keypoints" in ann:
            self._check_keypoints(where, ann, k, cat_id if known_cat else None, kp_lengths)
        elif known_cat and k is not None:
            self.add(where, f"category {cat_id} has {k} keypoints but the annotation has no 'keypoints'")

    def _check_bbox(self, where: str, bbox: Any, size: tuple[int, int] | None) -> None:
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(_num(v) for v in bbox)):
            self.add(where, f"bbox must be [x, y, w, h] (4 finite numbers), got {_short(bbox)}")
            return
        x, y, w, h = bbox
        if w < 0 or h < 0:
            self.add(where, f"bbox {bbox} has a negative width or height")
            return
        if x < -BBOX_EPS or y < -BBOX_EPS:
            self.add(where, f"bbox {bbox} starts outside the image (negative x or y)")
        if size is not None:
            ih, iw = size
            if x + w > iw + BBOX_EPS or y + h > ih + BBOX_EPS:
                self.add(where, f"bbox {bbox} ends at ({x + w:g}, {y + h:g}), past the image's {iw}x{ih}")

    def _check_keypoints(self, where: str, ann: dict, k: int | None, cat_id: int | None,
                         kp_lengths: dict[int, Counter]) -> None:
        kps = ann["keypoints"]
        if not (isinstance(kps, list) and all(_num(v) for v in kps)):
            self.add(where, "keypoints must be a flat list of numbers [x1, y1, v1, ...]")
            return
        if k is not None and len(kps) != 3 * k:
            self.add(where, f"keypoints has {len(kps)} values; category {cat_id} has {k} keypoints, so 3*{k} = {3 * k}")
            return
        if len(kps) % 3:
            self.add(where, f"keypoints has {len(kps)} values, not a multiple of 3 (x, y, v per keypoint)")
            return
        if k is None and cat_id is not None:
            kp_lengths[cat_id][len(kps)] += 1
        visible = 0
        for j in range(0, len(kps), 3):
            x, y, v = kps[j:j + 3]
            if v not in (0, 1, 2):
                self.add(where, f"keypoint {j // 3 + 1} has v = {v:g}; v must be 0, 1 or 2")
                continue
            if v == 0 and (x != 0 or y != 0):
                self.add(where, f"keypoint {j // 3 + 1} has v = 0 but (x, y) = ({x:g}, {y:g}); unlabelled keypoints must be 0, 0, 0")
            visible += v > 0
        if "num_keypoints" not in ann:
            self.add(where, "has keypoints but no 'num_keypoints'")
        elif ann["num_keypoints"] != visible or not _int(ann["num_keypoints"]):
            self.add(where, f"num_keypoints is {_short(ann['num_keypoints'])} but {visible} keypoints have v > 0")

    def _check_panoptic(self, ann: dict, check_cats: bool) -> None:
        img_id = ann.get("image_id")
        where = f"panoptic annotation (image {_short(img_id)})"
        size = None
        if not _int(img_id) or img_id not in self.images:
            self.add(where, f"image_id {_short(img_id)} is not an image in this file")
        else:
            size = self._image_size(img_id)
        if not (isinstance(ann.get("file_name"), str) and ann["file_name"]):
            self.add(where, f"'file_name' (the segment PNG) must be a non-empty string, got {_short(ann.get('file_name'))}")
        segs = ann["segments_info"]
        if not isinstance(segs, list):
            self.add(where, f"'segments_info' must be a list, got {type(segs).__name__}")
            return
        seen: set[int] = set()
        for n, s in enumerate(segs):
            if not isinstance(s, dict):
                self.add(where, f"segments_info[{n}] must be a JSON object")
                continue
            sid = s.get("id")
            swhere = f"segment {_short(sid)} (image {_short(img_id)})"
            if not (_int(sid) and sid > 0):
                self.add(swhere, f"segment id must be a positive integer (R + 256 G + 256^2 B, 0 is void), got {_short(sid)}")
            elif sid in seen:
                self.add(swhere, "duplicate segment id within this image")
            else:
                seen.add(sid)
            cat_id = s.get("category_id")
            if check_cats and not (_int(cat_id) and cat_id in self.categories):
                self.add(swhere, f"category_id {_short(cat_id)} is not a category in this file")
            if "bbox" in s:
                self._check_bbox(swhere, s["bbox"], size)
            if "area" in s and not (_num(s["area"]) and s["area"] > 0):
                self.add(swhere, f"area must be a number > 0, got {_short(s['area'])}")
            if "iscrowd" in s and not (_int(s["iscrowd"]) and s["iscrowd"] in (0, 1)):
                self.add(swhere, f"iscrowd must be 0 or 1, got {_short(s['iscrowd'])}")


    # -- panoptic PNGs, stuff

    def _check_panoptic_file(self, panoptic: list[dict]) -> None:
        for cat_id, cat in self.categories.items():
            if cat.get("isthing") not in (0, 1):
                self.add(f"category {cat_id}", f"panoptic categories need 'isthing' 0 or 1 (pq_compute reads it), "
                                               f"got {_short(cat.get('isthing'))}")
        per_image: dict[Any, int] = Counter(a.get("image_id") for a in panoptic)
        for img_id, n in per_image.items():
            if n > 1:
                self.add(f"image {_short(img_id)}", f"has {n} panoptic annotations; give each image exactly one")
        names = Counter(a.get("file_name") for a in panoptic if isinstance(a.get("file_name"), str))
        for name, n in names.items():
            if n > 1:
                self.add("file", f"panoptic PNG {name!r} is used by {n} annotations; each image needs its own PNG")
        if self.panoptic_dir is None:
            return
        for ann in panoptic:
            if isinstance(ann.get("file_name"), str) and ann["file_name"] and isinstance(ann.get("segments_info"), list):
                self._check_panoptic_png(ann)

    def _check_panoptic_png(self, ann: dict) -> None:
        import numpy as np
        from PIL import Image, UnidentifiedImageError

        img_id = ann.get("image_id")
        where = f"panoptic annotation (image {_short(img_id)})"
        path = self.panoptic_dir / ann["file_name"]
        if not path.is_file():
            self.add(where, f"segment PNG {path} does not exist")
            return
        try:
            with Image.open(path) as im:
                mode = im.mode
                pixels = np.asarray(im) if mode == "RGB" else None
        except (UnidentifiedImageError, OSError) as exc:
            self.add(where, f"segment PNG {path} cannot be read ({exc.__class__.__name__})")
            return
        if pixels is None:
            what = "a palette PNG: its pixels decode to palette indices, not segment ids" if mode == "P" else f"mode {mode}"
            self.add(where, f"segment PNG {path} is {what}; save it as RGB (id = R + 256 G + 256^2 B)")
            return
        size = self._image_size(img_id)
        if size is not None and pixels.shape[:2] != size:
            self.add(where, f"segment PNG {path} is {pixels.shape[1]}x{pixels.shape[0]} but the image is {size[1]}x{size[0]}")
            return
        rgb = pixels.astype(np.uint32)
        ids, counts = np.unique(rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2], return_counts=True)
        in_png = {int(i): int(c) for i, c in zip(ids, counts) if i != 0}
        segs = {s["id"]: s for s in ann["segments_info"] if isinstance(s, dict) and _int(s.get("id"))}
        missing = sorted(set(in_png) - set(segs))
        if missing:
            self.add(where, f"ids {_short(missing)} are in {path.name} but not in segments_info (0 is void)")
        unused = sorted(set(segs) - set(in_png))
        if unused:
            self.add(where, f"segments_info ids {_short(unused)} have no pixels in {path.name}")
        for sid, seg in segs.items():
            area = seg.get("area")
            if sid in in_png and _num(area) and area != in_png[sid]:
                self.add(f"segment {sid} (image {_short(img_id)})", f"area {area:g} but {in_png[sid]} pixels in {path.name}")

    def _check_stuff(self, by_id: dict[int, dict]) -> None:
        import numpy as np

        from blender_coco.coco.preview import decode_mask

        groups: dict[tuple[Any, Any], list[int]] = defaultdict(list)
        per_image: dict[Any, list[int]] = defaultdict(list)
        for ann_id, ann in by_id.items():
            groups[(ann.get("image_id"), ann.get("category_id"))].append(ann_id)
            per_image[ann.get("image_id")].append(ann_id)
        for (img_id, cat_id), ids in groups.items():
            if len(ids) > 1:
                self.add(f"annotation {ids[1]} (image {_short(img_id)})",
                         f"stuff category {_short(cat_id)} already has annotation {ids[0]} in this image; "
                         "stuff is one region per image and category: merge them")
        for img_id, ids in per_image.items():
            size = self._image_size(img_id)
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
                    self.add(f"annotation {ann_id} (image {_short(img_id)})",
                             f"overlaps stuff annotation {other} on {int(clash.sum())} pixels; a pixel has one stuff class")
                count += m
                owner[m & (owner == 0)] = ann_id


def validate_coco(data: Any, images_dir: Path | None = None, panoptic_dir: Path | None = None,
                  kind: str | None = None) -> list[Problem]:
    """Every problem in a loaded COCO file, in file order per kind; ``[]`` when it is clean.

    ``images_dir``: also check that each image file exists there and has the JSON's size.
    ``panoptic_dir``: the folder of a panoptic file's segment PNGs, checked against it.
    ``kind``: ``"stuff"`` adds the stuff rules (others are recognised by their content).
    """
    return _Checker(data, Path(images_dir) if images_dir is not None else None,
                    Path(panoptic_dir) if panoptic_dir is not None else None, kind).run()


def summary(data: Any, problems: list[Problem]) -> str:
    """One line: what the file holds and how many problems were found."""
    counts = []
    if isinstance(data, dict):
        for key in ("images", "annotations", "categories"):
            if isinstance(data.get(key), list):
                n = len(data[key])
                counts.append(f"{n} {key if n != 1 else key[:-1].replace('categorie', 'category')}")
    held = ", ".join(counts) or "nothing recognisable"
    if not problems:
        return f"OK: no problems ({held})"
    n = len(problems)
    return f"{n} problem{'s' if n != 1 else ''} found ({held})"

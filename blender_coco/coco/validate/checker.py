"""One file's validation run, fed in file order: the top-level values, then each annotation.

:class:`Checker` is what :func:`blender_coco.coco.validate.validate_coco` (a loaded
file) and :func:`~blender_coco.coco.validate.validate_file` (a streamed one) drive:
:meth:`Checker.key` per top-level value, :meth:`Checker.annotations` where the
annotations list starts, :meth:`Checker.annotation` per element, :meth:`Checker.top`
for a top level that is not an object, then :meth:`Checker.finish` for the problems.

Annotations are checked as they come, against the images read so far (annotations
read before the images are held until then); the checks that need the categories
(category_id, keypoints) are put off, with a few values per annotation, until the
categories are read, which in COCO's and our own files come last. Each problem is
filed under a key (section, position, step; :class:`~.common.Report`), so the
result is in the same order whatever the order of the file's keys.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from blender_coco.coco.validate.categories import check_category, check_category_names
from blender_coco.coco.validate.common import Problem, Report, check_id, index_ids, top_list
from blender_coco.coco.validate.images import check_image, check_image_files
from blender_coco.coco.validate.instances import (INSTANCE_KEYS, Deferred, check_annotation,
                                                 check_annotation_categories, check_keypoint_lengths,
                                                 recheck_polygon_areas)
from blender_coco.coco.validate.panoptic import check_panoptic_annotation, check_panoptic_file
from blender_coco.coco.validate.stuff import check_stuff
from blender_coco.values import is_number, short

# ordering keys of the report's sections
_FILE, _IMAGES, _CATEGORIES, _NOT_OBJECTS, _IDS, _ANNOTATIONS, _PANOPTIC, _STUFF, _LENGTHS, _FILES = range(10)
_LAST = float("inf")


class Checker:
    """One file's validation, fed its top-level values and annotations in any order."""

    def __init__(self, images_dir: Path | None, panoptic_dir: Path | None, kind: str | None) -> None:
        self.report = Report()
        self.images_dir, self.panoptic_dir, self.kind = images_dir, panoptic_dir, kind
        self.values: dict[str, Any] = {}
        self.top_level: Any = None
        self.is_object = True
        self.indexed = False           # images (and categories, when seen by then) indexed
        self.cats_indexed = False
        self.counts = {"images": None, "annotations": 0, "categories": None}
        self.buffered: list[tuple[int, Any]] = []   # annotations read before the images
        self.deferred: list[tuple[int, Deferred]] = []  # read before the categories
        self.first: dict[int, int] = {}             # annotation id -> position of its first use
        self.dups: dict[int, list[int]] = {}
        self.panoptic: list[dict] = []
        self.by_id: dict[int, dict] = {}            # stuff files only
        self.any_instance = False
        self.kp_lengths: dict[int, Counter] = defaultdict(Counter)

    # -- feeding
    def top(self, value: Any) -> None:
        self.is_object = False
        self.top_level = value

    def key(self, key: str, value: Any) -> None:
        if key in self.values:
            self.report.key = (_FILE, 4)
            self.report.add("file", f"top-level key '{key}' appears twice; keep one")
        self.values[key] = value
        if key == "info":
            tol = value.get("polygon_tolerance") if isinstance(value, dict) else None
            self.report.polygon_tolerance = float(tol) if is_number(tol) and 0 <= tol <= 100 else None
            self.report.info_read = True
        if key in ("images", "categories") and isinstance(value, list):
            self.counts[key] = len(value)

    def annotations(self) -> None:
        """The ``annotations`` list starts (its elements follow, one :meth:`annotation` call each)."""
        if "annotations" in self.values:
            self.report.key = (_FILE, 4)
            self.report.add("file", "top-level key 'annotations' appears twice; keep one")
        self.values["annotations"] = []

    def annotation(self, pos: int, ann: Any) -> None:
        self.counts["annotations"] += 1
        if not self.indexed:
            if "images" not in self.values:
                self.buffered.append((pos, ann))
                return
            self._index()
        self._check(pos, ann)

    # -- checking
    def _index(self) -> None:
        """Index the images, and the categories if they have been read (else later)."""
        r = self.report
        self.indexed = True
        r.key = (_IMAGES,)
        r.images = index_ids(r, self._list("images", required=True), "image")
        for img_id, img in r.images.items():
            check_image(r, img_id, img)
        if "categories" in self.values:
            self._index_categories()

    def _index_categories(self) -> None:
        r = self.report
        self.cats_indexed = True
        r.key = (_CATEGORIES,)
        r.categories = index_ids(r, self._list("categories", required=False), "category")
        check_category_names(r)
        for cat_id, cat in r.categories.items():
            check_category(r, cat_id, cat)

    def _list(self, key: str, *, required: bool) -> list:
        self.report.key = (_FILE, ("images", "annotations", "categories").index(key))
        return top_list(self.report, self.values, key, required=required)

    def _info(self) -> None:
        r = self.report
        r.key = (_FILE, 3)
        for key, typ in (("info", dict), ("licenses", list)):
            if key in self.values and not isinstance(self.values[key], typ):
                r.add("file", f"'{key}' must be a JSON {'object' if typ is dict else 'list'}, "
                              f"got {type(self.values[key]).__name__}")
        info = self.values.get("info") if isinstance(self.values.get("info"), dict) else {}
        if "polygon_tolerance" in info and r.polygon_tolerance is None:
            r.add("file", f"info.polygon_tolerance must be the polygons' simplification in pixels (0..100), "
                          f"got {short(info['polygon_tolerance'])}")

    def _check(self, pos: int, ann: Any) -> None:
        r = self.report
        if not isinstance(ann, dict):
            r.key = (_NOT_OBJECTS, pos)
            r.add(f"annotations[{pos}]", f"must be a JSON object, got {type(ann).__name__}")
            return
        if "segments_info" in ann:
            self.panoptic.append(ann)
            return
        if not ann.keys().isdisjoint(INSTANCE_KEYS):
            self.any_instance = True
        r.key = (_IDS, pos)
        ann_id = check_id(r, ann, "annotation", pos)
        if ann_id is None:
            return
        if ann_id in self.first:
            self.dups.setdefault(ann_id, [self.first[ann_id]]).append(pos)
            return
        self.first[ann_id] = pos
        if self.kind == "stuff":
            self.by_id[ann_id] = ann
        step = (_ANNOTATIONS, pos)
        r.key = step + (0,)
        deferred = check_annotation(r, ann_id, ann, step=step)
        if self.cats_indexed:
            check_annotation_categories(r, deferred, self._check_cats(), self.kp_lengths, step=step)
        else:
            self.deferred.append((pos, deferred))

    def _check_cats(self) -> bool:
        return isinstance(self.values.get("categories"), list)

    def finish(self) -> list[Problem]:
        r = self.report
        if not self.is_object:
            r.key = (_FILE,)
            if isinstance(self.top_level, list):
                r.add("file", "the top level is a list (a results/detections file?); a COCO dataset is an object "
                              "with 'images', 'annotations' and 'categories'")
            else:
                r.add("file", f"the top level must be a JSON object, got {type(self.top_level).__name__}")
            return r.ordered()
        if not self.indexed:
            self._index()
        self._info()
        self._list("annotations", required=True)
        for pos, ann in self.buffered:
            self._check(pos, ann)
        self.buffered = []
        if not self.cats_indexed:
            self._index_categories()
        check_cats = self._check_cats()
        for pos, deferred in self.deferred:
            check_annotation_categories(r, deferred, check_cats, self.kp_lengths, step=(_ANNOTATIONS, pos))
        self.deferred = []
        recheck_polygon_areas(r)
        r.key = (_NOT_OBJECTS, _LAST)
        if "categories" not in self.values and self.any_instance:
            r.add("file", "'categories' is missing but annotations carry boxes/masks/keypoints; add the categories")
        r.key = (_IDS, _LAST)
        for ann_id, where in self.dups.items():
            listed = ", ".join(f"annotations[{p}]" for p in where)
            r.add(f"annotation {ann_id}", f"duplicate id: used {len(where)} times ({listed}); ids must be unique")
        r.key = (_PANOPTIC,)
        for ann in self.panoptic:
            check_panoptic_annotation(r, ann, check_cats)
        if self.panoptic:
            check_panoptic_file(r, self.panoptic, Path(self.panoptic_dir) if self.panoptic_dir is not None else None)
        r.key = (_STUFF,)
        if self.kind == "stuff":
            check_stuff(r, self.by_id)
        r.key = (_LENGTHS,)
        check_keypoint_lengths(r, self.kp_lengths)
        r.key = (_FILES,)
        if self.images_dir is not None:
            check_image_files(r, Path(self.images_dir))
        return r.ordered()

    def held(self) -> str:
        """What the file holds, as :func:`summary` says it."""
        counts = []
        if self.is_object:
            for key in ("images", "annotations", "categories"):
                n = self.counts[key] if key != "annotations" or isinstance(self.values.get("annotations"), list) else None
                if n is not None:
                    counts.append(f"{n} {key if n != 1 else key[:-1].replace('categorie', 'category')}")
        return ", ".join(counts) or "nothing recognisable"

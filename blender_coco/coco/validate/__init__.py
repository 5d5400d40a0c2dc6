"""Validate a COCO file: structure and meaning, every problem as one line.

* :func:`validate_coco` -- every :class:`Problem` of a loaded COCO file (plus, on
  request, its image files and panoptic PNGs); ``[]`` when it is clean.
* :func:`validate_file` -- the same for a file read as a stream, in bounded memory
  (what ``blender-coco validate`` uses: a 2M-annotation file of 850 MB validates in
  under 1 GB, where loading it whole takes 6-8 GB).
* :func:`summary` -- one line: what the file holds and how many problems.

It is a pure function of the loaded JSON. It never stops at the first problem: it
returns every problem it finds, each naming the image, annotation or category id,
so a user can fix a file in one pass. ``blender-coco validate`` prints them. The
export stage does not validate what it writes; the test suite does, on every kind
of file it writes.

The rules, one module per file kind (see :mod:`blender_coco.coco.dataset` for the
format's conventions):

* :mod:`.common` -- the top level: a JSON object with ``images`` and ``annotations``
  lists; ``categories`` a list (required once any annotation carries a box, mask or
  keypoints); ``info`` an object and ``licenses`` a list when present
  (``info.polygon_tolerance``, when given, a number of pixels: see :mod:`.instances`). Ids: positive
  integers, unique per kind (COCOeval stores the matched ground-truth id in
  ``dtMatches`` and tests it with ``> 0``, so a ground-truth annotation with id 0 is
  never matched: id 0 is a real problem, not pedantry). ``bbox``: 4 finite numbers,
  w and h >= 0, inside the image within ``BBOX_EPS`` px.
* :mod:`.images` -- image entries; with ``images_dir`` each file exists and its
  header's size equals ``width`` x ``height``.
* :mod:`.categories` -- non-empty unique names; ``keypoints`` unique strings;
  ``skeleton`` pairs of 1-based indices in 1..K.
* :mod:`.instances` -- instance annotations: references, ``bbox``, ``area`` (> 0 and
  consistent with the segmentation: polygons cannot express holes, so for polygons
  only an area *larger* than the polygons' is flagged; RLE areas both ways; not
  for crowd regions, whose COCO areas are not pixel counts),
  ``iscrowd``, ``segmentation`` (polygons and RLE, checked by
  :func:`blender_coco.coco.segmentation.segmentation_error` before pycocotools sees
  them) and keypoints.
* :mod:`.panoptic` -- annotations with ``segments_info`` and, with ``panoptic_dir``,
  their PNGs as panopticapi's ``pq_compute`` reads them.
* :mod:`.stuff` -- ``kind="stuff"`` (the CLI assumes it for files named
  ``stuff*.json``): one region per (image, category), regions do not overlap.
* :mod:`.captions` -- annotations with ``caption``: a non-empty string on a known image.
* :mod:`.grouping` -- how ``blender-coco validate`` prints them: identical problems of
  many items as one line with a count (``977 annotations have no 'iscrowd' (e.g.
  annotation 1, 2, 3)``); this API keeps every problem.

Problems come in this order: the top level, images, categories, annotations (file
order), panoptic annotations, the panoptic file and PNGs, stuff, keypoint lengths,
image files.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, NamedTuple

from blender_coco.coco.validate.categories import check_category, check_category_names
from blender_coco.coco.validate.common import Problem, Report, index_ids, top_list
from blender_coco.coco.validate.images import check_image, check_image_files
from blender_coco.coco.validate.instances import (INSTANCE_KEYS, Deferred, check_annotation,
                                                 check_annotation_categories, check_keypoint_lengths,
                                                 recheck_polygon_areas)
from blender_coco.coco.validate.panoptic import check_panoptic_annotation, check_panoptic_file
from blender_coco.coco.validate.stuff import check_stuff
from blender_coco.values import is_int, is_number, short

__all__ = ["Problem", "summary", "validate_coco", "validate_file"]


def validate_coco(data: Any, images_dir: Path | None = None, panoptic_dir: Path | None = None,
                  kind: str | None = None) -> list[Problem]:
    """Every problem in a loaded COCO file, in file order per kind; ``[]`` when it is clean.

    ``images_dir``: also check that each image file exists there and has the JSON's size.
    ``panoptic_dir``: the folder of a panoptic file's segment PNGs, checked against it.
    ``kind``: ``"stuff"`` adds the stuff rules (others are recognised by their content).
    """
    checker = _Checker(images_dir, panoptic_dir, kind)
    if not isinstance(data, dict):
        checker.top(data)
    else:
        anns = data.get("annotations")
        for key, value in data.items():
            if key != "annotations" or not isinstance(anns, list):
                checker.key(key, value)
        checker.report.info_read = True  # every other key is read before the annotations
        if isinstance(anns, list):
            checker.annotations()
            for pos, ann in enumerate(anns):
                checker.annotation(pos, ann)
    return checker.finish()


class FileReport(NamedTuple):
    """What :func:`validate_file` found: the problems, what the file holds (for
    :func:`summary`), and whether it has panoptic annotations."""

    problems: list[Problem]
    held: str
    panoptic: bool


def validate_file(path: str | Path, images_dir: Path | None = None, panoptic_dir: Path | None = None,
                  kind: str | None = None) -> FileReport:
    """:func:`validate_coco` of a COCO file read as a stream
    (:func:`blender_coco.coco.jsonstream.iter_coco`): one annotation in memory at a time,
    plus a few values per annotation while the categories are not yet read (they
    usually come last). The problems are the same, in the same order."""
    from blender_coco.coco.jsonstream import iter_coco

    checker = _Checker(images_dir, panoptic_dir, kind)
    for what, key, value in iter_coco(path):
        if what == "annotation":
            checker.annotation(key, value)
        elif what == "annotations":
            checker.annotations()
        elif what == "key":
            checker.key(key, value)
        else:
            checker.top(value)
    problems = checker.finish()
    return FileReport(problems, checker.held(), bool(checker.panoptic))


# ordering keys of the report's sections
_FILE, _IMAGES, _CATEGORIES, _NOT_OBJECTS, _IDS, _ANNOTATIONS, _PANOPTIC, _STUFF, _LENGTHS, _FILES = range(10)
_LAST = float("inf")


class _Checker:
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
        if "id" not in ann:
            r.add(f"annotations[{pos}]", "has no 'id'")
            return
        ann_id = ann["id"]
        if not is_int(ann_id) or ann_id <= 0:
            r.add(f"annotation {short(ann_id)}", f"id must be a positive integer, got {short(ann_id)} (annotations[{pos}])"
                  + ("; COCOeval never matches a ground truth with id 0" if ann_id == 0 else ""))
            if not is_int(ann_id):
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


def summary(data: Any, problems: list[Problem], held: str | None = None) -> str:
    """One line: what the file holds (``held``, as :func:`validate_file` says it, or counted
    in ``data``) and how many problems were found."""
    if held is None:
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

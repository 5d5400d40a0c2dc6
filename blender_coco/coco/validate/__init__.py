"""Validate a COCO file: structure and meaning, every problem as one line.

* :func:`validate_coco` -- every :class:`Problem` of a loaded COCO file (plus, on
  request, its image files and panoptic PNGs); ``[]`` when it is clean.
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
  keypoints); ``info`` an object and ``licenses`` a list when present. Ids: positive
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
  them) and keypoints; :mod:`.amodal` -- the amodal keys (all five, amodal mask inside
  the image and containing the visible one, ``area <= amodal_area``, fractions in range).
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
from typing import Any

from blender_coco.coco.validate.categories import check_category, check_category_names
from blender_coco.coco.validate.common import Problem, Report, index_ids, top_list
from blender_coco.coco.validate.images import check_image, check_image_files
from blender_coco.coco.validate.instances import INSTANCE_KEYS, check_annotation, check_keypoint_lengths
from blender_coco.coco.validate.panoptic import check_panoptic_annotation, check_panoptic_file
from blender_coco.coco.validate.stuff import check_stuff

__all__ = ["Problem", "summary", "validate_coco"]


def validate_coco(data: Any, images_dir: Path | None = None, panoptic_dir: Path | None = None,
                  kind: str | None = None) -> list[Problem]:
    """Every problem in a loaded COCO file, in file order per kind; ``[]`` when it is clean.

    ``images_dir``: also check that each image file exists there and has the JSON's size.
    ``panoptic_dir``: the folder of a panoptic file's segment PNGs, checked against it.
    ``kind``: ``"stuff"`` adds the stuff rules (others are recognised by their content).
    """
    report = Report()
    if isinstance(data, list):
        report.add("file", "the top level is a list (a results/detections file?); a COCO dataset is an object "
                           "with 'images', 'annotations' and 'categories'")
        return report.problems
    if not isinstance(data, dict):
        report.add("file", f"the top level must be a JSON object, got {type(data).__name__}")
        return report.problems
    images = top_list(report, data, "images", required=True)
    annotations = top_list(report, data, "annotations", required=True)
    cats_present = "categories" in data
    categories = top_list(report, data, "categories", required=False)
    for key, typ in (("info", dict), ("licenses", list)):
        if key in data and not isinstance(data[key], typ):
            report.add("file", f"'{key}' must be a JSON {'object' if typ is dict else 'list'}, got {type(data[key]).__name__}")

    report.images = index_ids(report, images, "image")
    for img_id, img in report.images.items():
        check_image(report, img_id, img)
    report.categories = index_ids(report, categories, "category")
    check_category_names(report)
    for cat_id, cat in report.categories.items():
        check_category(report, cat_id, cat)

    detection = [a for a in annotations if isinstance(a, dict) and "segments_info" not in a]
    panoptic = [a for a in annotations if isinstance(a, dict) and "segments_info" in a]
    for i, a in enumerate(annotations):
        if not isinstance(a, dict):
            report.add(f"annotations[{i}]", f"must be a JSON object, got {type(a).__name__}")
    check_cats = cats_present and isinstance(data.get("categories"), list)
    if not cats_present and any(any(k in a for k in INSTANCE_KEYS) for a in detection):
        report.add("file", "'categories' is missing but annotations carry boxes/masks/keypoints; add the categories")
    by_id = index_ids(report, detection, "annotation", positions=[i for i, a in enumerate(annotations)
                                                                  if isinstance(a, dict) and "segments_info" not in a])
    kp_lengths: dict[int, Counter] = defaultdict(Counter)
    for ann_id, ann in by_id.items():
        check_annotation(report, ann_id, ann, check_cats, kp_lengths)
    for ann in panoptic:
        check_panoptic_annotation(report, ann, check_cats)
    if panoptic:
        check_panoptic_file(report, panoptic, Path(panoptic_dir) if panoptic_dir is not None else None)
    if kind == "stuff":
        check_stuff(report, by_id)
    check_keypoint_lengths(report, kp_lengths)
    if images_dir is not None:
        check_image_files(report, Path(images_dir))
    return report.problems


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

"""Instance annotations (and the fields every detection-style annotation shares).

* :func:`check_annotation` -- ``image_id`` and ``category_id`` resolve (files
  without categories whose annotations carry no box/mask/keypoints, as captions and
  image_info, are fine); an *instance* annotation (any of :data:`INSTANCE_KEYS`)
  has ``bbox``, ``area``, ``iscrowd`` and ``category_id``, ``iscrowd`` in {0, 1},
  a valid ``segmentation`` (optional: a box-only annotation leaves it out; ``[]`` is
  reported, since pycocotools' ``annToMask`` raises IndexError on it and Detectron2
  drops such an annotation; polygon vertices inside the image within
  :data:`~blender_coco.coco.segmentation.POLYGON_MARGIN`; see
  :mod:`blender_coco.coco.segmentation`), ``area`` > 0 and consistent with it
  (:func:`area_matches`), and valid keypoints; amodal keys: :mod:`.amodal`.
* Simplified polygons: a file whose ``info.polygon_tolerance`` (px) says its polygons
  were simplified (blender-coco's export and masks2coco write it for a tolerance over
  0.2 px) may have polygons that cover fewer pixels than ``area``, which stays the
  mask's pixel count; :func:`polygon_allowance` bounds how many.
* Crowd regions (``iscrowd`` 1) follow other rules in COCO itself: their ``area`` is
  not the mask's pixel count (COCO val2014's crowd areas run up to 1.13x their RLE's
  pixel count). For them everything above is checked except area against the
  segmentation: ``area`` must still be a number > 0 and the RLE or polygons valid.
* Keypoints: ``3K`` numbers for the category's K keypoint names, v in {0, 1, 2},
  x = y = 0 where v = 0, ``num_keypoints`` = count of v > 0. A category that names
  no keypoints has an unknown K: then its annotations must merely agree with each
  other on the length (:func:`check_keypoint_lengths`).
* The bbox is *not* compared with the mask: third-party files (datumaro's fixtures)
  disagree by design, and COCO's own boxes are polygon extents, not mask extents.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from blender_coco.coco.segmentation import (outline_length, pixel_count, polygon_area, segmentation_areas,
                                            segmentation_error)
from blender_coco.coco.validate.amodal import check_amodal
from blender_coco.coco.validate.captions import check_caption
from blender_coco.coco.validate.common import Report, check_bbox
from blender_coco.values import is_int, is_number, short

#: An annotation holding any of these is an instance annotation (box, mask or keypoints).
INSTANCE_KEYS = ("bbox", "segmentation", "area", "keypoints", "iscrowd")

#: ``area`` is consistent when it lies within max(AREA_ABS_TOL, AREA_REL_TOL * ref)
#: of a reference: the segmentation's pixel count as pycocotools rasterizes it, or
#: (for polygons) the polygons' own area. COCO's polygon areas are polygon areas
#: (0.25 % .. 1.4 % from the pixel count on the val2017 sample); blender-coco's and
#: RLE areas are pixel counts. 5 % / 2 px has no false alarm on any file in the
#: shared assets and still catches a doubled area (and, for RLE, a halved one).
AREA_REL_TOL = 0.05
AREA_ABS_TOL = 2.0


def area_matches(area: float, refs: list[float], *, allow_smaller: bool = False) -> bool:
    """True if ``area`` is within max(AREA_ABS_TOL, AREA_REL_TOL * ref) of one of ``refs``.

    ``allow_smaller``: any area up to that bound passes (polygons: the mask may have holes).
    """
    def tol(r: float) -> float:
        return max(AREA_ABS_TOL, AREA_REL_TOL * r)

    if allow_smaller:
        return any(area <= r + tol(r) for r in refs)
    return any(abs(area - r) <= tol(r) for r in refs)


#: What :func:`check_annotation` leaves for :func:`check_annotation_categories`: the
#: annotation's id, image id, whether it is an instance annotation, and its
#: ``category_id``, ``keypoints`` and ``num_keypoints`` (:data:`MISSING` when absent).
Deferred = tuple


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()


def check_annotation(report: Report, ann_id: int, ann: dict, *, step: tuple | None = None) -> Deferred:
    """The rules for one (non-panoptic) annotation that need no categories (its image, box,
    segmentation, area); returns what :func:`check_annotation_categories` checks once the
    categories are known. ``step``: the report's ordering key for this annotation
    (problems about the category and the keypoints get keys that sort them where a
    reader expects them: after the image, and last)."""
    img_id = ann.get("image_id")
    where = lambda: f"annotation {ann_id} (image {short(img_id)})"  # noqa: E731 (built only for a problem)
    size = None
    if "image_id" not in ann:
        report.add(f"annotation {ann_id}", "has no 'image_id'")
    elif not is_int(img_id) or img_id not in report.images:
        report.add(where, f"image_id {short(img_id)} is not an image in this file")
    else:
        size = report.image_size(img_id)
    instance = not ann.keys().isdisjoint(INSTANCE_KEYS)
    if "caption" in ann:
        check_caption(report, where, ann)
    deferred = (ann_id, img_id, instance, ann.get("category_id", MISSING), ann.get("keypoints", MISSING),
                ann.get("num_keypoints", MISSING))
    if step is not None:
        report.key = step + (2,)
    if "category_id" not in ann and instance:
        report.add(where, "has no 'category_id'")
    if not instance:
        return deferred
    for key in ("bbox", "area", "iscrowd"):
        if key not in ann:
            report.add(where, f"has no '{key}'")

    if "bbox" in ann:
        check_bbox(report, where, ann["bbox"], size)
    if "iscrowd" in ann and not (is_int(ann["iscrowd"]) and ann["iscrowd"] in (0, 1)):
        report.add(where, f"iscrowd must be 0 or 1, got {short(ann['iscrowd'])}")

    seg_ok = False
    if "segmentation" in ann:
        seg = ann["segmentation"]
        err = segmentation_error(seg, *(size or (None, None)))
        if isinstance(seg, list) and not seg:
            report.add(where, "segmentation is [] (no polygons): pycocotools' annToMask fails on it and Detectron2 "
                              "drops the annotation; leave 'segmentation' out for a box-only annotation")
        elif err:
            report.add(where, err)
        seg_ok = err is None and size is not None and seg not in ([], None)
    if "area" in ann:
        area = ann["area"]
        if not is_number(area):
            report.add(where, f"area must be a number, got {short(area)}")
        elif area <= 0:
            report.add(where, f"area must be > 0, got {area}")
        elif seg_ok and ann.get("iscrowd") != 1:  # crowd areas are not pixel counts (module docstring)
            seg = ann["segmentation"]
            if isinstance(seg, list):
                _check_polygon_area(report, where, area, seg, size, report.polygon_tolerance)
            else:
                refs = segmentation_areas(seg, *size)
                if not area_matches(area, refs):
                    report.add(where, f"area {area:g} does not match the segmentation (pixel count: {refs[0]:g})")
    check_amodal(report, where, ann, size)
    return deferred


def check_annotation_categories(report: Report, deferred: Deferred, check_cats: bool,
                                kp_lengths: dict[int, Counter], *, step: tuple | None = None) -> None:
    """The rules of one annotation that need the categories: ``category_id`` and keypoints.
    ``kp_lengths`` collects the keypoints lengths of categories that name no keypoints, for
    :func:`check_keypoint_lengths`."""
    ann_id, img_id, instance, cat_id, kps, num = deferred
    where = lambda: f"annotation {ann_id} (image {short(img_id)})"  # noqa: E731
    if step is not None:
        report.key = step + (1,)
    known_cat = False
    if cat_id is not MISSING and check_cats and (instance or report.categories):
        known_cat = is_int(cat_id) and cat_id in report.categories
        if not known_cat:
            report.add(where, f"category_id {short(cat_id)} is not a category in this file")
    if not instance:
        return
    if step is not None:
        report.key = step + (3,)
    k = report.num_keypoints.get(cat_id) if known_cat else None
    if kps is not MISSING:
        _check_keypoints(report, where, kps, num, k, cat_id if known_cat else None, kp_lengths)
    elif known_cat and k is not None:
        report.add(where, f"category {cat_id} has {k} keypoints but the annotation has no 'keypoints'")


def _check_polygon_area(report: Report, where: str, area: float, seg: list, size: tuple[int, int],
                        tolerance: float | None) -> None:
    """Polygons cannot express holes, so only an area larger than they cover is wrong: larger
    than their own area and their pixel count (measured only when the cheap polygon area
    does not settle it), beyond :func:`polygon_allowance` for simplified polygons."""
    slack = polygon_allowance(seg, tolerance) if tolerance else 0.0
    shoelace = polygon_area(seg)
    if area - slack <= shoelace + max(AREA_ABS_TOL, AREA_REL_TOL * shoelace):  # area_matches, inline: the common case
        return
    pixels = pixel_count(seg, *size)
    if area_matches(area - slack, [pixels], allow_smaller=True):
        return
    if not report.info_read:  # a streamed file whose info (and its polygon_tolerance) comes later
        report.pending_areas.append((report.key, where, area, pixels, shoelace, outline_length(seg)))
        return
    _report_polygon_area(report, where, area, pixels, shoelace, tolerance, slack)


def _report_polygon_area(report: Report, where: str, area: float, pixels: float, shoelace: float,
                         tolerance: float | None, slack: float) -> None:
    simplified = f"; polygons simplified with tolerance {tolerance:g} px may lose {slack:.0f}" if slack else ""
    report.add(where, f"area {area:g} is larger than the polygons cover (pixel count, polygon area: "
                      f"{pixels:g}, {shoelace:g}{simplified})")


def recheck_polygon_areas(report: Report) -> None:
    """Judge the polygon areas put off until the file's info was read (see :func:`check_annotation`)."""
    key = report.key
    tolerance = report.polygon_tolerance
    for report.key, where, area, pixels, shoelace, outline in report.pending_areas:
        slack = _slack(outline, tolerance)
        if not area_matches(area - slack, [shoelace, pixels], allow_smaller=True):
            _report_polygon_area(report, where, area, pixels, shoelace, tolerance, slack)
    report.pending_areas = []
    report.key = key


def polygon_allowance(seg: list, tolerance: float | None) -> float:
    """Pixels that polygons simplified with ``tolerance`` px (``info.polygon_tolerance``) may
    lose against the mask they outline; 0 without a tolerance.

    Douglas-Peucker moves the outline by at most the tolerance and pycocotools snaps
    vertices to a 1/5 px grid (<= 0.141 px), so a lost pixel's centre lies in a band of
    width d = tolerance + 0.15 along an edge; a band along an edge of length l holds at
    most (l + 1)(d + 1) pixel centres. Summed over the edges: (L + n)(tolerance + 1.15),
    L the outline's length and n its vertex count. Measured loss on synthetic masks at
    tolerances 0.5..10: at most half of this.
    """
    return _slack(outline_length(seg), tolerance) if tolerance else 0.0


def _slack(outline: tuple[float, int], tolerance: float | None) -> float:
    length, n = outline
    return (length + n) * (tolerance + 1.15) if tolerance else 0.0


def _check_keypoints(report: Report, where: str, kps: Any, num: Any, k: int | None, cat_id: int | None,
                     kp_lengths: dict[int, Counter]) -> None:
    if not (isinstance(kps, list) and all(is_number(v) for v in kps)):
        report.add(where, "keypoints must be a flat list of numbers [x1, y1, v1, ...]")
        return
    if k is not None and len(kps) != 3 * k:
        report.add(where, f"keypoints has {len(kps)} values; category {cat_id} has {k} keypoints, so 3*{k} = {3 * k}")
        return
    if len(kps) % 3:
        report.add(where, f"keypoints has {len(kps)} values, not a multiple of 3 (x, y, v per keypoint)")
        return
    if k is None and cat_id is not None:
        kp_lengths[cat_id][len(kps)] += 1
    visible = 0
    for j in range(0, len(kps), 3):
        x, y, v = kps[j:j + 3]
        if v not in (0, 1, 2):
            report.add(where, f"keypoint {j // 3 + 1} has v = {v:g}; v must be 0, 1 or 2")
            continue
        if v == 0 and (x != 0 or y != 0):
            report.add(where, f"keypoint {j // 3 + 1} has v = 0 but (x, y) = ({x:g}, {y:g}); unlabelled keypoints must be 0, 0, 0")
        visible += v > 0
    if num is MISSING:
        report.add(where, "has keypoints but no 'num_keypoints'")
    elif num != visible or not is_int(num):
        report.add(where, f"num_keypoints is {short(num)} but {visible} keypoints have v > 0")


def check_keypoint_lengths(report: Report, kp_lengths: dict[int, Counter]) -> None:
    """A category naming no keypoints: its annotations must agree on the keypoints length."""
    for cat_id, lengths in sorted(kp_lengths.items()):
        if len(lengths) > 1:
            seen = ", ".join(f"{n} values x{c}" for n, c in sorted(lengths.items()))
            report.add(f"category {cat_id}", f"names no keypoints and its annotations disagree on the keypoints length ({seen}); "
                                             "give the category its keypoint names")

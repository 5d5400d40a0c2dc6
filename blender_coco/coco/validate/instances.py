"""Instance annotations (and the fields every detection-style annotation shares).

* :func:`check_annotation` -- ``image_id`` and ``category_id`` resolve (files
  without categories whose annotations carry no box/mask/keypoints, as captions and
  image_info, are fine); an *instance* annotation (any of :data:`INSTANCE_KEYS`)
  has ``bbox``, ``area``, ``iscrowd`` and ``category_id``, ``iscrowd`` in {0, 1},
  a valid ``segmentation`` (optional; ``[]`` means "box only"; see
  :mod:`blender_coco.coco.segmentation`), ``area`` > 0 and consistent with it
  (:func:`area_matches`), and valid keypoints; amodal keys: :mod:`.amodal`.
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

from blender_coco.coco.segmentation import segmentation_areas, segmentation_error
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


def check_annotation(report: Report, ann_id: int, ann: dict, check_cats: bool, kp_lengths: dict[int, Counter]) -> None:
    """Every rule for one (non-panoptic) annotation; ``kp_lengths`` collects the keypoints
    lengths of categories that name no keypoints, for :func:`check_keypoint_lengths`."""
    img_id = ann.get("image_id")
    where = f"annotation {ann_id} (image {short(img_id)})"
    size = None
    if "image_id" not in ann:
        report.add(f"annotation {ann_id}", "has no 'image_id'")
    elif not is_int(img_id) or img_id not in report.images:
        report.add(where, f"image_id {short(img_id)} is not an image in this file")
    else:
        size = report.image_size(img_id)
    instance = any(k in ann for k in INSTANCE_KEYS)
    check_caption(report, where, ann)

    cat_id = ann.get("category_id")
    known_cat = False
    if "category_id" not in ann:
        if instance:
            report.add(where, "has no 'category_id'")
    elif check_cats and (instance or report.categories):
        known_cat = is_int(cat_id) and cat_id in report.categories
        if not known_cat:
            report.add(where, f"category_id {short(cat_id)} is not a category in this file")
    if not instance:
        return
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
        if err:
            report.add(where, err)
        seg_ok = err is None and size is not None and seg not in ([], None)
    if "area" in ann:
        area = ann["area"]
        if not is_number(area):
            report.add(where, f"area must be a number, got {short(area)}")
        elif area <= 0:
            report.add(where, f"area must be > 0, got {area}")
        elif seg_ok and ann.get("iscrowd") != 1:  # crowd areas are not pixel counts (module docstring)
            refs = segmentation_areas(ann["segmentation"], *size)
            polygons = isinstance(ann["segmentation"], list)
            if not area_matches(area, refs, allow_smaller=polygons):
                ref = ", ".join(f"{r:g}" for r in refs)
                what = "is larger than the polygons cover (pixel count, polygon area" if polygons else \
                    "does not match the segmentation (pixel count"
                report.add(where, f"area {area:g} {what}: {ref})")

    check_amodal(report, where, ann, size)
    k = report.num_keypoints.get(cat_id) if known_cat else None
    if "keypoints" in ann:
        _check_keypoints(report, where, ann, k, cat_id if known_cat else None, kp_lengths)
    elif known_cat and k is not None:
        report.add(where, f"category {cat_id} has {k} keypoints but the annotation has no 'keypoints'")


def _check_keypoints(report: Report, where: str, ann: dict, k: int | None, cat_id: int | None,
                     kp_lengths: dict[int, Counter]) -> None:
    kps = ann["keypoints"]
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
    if "num_keypoints" not in ann:
        report.add(where, "has keypoints but no 'num_keypoints'")
    elif ann["num_keypoints"] != visible or not is_int(ann["num_keypoints"]):
        report.add(where, f"num_keypoints is {short(ann['num_keypoints'])} but {visible} keypoints have v > 0")


def check_keypoint_lengths(report: Report, kp_lengths: dict[int, Counter]) -> None:
    """A category naming no keypoints: its annotations must agree on the keypoints length."""
    for cat_id, lengths in sorted(kp_lengths.items()):
        if len(lengths) > 1:
            seen = ", ".join(f"{n} values x{c}" for n, c in sorted(lengths.items()))
            report.add(f"category {cat_id}", f"names no keypoints and its annotations disagree on the keypoints length ({seen}); "
                                             "give the category its keypoint names")

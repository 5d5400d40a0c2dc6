"""Test helpers that let pycocotools judge our output (decode, IoU, self-evaluation)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def decode(seg, height: int, width: int) -> np.ndarray:
    """Segmentation (polygons, compressed or uncompressed RLE) -> bool mask, via pycocotools."""
    if isinstance(seg, list):
        rle = mask_utils.merge(mask_utils.frPyObjects(seg, height, width))
    elif isinstance(seg["counts"], list):
        rle = mask_utils.frPyObjects(seg, height, width)
    else:
        rle = {"size": seg["size"], "counts": seg["counts"].encode("ascii")}
    return mask_utils.decode(rle).astype(bool)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def load_coco(path_or_dict) -> COCO:
    """Load with pycocotools.coco.COCO, silencing its prints."""
    with contextlib.redirect_stdout(io.StringIO()):
        if isinstance(path_or_dict, (str, Path)):
            return COCO(str(path_or_dict))
        coco = COCO()
        coco.dataset = json.loads(json.dumps(path_or_dict))
        coco.createIndex()
        return coco


def evaluate(gt: COCO, dets: list[dict], iou_type: str, cat_ids=None, kpt_oks_sigmas=None) -> float:
    """COCOeval AP (stats[0]) of detections ``dets`` against ``gt``, pycocotools' prints silenced.

    ``cat_ids`` restricts the evaluated categories (keypoint evaluation needs it when
    other categories exist: pycocotools reads ``num_keypoints`` of every evaluated
    ground truth); ``kpt_oks_sigmas`` replaces COCO's 17 sigmas for other keypoint sets.
    """
    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(gt, gt.loadRes(dets), iou_type)
        if cat_ids is not None:
            ev.params.catIds = list(cat_ids)
        if kpt_oks_sigmas is not None:
            ev.params.kpt_oks_sigmas = np.asarray(kpt_oks_sigmas, dtype=float)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0])


def self_eval(path_or_dict, iou_type: str, cat_ids=None, kpt_oks_sigmas=None) -> float:
    """AP of ground truth evaluated against itself (every detection scored 1.0).

    For keypoints, ``cat_ids`` defaults to the categories that have keypoints.
    """
    gt = load_coco(path_or_dict)
    wanted = None if cat_ids is None else set(cat_ids)
    dets = []
    for ann in gt.dataset["annotations"]:
        if wanted is not None and ann["category_id"] not in wanted:
            continue
        d = {"image_id": ann["image_id"], "category_id": ann["category_id"], "score": 1.0}
        if iou_type == "bbox":
            d["bbox"] = ann["bbox"]
        elif iou_type == "segm":
            img = gt.imgs[ann["image_id"]]
            rle = mask_utils.encode(np.asfortranarray(decode(ann["segmentation"], img["height"], img["width"]).astype(np.uint8)))
            rle["counts"] = rle["counts"].decode("ascii")
            d["segmentation"] = rle
        else:
            d["keypoints"] = ann["keypoints"]
            d["bbox"] = ann["bbox"]
        dets.append(d)
    if iou_type == "keypoints" and cat_ids is None:
        cat_ids = [c["id"] for c in gt.dataset["categories"] if c.get("keypoints")]
    return evaluate(gt, dets, iou_type, cat_ids, kpt_oks_sigmas)


def import_datumaro():
    """datumaro, or a skip when it is not installed (``pip install 'blender-coco[interop]'``).

    datumaro imports pandas lazily; touching it now loads it, so that the bpy module's exit
    handler (which reads every module's ``__dict__``) does not import pandas during
    interpreter shutdown, which prints a RuntimeError traceback at the end of the run.
    """
    import sys

    import pytest

    datumaro = pytest.importorskip("datumaro", reason="datumaro not installed (pip install 'blender-coco[interop]')")
    pandas = sys.modules.get("pandas")
    if pandas is not None:
        getattr(pandas, "__version__", None)
    return datumaro

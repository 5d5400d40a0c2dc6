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


def self_eval(path_or_dict, iou_type: str) -> float:
    """AP of ground truth evaluated against itself (every detection scored 1.0)."""
    gt = load_coco(path_or_dict)
    dets = []
    for ann in gt.dataset["annotations"]:
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
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(dets)
        ev = COCOeval(gt, dt, iou_type)
        if iou_type == "keypoints":  # pycocotools needs num_keypoints on every evaluated annotation
            ev.params.catIds = [c["id"] for c in gt.dataset["categories"] if c.get("keypoints")]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0])

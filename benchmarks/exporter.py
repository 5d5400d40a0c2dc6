"""Exporter speed: ID mask -> COCO annotations, against a floor and the seed's algorithm.

For deterministic synthetic ID masks (occlusions, holes, border contacts) this prints
ms/frame for the three segmentation modes, the ratio to a floor of one np.bincount
over the same mask, the polygon IoU (pycocotools rasterization vs the mask), and the
same for a plain re-implementation of the seed's algorithm (per-pixel sub-masks,
find_contours on the full frame, shapely simplify) as the baseline users have today.

    .venv/bin/python benchmarks/exporter.py            # full table
    .venv/bin/python benchmarks/exporter.py --quick    # smaller, for a smoke run
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils
from scipy.ndimage import binary_fill_holes
from shapely.geometry import MultiPolygon, Polygon
from skimage.draw import disk, ellipse, polygon
from skimage.measure import find_contours

from blender_coco.config import ExportConfig
from blender_coco.coco.instances import annotate


def synthetic_mask(width: int, height: int, n: int, seed: int = 0) -> np.ndarray:
    """n instances drawn back to front: ellipses, polygons, rings (holes); some cross the border."""
    rng = np.random.default_rng(seed)
    m = np.zeros((height, width), np.uint16)
    scale = min(width, height) / 8
    for k in range(1, n + 1):
        cy, cx = rng.uniform(-0.05, 1.05) * height, rng.uniform(-0.05, 1.05) * width
        r = scale * rng.uniform(0.3, 1.2) * (50 / max(n, 50)) ** 0.5
        kind = k % 4
        if kind == 0:
            rr, cc = ellipse(cy, cx, r, r * rng.uniform(0.4, 1.6), shape=m.shape, rotation=rng.uniform(0, np.pi))
            m[rr, cc] = k
        elif kind == 1:
            pts = rng.uniform(-r, r, (7, 2)) + [cy, cx]
            rr, cc = polygon(pts[:, 0], pts[:, 1], shape=m.shape)
            m[rr, cc] = k
        elif kind == 2:  # ring: a hole that polygons cannot express
            rr, cc = disk((cy, cx), r, shape=m.shape)
            ring = np.zeros_like(m, dtype=bool)
            ring[rr, cc] = True
            rr, cc = disk((cy, cx), r * 0.45, shape=m.shape)
            ring[rr, cc] = False
            m[ring] = k
        else:
            rr, cc = disk((cy, cx), r * 0.7, shape=m.shape)
            m[rr, cc] = k
    return m


def seed_algorithm(id_mask: np.ndarray) -> list[dict]:
    """The seed's method, re-implemented plainly: the ID mask as a color image, a per-pixel
    getpixel loop building one full-frame sub-mask image per color, find_contours on each
    full-frame sub-mask, shapely simplify(1.0), bbox and area from the simplified polygons."""
    h, w = id_mask.shape
    rgb = np.stack([id_mask & 0xFF, (id_mask >> 8) & 0xFF, np.zeros_like(id_mask)], axis=-1).astype(np.uint8)
    image = Image.fromarray(rgb, "RGB")
    sub_masks: dict[tuple, Image.Image] = {}
    for x in range(w):
        for y in range(h):
            pixel = image.getpixel((x, y))
            if pixel != (0, 0, 0):
                sub = sub_masks.get(pixel)
                if sub is None:
                    sub = sub_masks[pixel] = Image.new("1", (w + 2, h + 2))
                sub.putpixel((x + 1, y + 1), 1)
    anns = []
    for (r, g, _), sub in sorted(sub_masks.items()):
        polys, segs = [], []
        for contour in find_contours(np.array(sub), 0.5, positive_orientation="low"):
            xy = contour[:, ::-1] - 1
            if len(xy) < 3:
                continue
            poly = Polygon(xy).simplify(1.0, preserve_topology=False)
            if poly.is_empty or poly.geom_type != "Polygon":
                continue
            polys.append(poly)
            segs.append(np.asarray(poly.exterior.coords).ravel().tolist())
        if not polys:
            continue
        x0, y0, x1, y1 = MultiPolygon(polys).bounds
        anns.append({"label": r + 256 * g, "segmentation": segs, "bbox": [x0, y0, x1 - x0, y1 - y0],
                     "area": MultiPolygon(polys).area})
    return anns


def timed(fn, repeat: int) -> float:
    best = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best.append(time.perf_counter() - t)
    return 1000 * statistics.median(best)


def polygon_iou(id_mask: np.ndarray, anns: list[tuple[int, dict]]) -> tuple[float, float]:
    """(mean IoU over instances >= 1000 px, min IoU over instances >= 64 px) vs hole-filled masks."""
    h, w = id_mask.shape
    big, each = [], []
    for label, ann in anns:
        seg = ann["segmentation"]
        if not isinstance(seg, list) or not seg:
            continue
        got = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(seg, h, w))).astype(bool)
        ref = binary_fill_holes(id_mask == label, structure=np.ones((3, 3)))
        v = (got & ref).sum() / (got | ref).sum()
        area = int((id_mask == label).sum())
        if area >= 1000:
            big.append(v)
        if area >= 64:
            each.append(v)
    return (float(np.mean(big)) if big else float("nan")), (float(min(each)) if each else float("nan"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--no-seed", action="store_true", help="skip the (slow) seed baseline")
    args = ap.parse_args()
    cases = [(640, 480, 10), (1920, 1080, 50), (1920, 1080, 200)]
    if args.quick:
        cases, args.repeat = [(320, 240, 10), (640, 480, 50)], 3
    print(f"{'mask':<18}{'mode':<9}{'ms/frame':>10}{'x floor':>9}{'mean IoU':>10}{'min IoU':>9}{'vertices':>10}")
    for w, h, n in cases:
        m = synthetic_mask(w, h, n)
        cats = {k: 1 for k in range(1, n + 1)}
        floor = timed(lambda: np.bincount(m.ravel()), args.repeat * 3)
        label = f"{w}x{h} n={n}"
        print(f"{label:<18}{'bincount':<9}{floor:>10.2f}{1.0:>9.1f}")
        for mode in ("polygon", "rle", "auto"):
            cfg = ExportConfig(segmentation=mode)
            ms = timed(lambda: annotate(m, cats, cfg), args.repeat)
            anns = annotate(m, cats, cfg)
            mean_iou, min_iou = polygon_iou(m, anns) if mode != "rle" else (1.0, 1.0)
            verts = sum(len(p) // 2 for _, a in anns if isinstance(a["segmentation"], list) for p in a["segmentation"])
            print(f"{'':<18}{mode:<9}{ms:>10.2f}{ms / floor:>9.1f}{mean_iou:>10.4f}{min_iou:>9.4f}{verts:>10}")
        if not args.no_seed:
            t = time.perf_counter()
            seed_anns = seed_algorithm(m)
            ms = 1000 * (time.perf_counter() - t)
            anns = [(a["label"], a) for a in seed_anns]
            mean_iou, min_iou = polygon_iou(m, anns)
            verts = sum(len(p) // 2 for _, a in anns for p in a["segmentation"])
            print(f"{'':<18}{'seed':<9}{ms:>10.2f}{ms / floor:>9.1f}{mean_iou:>10.4f}{min_iou:>9.4f}{verts:>10}")


if __name__ == "__main__":
    main()

"""ID mask -> COCO instance annotations: the heart of the exporter.

Input is an integer mask (0 = background, k > 0 = instance k). One column-major
run-length pass over the mask finds every instance at once: its pixel count, its
box and its COCO RLE (COCO's RLE is column-major too, so the runs *are* the RLE).
Per-instance work (contours for polygons) touches only the instance's own box.

See :mod:`blender_coco.io.coco` for the coordinate conventions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import shapely
from pycocotools import mask as mask_utils
from skimage.measure import find_contours

from blender_coco.config import ExportConfig


@dataclass(frozen=True)
class MaskRuns:
    """Every instance of an ID mask, from one column-major run-length pass.

    ``labels[i]`` has ``areas[i]`` pixels, box ``boxes[i]`` = (x0, y0, x1, y1) with
    exclusive ends, and runs ``run_start/run_len[offsets[i]:offsets[i+1]]`` (flat
    column-major positions, increasing, already merged across column breaks).
    """

    height: int
    width: int
    labels: np.ndarray
    areas: np.ndarray
    boxes: np.ndarray
    run_start: np.ndarray
    run_len: np.ndarray
    offsets: np.ndarray

    def rle_counts(self, i: int) -> np.ndarray:
        """Uncompressed COCO RLE counts of instance ``labels[i]`` (zeros first)."""
        a, b = self.offsets[i], self.offsets[i + 1]
        s, n = self.run_start[a:b], self.run_len[a:b]
        ends = s + n
        counts = np.empty(2 * (b - a) + 1, dtype=np.int64)
        counts[0] = s[0]
        counts[2:-1:2] = s[1:] - ends[:-1]
        counts[1::2] = n
        counts[-1] = self.height * self.width - ends[-1]
        return counts

    def rle(self, i: int) -> dict:
        """Compressed COCO RLE of instance ``labels[i]``, ``counts`` as str."""
        return compress_rle(self.rle_counts(i), self.height, self.width)


def compress_rle(counts: np.ndarray, height: int, width: int) -> dict:
    """Uncompressed counts -> compressed RLE dict with str counts (pycocotools' encoding)."""
    rle = mask_utils.frPyObjects({"size": [height, width], "counts": counts.tolist()}, height, width)
    return {"size": [height, width], "counts": rle["counts"].decode("ascii")}


def analyze(id_mask: np.ndarray) -> MaskRuns:
    """One pass over ``id_mask``: areas, boxes and runs of every nonzero label."""
    mask = np.asarray(id_mask)
    if mask.ndim != 2:
        raise ValueError(f"ID mask must be 2-D, got shape {mask.shape}")
    if not np.issubdtype(mask.dtype, np.integer):
        raise ValueError(f"ID mask must hold integers, got {mask.dtype}")
    h, w = mask.shape
    flat = mask.ravel(order="F")
    size = flat.size
    if size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return MaskRuns(h, w, empty, empty, np.zeros((0, 4), np.int64), empty, empty, np.zeros(1, np.int64))
    change = flat[1:] != flat[:-1]
    change[h - 1::h] = True  # break every run at column starts, so a run lies in one column
    starts = np.flatnonzero(change)
    starts += 1
    starts = np.concatenate(([0], starts))
    lengths = np.diff(starts, append=size)
    labels = flat[starts]
    fg = labels != 0
    starts, lengths, labels = starts[fg], lengths[fg], labels[fg]
    if starts.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return MaskRuns(h, w, empty.astype(mask.dtype), empty, np.zeros((0, 4), np.int64), empty, empty, np.zeros(1, np.int64))

    order = np.argsort(labels, kind="stable")  # runs grouped by label, in position order
    labels, starts, lengths = labels[order], starts[order], lengths[order]
    first = np.flatnonzero(np.concatenate(([True], labels[1:] != labels[:-1])))
    uniq = labels[first]
    areas = np.add.reduceat(lengths, first)
    col = starts // h
    row0 = starts - col * h
    last = np.append(first[1:], labels.size) - 1
    boxes = np.stack([
        col[first],
        np.minimum.reduceat(row0, first),
        col[last] + 1,
        np.maximum.reduceat(row0 + lengths, first),
    ], axis=1)

    # Merge runs that only the column breaks split (same label, touching).
    new = np.ones(starts.size, dtype=bool)
    new[1:] = (labels[1:] != labels[:-1]) | (starts[1:] != starts[:-1] + lengths[:-1])
    seg = np.cumsum(new) - 1
    m_start = starts[new]
    m_len = np.bincount(seg, weights=lengths).astype(np.int64)
    offsets = np.append(seg[first], m_start.size)
    return MaskRuns(h, w, uniq, areas.astype(np.int64), boxes.astype(np.int64), m_start, m_len, offsets)


def contours(crop: np.ndarray, x0: int, y0: int) -> list[tuple[np.ndarray, bool]]:
    """Contours of a boolean crop: (N x 2 array of (x, y) image coords, is_hole).

    Marching squares at level 0.5 on the zero-padded crop passes through the
    midpoints of the pixel edges that separate inside from outside (cutting corners
    diagonally), so every pixel centre of the mask is inside the ring and every other
    one outside, by at least 0.35 px. pycocotools' rasterizer tests pixel centres,
    so the unsimplified ring rasterizes back to the mask exactly, and so does a
    Douglas-Peucker simplification with tolerance <= 0.3 px on every mask we have
    measured (docs/benchmarks.md). Rings are closed (first point == last point);
    holes wind the other way round.
    """
    padded = np.pad(crop, 1)
    out = []
    for c in find_contours(padded, 0.5, positive_orientation="low"):
        xy = np.empty_like(c)
        xy[:, 0] = c[:, 1] + (x0 - 0.5)  # padded index -> image index (-1), then +0.5 -> continuous
        xy[:, 1] = c[:, 0] + (y0 - 0.5)
        x, y = xy[:, 0], xy[:, 1]
        signed = 0.5 * float(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1]))
        out.append((xy, signed < 0))
    return out


def simplify_rings(rings: list[np.ndarray], tolerance: float) -> list[list[float]]:
    """Douglas-Peucker (GEOS) on closed rings; a ring that would fall below 3 points stays as is."""
    if not rings:
        return []
    if tolerance > 0:
        geoms = shapely.linearrings(np.concatenate(rings), indices=np.repeat(np.arange(len(rings)), [len(r) for r in rings]))
        simple = shapely.simplify(geoms, tolerance, preserve_topology=False)
        coords, idx = shapely.get_coordinates(simple, return_index=True)
        counts = np.bincount(idx, minlength=len(rings))
        parts = np.split(coords, np.cumsum(counts)[:-1])
    else:
        parts = rings
    polys = []
    for ring, part in zip(rings, parts):
        pts = part if len(part) >= 4 else ring  # closed ring: 3 distinct points + closing point
        polys.append(np.round(pts[:-1], 2).ravel().tolist())
    return polys


def polygons_for(mask: np.ndarray, runs: MaskRuns, i: int, tolerance: float) -> tuple[list[list[float]], bool]:
    """Polygons of instance ``runs.labels[i]`` and whether it has holes."""
    x0, y0, x1, y1 = (int(v) for v in runs.boxes[i])
    crop = mask[y0:y1, x0:x1] == runs.labels[i]
    found = contours(crop, x0, y0)
    outer = [xy for xy, hole in found if not hole]
    return simplify_rings(outer, tolerance), len(outer) != len(found)


def annotate(id_mask: np.ndarray, categories: Mapping[int, int], config: ExportConfig = ExportConfig()
             ) -> list[tuple[int, dict]]:
    """COCO annotations (without ``id``/``image_id``) for every instance in ``categories``.

    ``categories`` maps mask label -> category id; labels not in it are ignored.
    Returns ``(label, annotation)`` pairs ordered by label.
    """
    mask = np.asarray(id_mask)
    runs = analyze(mask)
    out = []
    for i, label in enumerate(runs.labels.tolist()):
        cat = categories.get(label)
        area = int(runs.areas[i])
        if cat is None or area < config.min_area:
            continue
        x0, y0, x1, y1 = (int(v) for v in runs.boxes[i])
        if config.segmentation == "rle":
            seg = runs.rle(i)
        else:
            polys, holes = polygons_for(mask, runs, i, config.tolerance)
            seg = runs.rle(i) if holes and config.segmentation == "auto" else polys
        out.append((label, {
            "category_id": int(cat),
            "segmentation": seg,
            "area": area,
            "bbox": [x0, y0, x1 - x0, y1 - y0],
            "iscrowd": int(config.iscrowd),
        }))
    return out

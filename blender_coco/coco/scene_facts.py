"""What a frame shows, from its ID mask and depth pass: the facts captions and stats state.

* :func:`occlusion_pairs` -- per instance, the labels whose pixels border its outline
  and are nearer by more than a tolerance (0 = an unmarked surface). Vectorised over
  all 4-neighbour pixel pairs; the world (depth >= ``WORLD_DEPTH``) never occludes.
* :func:`touches_border` -- the box touches the image border (the object may
  continue outside the frame: truncated).
* :func:`frame_facts` -- a frame reduced to :class:`FrameFacts`: the visible things
  (:class:`Seen`: exactly the annotations of ``instances.json``, with box, area,
  material colour from the record, mean depth, truncation and occluders) and the
  visible stuff regions, largest first.

The default tolerance is the keypoints' self-occlusion tolerance,
:data:`blender_coco.coco.keypoints.DEFAULT_TOLERANCE` (metres; callers pass it in the depth
pass's Blender units, converted with the record's unit scale).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np

from blender_coco.coco.keypoints import DEFAULT_TOLERANCE
from blender_coco.coco.stuff import OTHER, WORLD_DEPTH


@dataclass(frozen=True)
class Seen:
    """One visible thing: exactly one annotation of instances.json.

    ``occluders``: indices (into the frame's objects) of things whose outline borders
    this one and is nearer, -1 for a nearer unmarked or stuff surface; None when the
    frame has no depth pass (unknown).
    """

    category: str
    bbox: tuple[float, float, float, float]
    area: int
    color: tuple[float, float, float] | None = None
    depth: float | None = None
    truncated: bool = False
    occluders: tuple[int, ...] | None = None


@dataclass(frozen=True)
class FrameFacts:
    """What a frame shows: its things and its stuff ((name, area), largest first)."""

    width: int
    height: int
    objects: tuple[Seen, ...] = ()
    stuff: tuple[tuple[str, int], ...] = ()


def touches_border(bbox: Sequence[float], width: int, height: int, eps: float = 1e-6) -> bool:
    """True when the box touches the image border (the object may continue outside)."""
    x, y, w, h = bbox
    return x <= eps or y <= eps or x + w >= width - eps or y + h >= height - eps


def occlusion_pairs(mask: np.ndarray, depth: np.ndarray, labels: Iterable[int], tolerance: float,
                    min_pixels: int = 2) -> dict[int, set[int]]:
    """For each label in ``labels``: the labels whose pixels border it and are nearer by more than
    ``tolerance`` along at least ``min_pixels`` pixel edges (0 = an unlabelled surface).

    Vectorized over all 4-neighbour pixel pairs of the frame.
    """
    wanted = np.zeros(int(mask.max(initial=0)) + 1, bool)
    labels = [int(v) for v in labels]
    wanted[[v for v in labels if v < wanted.size]] = True
    surface = depth < WORLD_DEPTH
    keys = []
    for a, b, da, db, sb in (
        (mask[:, :-1], mask[:, 1:], depth[:, :-1], depth[:, 1:], surface[:, 1:]),
        (mask[:, 1:], mask[:, :-1], depth[:, 1:], depth[:, :-1], surface[:, :-1]),
        (mask[:-1, :], mask[1:, :], depth[:-1, :], depth[1:, :], surface[1:, :]),
        (mask[1:, :], mask[:-1, :], depth[1:, :], depth[:-1, :], surface[:-1, :]),
    ):
        hit = (a != b) & wanted[a] & sb & (db < da - tolerance)
        if hit.any():
            keys.append(a[hit].astype(np.int64) * 65536 + b[hit].astype(np.int64))
    out: dict[int, set[int]] = {v: set() for v in labels}
    if keys:
        uniq, counts = np.unique(np.concatenate(keys), return_counts=True)
        for key, n in zip(uniq.tolist(), counts.tolist()):
            if n >= min_pixels:
                out[key // 65536].add(key % 65536)
    return out


def frame_facts(mask: np.ndarray, depth: np.ndarray | None, things: Sequence[tuple[int, dict]],
                category_names: Mapping[int, str], instances: Mapping[int, dict],
                stuff: Sequence[dict] = (), tolerance: float = DEFAULT_TOLERANCE) -> FrameFacts:
    """Facts of one frame. ``things``: (pass index, annotation) as in instances.json;
    ``instances``: the record's instance per pass index (for ``color``); ``stuff``: the
    frame's stuff annotations (``other`` is not mentioned in captions)."""
    h, w = mask.shape
    labels = [label for label, _ in things]
    depths: dict[int, float] = {}
    occ: dict[int, set[int]] | None = None
    if depth is not None and labels:
        finite = np.where(depth < WORLD_DEPTH, depth, 0.0).astype(np.float64)
        size = int(mask.max(initial=0)) + 1
        sums = np.bincount(mask.ravel(), weights=finite.ravel(), minlength=size)
        cnts = np.bincount(mask.ravel(), minlength=size)
        depths = {v: float(sums[v] / cnts[v]) for v in labels if v < size and cnts[v]}
        occ = occlusion_pairs(mask, depth, labels, tolerance)
    index = {label: i for i, label in enumerate(labels)}
    objects = []
    for label, ann in things:
        color = instances.get(label, {}).get("color")
        rgb = tuple(float(c) for c in color[:3]) if isinstance(color, (list, tuple)) and len(color) >= 3 else None
        occluders = None
        if occ is not None:
            occluders = tuple(sorted({index.get(o, -1) for o in occ.get(label, ())}))
        objects.append(Seen(category=category_names[ann["category_id"]], bbox=tuple(ann["bbox"]), area=int(ann["area"]),
                            color=rgb, depth=depths.get(label), truncated=touches_border(ann["bbox"], w, h),
                            occluders=occluders))
    regions = sorted(((category_names[a["category_id"]], int(a["area"])) for a in stuff
                      if category_names.get(a["category_id"]) not in (None, OTHER)), key=lambda t: (-t[1], t[0]))
    return FrameFacts(w, h, tuple(objects), tuple(regions))

"""COCO ``segmentation`` values read back: checked, measured and decoded.

A segmentation is a list of polygons (flat lists ``[x1, y1, x2, y2, ...]`` of at
least 3 points) or an RLE dict ``{"size": [height, width], "counts": ...}`` whose
counts are pycocotools' compressed string or a list of run lengths (uncompressed),
runs alternating background and foreground, column-major, summing to
``height * width``.

* :func:`decode_rle_string` -- compressed counts -> run lengths (None if malformed).
* :func:`rle_runs` -- an RLE dict's run lengths, or what is wrong with its counts.
* :func:`segmentation_error` -- what is wrong with a segmentation for an image of a
  given size (None: nothing). Runs are checked in pure Python *before* anything is
  handed to pycocotools, whose C decoder writes past its buffer on a bad sum; so are
  polygon vertices: one more than :data:`POLYGON_MARGIN` px outside the image is
  reported (pycocotools' polygon rasterizer crashes on a vertex at x = 1e8).
* :func:`too_large` -- why an image of a given size cannot be rasterized as COCO
  (over :data:`MAX_COCO_PIXELS`), or None.
* :func:`segmentation_areas` -- reference areas of a valid segmentation: the pixel
  count, and for polygons also their own (shoelace) area; the two measured apart by
  :func:`pixel_count` (pycocotools) and :func:`polygon_area` (pure Python, fast), and
  :func:`outline_length` for what a simplified outline may lose.
* :func:`mask_rle` -- its compressed RLE (pycocotools' form), None if empty or malformed.
* :func:`decode_mask` -- the boolean mask, as pycocotools' ``annToMask`` decodes it;
  None for an empty or malformed segmentation.

pycocotools is imported on use, so checking a file's structure needs only Python.
"""

from __future__ import annotations

import math
from operator import mul, sub
from typing import TYPE_CHECKING, Any

from blender_coco.values import all_finite, is_int, short

if TYPE_CHECKING:
    import numpy as np

#: pycocotools counts RLE runs (and the area) in 32 bits: an image of more pixels has
#: masks COCO cannot represent (a 65536 x 65536 image's full mask has area 4294901760).
MAX_COCO_PIXELS = 2 ** 32 - 1

#: A polygon vertex may lie this many pixels outside its image (rounding, a simplified
#: outline's corner); further out it is reported and never rasterized.
POLYGON_MARGIN = 1.0


def too_large(height: int, width: int) -> str | None:
    """Why masks of an image this size cannot be checked or decoded (None: they can)."""
    if height * width > MAX_COCO_PIXELS:
        return (f"{width}x{height} is {height * width:,} pixels, more than COCO's RLE can count "
                f"({MAX_COCO_PIXELS:,}: 32-bit runs); its masks are not checked")
    return None


def decode_rle_string(counts: str) -> list[int] | None:
    """pycocotools' compressed RLE string -> run lengths, or None if it is malformed.

    The inverse of ``rleToString`` in pycocotools' maskApi.c: 5-bit groups in chars
    48..111, a continuation bit 0x20, sign bit 0x10 in the last group, and from the
    fourth run on each value is a delta from the run two places back.
    """
    runs: list[int] = []
    p, n = 0, len(counts)
    while p < n:
        x = k = 0
        more = True
        while more:
            if p >= n:
                return None  # truncated: the last group still had its continuation bit
            c = ord(counts[p]) - 48
            if not 0 <= c <= 63:
                return None
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(runs) > 2:
            x += runs[-2]
        runs.append(x)
    return runs


def rle_runs(seg: dict) -> tuple[list[int] | None, str | None]:
    """(runs, None) for a well-formed RLE dict, else (None, what is wrong). Size is checked by the caller."""
    counts = seg.get("counts")
    if isinstance(counts, str):
        runs = decode_rle_string(counts)
        if runs is None:
            return None, "RLE counts is not a valid compressed RLE string"
    elif isinstance(counts, list):
        if not all(is_int(c) for c in counts):
            return None, "uncompressed RLE counts must all be integers"
        runs = counts
    else:
        return None, f"RLE counts must be a str (compressed) or a list of ints, got {type(counts).__name__}"
    if any(c < 0 for c in runs):
        return None, "RLE counts has a negative run"
    return runs, None


def segmentation_error(seg: Any, height: int | None, width: int | None) -> str | None:
    """What is wrong with a segmentation (None if nothing). ``height``/``width`` None: image unknown."""
    if isinstance(seg, list):
        for i, poly in enumerate(seg):
            if not isinstance(poly, list):
                return f"polygon {i} must be a flat list of numbers, got {type(poly).__name__}"
            if not all_finite(poly):
                return f"polygon {i} has a value that is not a finite number"
            if len(poly) % 2:
                return f"polygon {i} has an odd number of coordinates ({len(poly)})"
            if len(poly) < 6:
                return f"polygon {i} has {len(poly) // 2} points; a polygon needs at least 3"
            if height is not None:
                err = _outside(poly, height, width)
                if err:
                    return f"polygon {i} {err}"
        return None
    if isinstance(seg, dict):
        size = seg.get("size")
        if not (isinstance(size, list) and len(size) == 2 and all(is_int(v) and v >= 0 for v in size)):
            return f"RLE size must be [height, width], got {short(size)}"
        if height is not None and size != [height, width]:
            return f"RLE size {size} does not match the image's [height, width] = [{height}, {width}]"
        runs, err = rle_runs(seg)
        if err:
            return err
        total = sum(runs)
        if total != size[0] * size[1]:
            return f"RLE runs sum to {total}, not height*width = {size[0] * size[1]}"
        return None
    return f"segmentation must be a list of polygons or an RLE object, got {type(seg).__name__}"


def _outside(poly: list, height: int, width: int) -> str | None:
    xs, ys = poly[0::2], poly[1::2]
    m = POLYGON_MARGIN
    for lo, hi, vals, axis in ((-m, width + m, xs, "x"), (-m, height + m, ys, "y")):
        low, high = min(vals), max(vals)
        if low < lo or high > hi:
            j = vals.index(low if low < lo else high)
            return (f"has a vertex at ({xs[j]:g}, {ys[j]:g}), outside the {width}x{height} image "
                    f"({axis} must be within {lo:g}..{hi:g}); fix or drop the polygon")
    return None


def segmentation_areas(seg: Any, height: int, width: int) -> list[float]:
    """Reference areas of a *valid* non-empty segmentation: pixel count, and polygon area for polygons."""
    if isinstance(seg, dict):
        runs, _ = rle_runs(seg)
        return [float(sum(runs[1::2]))]
    return [pixel_count(seg, height, width), polygon_area(seg)]


def pixel_count(seg: list, height: int, width: int) -> float:
    """Pixels of *valid* polygons as pycocotools rasterizes them (merged: overlaps count once)."""
    from pycocotools import mask as mask_utils

    return float(mask_utils.area(mask_utils.merge(mask_utils.frPyObjects(seg, height, width))))


def polygon_area(seg: list) -> float:
    """Sum of the *valid* polygons' own (shoelace) areas."""
    total = 0.0
    for poly in seg:
        xs, ys = poly[0::2], poly[1::2]
        total += abs(sum(map(mul, xs, ys[-1:] + ys[:-1])) - sum(map(mul, xs[-1:] + xs[:-1], ys))) / 2.0
    return total


def outline_length(seg: list) -> tuple[float, int]:
    """(total edge length, vertex count) of *valid* polygons."""
    length, n = 0.0, 0
    for poly in seg:
        xs, ys = poly[0::2], poly[1::2]
        length += sum(map(math.hypot, map(sub, xs, xs[-1:] + xs[:-1]), map(sub, ys, ys[-1:] + ys[:-1])))
        n += len(xs)
    return length, n


def mask_rle(seg: Any, height: int, width: int) -> dict | None:
    """pycocotools' compressed RLE of a segmentation; None if empty or malformed (or the
    image too large: :func:`too_large`)."""
    if seg is None or (isinstance(seg, list) and not seg) or too_large(height, width) \
            or segmentation_error(seg, height, width):
        return None
    from pycocotools import mask as mask_utils

    if isinstance(seg, list):
        return mask_utils.merge(mask_utils.frPyObjects(seg, height, width))
    if isinstance(seg["counts"], list):
        return mask_utils.frPyObjects(seg, height, width)
    return {"size": seg["size"], "counts": seg["counts"].encode("ascii")}


def decode_mask(seg: Any, height: int, width: int) -> np.ndarray | None:
    """Boolean (height, width) mask of a segmentation, as pycocotools' annToMask; None if empty or
    malformed (or the image too large: :func:`too_large`)."""
    rle = mask_rle(seg, height, width)
    if rle is None:
        return None
    from pycocotools import mask as mask_utils

    return mask_utils.decode(rle).astype(bool)

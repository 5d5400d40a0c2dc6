"""Silhouettes of triangle meshes seen by a camera, rasterized at pixel centres (numpy; no bpy).

::

    project(tris_cam, projection, width, height, near, far) -> (N, 3, 2) pixel-space triangles
    rasterize(tris_px, width, height, origin=(0, 0), step=1) -> bool mask (height, width)
    silhouette(tris_cam, projection, width, height, near, far) -> Silhouette(mask, outside_area)
    transformed([(coords, triangles, matrix), ...]) -> (N, 3, 3) camera-space triangles
    rle_counts(mask) -> list[int]       uncompressed COCO RLE counts (column-major, zeros first)

Conventions. ``tris_cam`` are triangles in Blender's camera space (x right, y up,
looking down -z), shape (N, 3, 3). ``projection`` is the camera's 4x4 projection
matrix (``Object.calc_matrix_camera``: sensor fit, shift, pixel aspect, perspective or
orthographic). Triangles are clipped against the near plane ``z = -near`` and the far
plane ``z = -far`` (planar clipping; Cycles clips at the same distances), then
projected to COCO's continuous pixel grid: (0, 0) is the top-left corner of the
top-left pixel, y grows downward.

Coverage is exact at pixel centres: pixel (column i, row j) belongs to the silhouette
when its centre (i + 0.5, j + 0.5) lies in at least one triangle, edges included.
That is what Cycles' hard-edged object-index pass samples too (one sample per pixel,
jittered by the pixel filter, so single pixels along an edge may differ). The
rasterizer is a vectorized scanline: every (triangle, row) pair gives one span of
columns; spans are summed into a difference array, so the cost is the number of rows
the triangles cross plus one pass over the canvas, not a test per pixel per triangle.

Truncation needs the silhouette beyond the image border: :func:`silhouette`
rasterizes the projected bounding box of the clipped triangles; when that box is at
most :data:`CANVAS_BUDGET` times the image's pixel count the count outside is exact at
pixel resolution, otherwise it is sampled on a coarser grid of ``step`` x ``step``
pixel cells (each sample counts ``step**2`` pixels) holding about that many samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Canvas (in units of the image's pixel count) over which the outside part is counted exactly.
CANVAS_BUDGET = 4
#: (triangle, row) pairs processed at once (bounds the rasterizer's memory, about 100 bytes a pair).
CHUNK = 1 << 20


def _clip(tris: np.ndarray, z_limit: float, keep_below: bool) -> np.ndarray:
    """Clip triangles (N, 3, 3) against the plane z = z_limit; keep z <= z_limit (or >=)."""
    if tris.shape[0] == 0:
        return tris
    d = tris[:, :, 2] - z_limit
    inside = d <= 0 if keep_below else d >= 0
    n_in = inside.sum(axis=1)
    out = [tris[n_in == 3]]
    for count in (1, 2):
        sel = n_in == count
        if not sel.any():
            continue
        t, dd, ins = tris[sel], d[sel], inside[sel]
        # rotate each triangle so that vertex 0 is the lone inside (count 1) or lone outside (count 2) vertex
        lone = ins if count == 1 else ~ins
        first = np.argmax(lone, axis=1)
        order = (first[:, None] + np.arange(3)[None, :]) % 3
        t = np.take_along_axis(t, order[:, :, None], axis=1)
        dd = np.take_along_axis(dd, order, axis=1)
        a, b, c = t[:, 0], t[:, 1], t[:, 2]
        # points where edges a-b and a-c cross the plane
        tab = (dd[:, 0] / (dd[:, 0] - dd[:, 1]))[:, None]
        tac = (dd[:, 0] / (dd[:, 0] - dd[:, 2]))[:, None]
        pab = a + (b - a) * tab
        pac = a + (c - a) * tac
        if count == 1:  # a inside: one triangle
            out.append(np.stack([a, pab, pac], axis=1))
        else:  # a outside: the quad pab, b, c, pac as two triangles
            out.append(np.stack([pab, b, c], axis=1))
            out.append(np.stack([pab, c, pac], axis=1))
    return np.concatenate(out, axis=0)


def transformed(pieces) -> np.ndarray:
    """Camera-space triangles (N, 3, 3) of ``(flat coordinates, flat triangle indices, 4x4 matrix rows)`` pieces."""
    out = [np.zeros((0, 3, 3))]
    for co, tri, matrix in pieces:
        m = np.asarray(matrix, dtype=np.float64)
        pts = np.asarray(co, dtype=np.float64).reshape(-1, 3) @ m[:3, :3].T + m[:3, 3]
        out.append(pts[np.asarray(tri, dtype=np.int64).reshape(-1, 3)])
    return np.concatenate(out, axis=0)


def project(tris_cam: np.ndarray, projection: np.ndarray, width: int, height: int,
            near: float, far: float) -> np.ndarray:
    """Clip to [near, far] in front of the camera and project to pixel coordinates: (M, 3, 2)."""
    tris = np.asarray(tris_cam, dtype=np.float64).reshape(-1, 3, 3)
    tris = _clip(tris, -float(near), keep_below=True)
    tris = _clip(tris, -float(far), keep_below=False)
    if tris.shape[0] == 0:
        return np.zeros((0, 3, 2))
    p = np.asarray(projection, dtype=np.float64)
    pts = tris.reshape(-1, 3) @ p[:3, :3].T + p[:3, 3]
    w = tris.reshape(-1, 3) @ p[3, :3] + p[3, 3]
    w = np.where(np.abs(w) < 1e-12, 1e-12, w)
    x = (pts[:, 0] / w + 1.0) * 0.5 * width
    y = (1.0 - pts[:, 1] / w) * 0.5 * height
    return np.stack([x, y], axis=1).reshape(-1, 3, 2)


def rasterize(tris_px: np.ndarray, width: int, height: int, origin: tuple[float, float] = (0.0, 0.0),
              step: float = 1.0) -> np.ndarray:
    """Bool mask (height, width): sample (i, j) at ``origin + ((i + 0.5) * step, (j + 0.5) * step)``
    is True when it lies in (or on the edge of) at least one triangle."""
    out_shape = (int(height), int(width))
    tris = np.asarray(tris_px, dtype=np.float64).reshape(-1, 3, 2)
    if tris.shape[0] == 0 or width <= 0 or height <= 0:
        return np.zeros(out_shape, dtype=bool)
    tris = (tris - np.asarray(origin, dtype=np.float64)) / float(step)
    xs, ys = tris[:, :, 0], tris[:, :, 1]
    # drop triangles entirely off the canvas or without area
    keep = ((xs.max(axis=1) >= 0.5) & (xs.min(axis=1) <= width - 0.5)
            & (ys.max(axis=1) >= 0.5) & (ys.min(axis=1) <= height - 0.5))
    tris = tris[keep]
    if tris.shape[0] == 0:
        return np.zeros(out_shape, dtype=bool)
    order = np.argsort(tris[:, :, 1], axis=1)
    tris = np.take_along_axis(tris, order[:, :, None], axis=1)
    x0, y0 = tris[:, 0, 0], tris[:, 0, 1]
    x1, y1 = tris[:, 1, 0], tris[:, 1, 1]
    x2, y2 = tris[:, 2, 0], tris[:, 2, 1]
    j0 = np.maximum(np.ceil(y0 - 0.5), 0).astype(np.int64)
    j1 = np.minimum(np.floor(y2 - 0.5), height - 1).astype(np.int64)
    rows = np.where(y2 > y0, j1 - j0 + 1, 0)
    rows = np.maximum(rows, 0)
    if int(rows.sum()) == 0:
        return np.zeros(out_shape, dtype=bool)
    stride = width + 1
    size = height * stride
    diff = np.zeros(size, dtype=np.int64)
    # (triangle, row) pairs in chunks of about CHUNK, so that memory stays bounded
    ends = np.cumsum(rows)
    cut = np.searchsorted(ends, np.arange(CHUNK, int(ends[-1]), CHUNK), side="left")
    for lo, hi in zip(np.r_[0, cut + 1], np.r_[cut + 1, rows.size]):
        if hi > lo:
            _spans(diff, stride, size, width, j0[lo:hi], rows[lo:hi], x0[lo:hi], y0[lo:hi],
                   x1[lo:hi], y1[lo:hi], x2[lo:hi], y2[lo:hi])
    cover = np.cumsum(diff.reshape(height, stride), axis=1)[:, :width]
    return cover > 0


def _spans(diff, stride, size, width, j0, rows, x0, y0, x1, y1, x2, y2) -> None:
    """Add the column spans of these triangles' rows to the difference array ``diff``."""
    total = int(rows.sum())
    if total == 0:
        return
    tri = np.repeat(np.arange(rows.size), rows)
    starts = np.cumsum(rows) - rows
    row = j0[tri] + (np.arange(total) - starts[tri])
    yc = row + 0.5
    ax0, ay0, ax1, ay1, ax2, ay2 = x0[tri], y0[tri], x1[tri], y1[tri], x2[tri], y2[tri]
    xa = ax0 + (yc - ay0) * (ax2 - ax0) / (ay2 - ay0)  # the long edge v0-v2 (ay2 > ay0 here)
    upper = yc < ay1
    ea_x = np.where(upper, ax0, ax1)
    ea_y = np.where(upper, ay0, ay1)
    eb_x = np.where(upper, ax1, ax2)
    eb_y = np.where(upper, ay1, ay2)
    dy = eb_y - ea_y
    t = np.where(dy > 0, (yc - ea_y) / np.where(dy > 0, dy, 1.0), 0.0)
    xb = ea_x + t * (eb_x - ea_x)
    xl = np.minimum(xa, xb)
    xr = np.maximum(xa, xb)
    if dy.size:  # a horizontal edge on this row: the whole edge is in the cross-section
        flat = dy <= 0
        xl = np.where(flat, np.minimum(xl, np.minimum(ea_x, eb_x)), xl)
        xr = np.where(flat, np.maximum(xr, np.maximum(ea_x, eb_x)), xr)
    i0 = np.maximum(np.ceil(xl - 0.5), 0).astype(np.int64)
    i1 = np.minimum(np.floor(xr - 0.5), width - 1).astype(np.int64)
    ok = i0 <= i1
    row, i0, i1 = row[ok], i0[ok], i1[ok]
    diff += np.bincount(row * stride + i0, minlength=size)[:size]
    diff -= np.bincount(row * stride + i1 + 1, minlength=size)[:size]


@dataclass(frozen=True)
class Silhouette:
    """The silhouette inside the image (``mask``) and its area beyond the border, in pixels."""

    mask: np.ndarray
    outside_area: float

    @property
    def truncation(self) -> float:
        """Fraction of the whole projected silhouette outside the image (0 if it is empty)."""
        inside = float(self.mask.sum())
        total = inside + self.outside_area
        return self.outside_area / total if total > 0 else 0.0


def silhouette(tris_cam: np.ndarray, projection: np.ndarray, width: int, height: int,
               near: float, far: float, budget: float = CANVAS_BUDGET) -> Silhouette:
    """The camera-space triangles' silhouette in the image and the area of the rest of it."""
    tris = project(tris_cam, projection, width, height, near, far)
    mask = np.zeros((int(height), int(width)), dtype=bool)
    if tris.shape[0] == 0:
        return Silhouette(mask, 0.0)
    lo = tris.reshape(-1, 2).min(axis=0)
    hi = tris.reshape(-1, 2).max(axis=0)
    # rasterize only the pixels of the projected box (same sample positions: x - x0 is exact for integer x0)
    x0, y0 = max(0, math.floor(lo[0])), max(0, math.floor(lo[1]))
    x1, y1 = min(int(width), math.ceil(hi[0]) + 1), min(int(height), math.ceil(hi[1]) + 1)
    if x1 > x0 and y1 > y0:
        mask[y0:y1, x0:x1] = rasterize(tris, x1 - x0, y1 - y0, origin=(x0, y0))
    if lo[0] >= 0 and lo[1] >= 0 and hi[0] <= width and hi[1] <= height:
        return Silhouette(mask, 0.0)
    ox, oy = math.floor(lo[0]), math.floor(lo[1])
    cw, ch = math.ceil(hi[0]) - ox, math.ceil(hi[1]) - oy
    step = max(1, math.ceil(math.sqrt(cw * ch / (budget * width * height))))
    cw, ch = -(-cw // step), -(-ch // step)
    big = rasterize(tris, cw, ch, origin=(ox, oy), step=step)
    cx = ox + (np.arange(cw) + 0.5) * step
    cy = oy + (np.arange(ch) + 0.5) * step
    in_x = (cx >= 0) & (cx < width)
    in_y = (cy >= 0) & (cy < height)
    outside = int(big.sum()) - int(big[np.ix_(in_y, in_x)].sum())
    return Silhouette(mask, float(outside * step * step))


def rle_counts(mask: np.ndarray) -> list[int]:
    """Uncompressed COCO RLE counts of a bool mask (column-major runs, starting with zeros)."""
    mask = np.asarray(mask, dtype=bool)
    if mask.size == 0:
        return [0]
    h = mask.shape[0]
    used = np.flatnonzero(mask.any(axis=0))  # only the columns the silhouette touches are scanned
    if used.size == 0:
        return [mask.size]
    c0, c1 = int(used[0]), int(used[-1]) + 1
    flat = mask[:, c0:c1].ravel(order="F")
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    counts = np.diff(np.concatenate(([0], change, [flat.size]))).tolist()
    if flat[0]:
        counts.insert(0, 0)
    counts[0] += c0 * h  # the empty columns before and after
    if flat[-1]:
        counts.append(0)
    counts[-1] += (mask.shape[1] - c1) * h
    if counts[-1] == 0 and len(counts) > 1:
        counts.pop()
    return counts

"""The rasterizer of :mod:`blender_coco.silhouette` in pure Python, for a Blender without numpy.

::

    silhouette_counts(tris_cam, projection, width, height, near, far) -> (counts, outside_area)

Same conventions, same arithmetic and the same answers (tests/test_amodal_core.py
compares them), only slower: Debian's Blender 3.4 has no numpy, and amodal masks
must not depend on which Blender renders. ``tris_cam``: an iterable of triangles,
each three ``(x, y, z)`` camera-space points; ``projection``: the 4x4 projection
matrix as rows. Returns the uncompressed COCO RLE counts of the silhouette inside the
image and the area of its part beyond the border (:func:`blender_coco.silhouette.silhouette`).
Standard library only.
"""

from __future__ import annotations

import math
import re

CANVAS_BUDGET = 4
_RUNS = re.compile(rb"\x01+")


def _clip(poly: list, z_limit: float, keep_below: bool) -> list:
    """Sutherland-Hodgman: the part of a convex polygon with z <= z_limit (or >=)."""
    out = []
    n = len(poly)
    for k in range(n):
        a, b = poly[k], poly[(k + 1) % n]
        da, db = a[2] - z_limit, b[2] - z_limit
        in_a = da <= 0 if keep_below else da >= 0
        in_b = db <= 0 if keep_below else db >= 0
        if in_a:
            out.append(a)
        if in_a != in_b:
            t = da / (da - db)
            out.append((a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t))
    return out


def project(tris_cam, projection, width: int, height: int, near: float, far: float) -> list:
    """Clipped, projected triangles: a list of three (x, y) pixel-space points each."""
    p = projection
    out = []
    for tri in tris_cam:
        poly = [tuple(v) for v in tri]
        if not all(-far <= v[2] <= -near for v in poly):
            poly = _clip(_clip(poly, -float(near), True), -float(far), False) if len(poly) == 3 else []
            if len(poly) < 3:
                continue
        pts = []
        for x, y, z in poly:
            w = p[3][0] * x + p[3][1] * y + p[3][2] * z + p[3][3]
            if abs(w) < 1e-12:
                w = 1e-12
            px = p[0][0] * x + p[0][1] * y + p[0][2] * z + p[0][3]
            py = p[1][0] * x + p[1][1] * y + p[1][2] * z + p[1][3]
            pts.append(((px / w + 1.0) * 0.5 * width, (1.0 - py / w) * 0.5 * height))
        for k in range(1, len(pts) - 1):
            out.append((pts[0], pts[k], pts[k + 1]))
    return out


def fill(tris_px: list, width: int, height: int, origin=(0.0, 0.0), step: float = 1.0) -> bytearray:
    """Row-major coverage bytes (1 covered, 0 not) of samples ``origin + ((i + .5) step, (j + .5) step)``."""
    buf = bytearray(width * height)
    ones = b"\x01" * width
    ox, oy = origin
    for tri in tris_px:
        v = sorted((((x - ox) / step, (y - oy) / step) for x, y in tri), key=lambda q: q[1])
        (x0, y0), (x1, y1), (x2, y2) = v
        if not y2 > y0:
            continue
        j0 = max(math.ceil(y0 - 0.5), 0)
        j1 = min(math.floor(y2 - 0.5), height - 1)
        for j in range(j0, j1 + 1):
            yc = j + 0.5
            xa = x0 + (yc - y0) * (x2 - x0) / (y2 - y0)
            if yc < y1:
                ex, ey, fx, fy = x0, y0, x1, y1
            else:
                ex, ey, fx, fy = x1, y1, x2, y2
            dy = fy - ey
            t = (yc - ey) / dy if dy > 0 else 0.0
            xb = ex + t * (fx - ex)
            xl, xr = min(xa, xb), max(xa, xb)
            if dy <= 0:
                xl, xr = min(xl, ex, fx), max(xr, ex, fx)
            i0 = max(math.ceil(xl - 0.5), 0)
            i1 = min(math.floor(xr - 0.5), width - 1)
            if i0 <= i1:
                start = j * width
                buf[start + i0:start + i1 + 1] = ones[:i1 - i0 + 1]
    return buf


def rle_counts(buf: bytearray, width: int, height: int) -> list[int]:
    """Uncompressed COCO RLE counts (column-major, zeros first) of row-major coverage bytes."""
    cols = b"".join(bytes(buf[c::width]) for c in range(width))
    counts, pos = [], 0
    for m in _RUNS.finditer(cols):
        counts += [m.start() - pos, m.end() - m.start()]
        pos = m.end()
    if pos < len(cols) or not counts:
        counts.append(len(cols) - pos)
    return counts


def silhouette_counts(tris_cam, projection, width: int, height: int, near: float, far: float,
                      budget: float = CANVAS_BUDGET) -> tuple[list[int], float]:
    """(RLE counts of the silhouette in the image, area of the silhouette beyond the border)."""
    tris = project(tris_cam, projection, width, height, near, far)
    buf = fill(tris, width, height)
    counts = rle_counts(buf, width, height)
    if not tris:
        return counts, 0.0
    xs = [x for tri in tris for x, _ in tri]
    ys = [y for tri in tris for _, y in tri]
    lo_x, lo_y, hi_x, hi_y = min(xs), min(ys), max(xs), max(ys)
    if lo_x >= 0 and lo_y >= 0 and hi_x <= width and hi_y <= height:
        return counts, 0.0
    ox, oy = math.floor(lo_x), math.floor(lo_y)
    cw, ch = math.ceil(hi_x) - ox, math.ceil(hi_y) - oy
    s = max(1, math.ceil(math.sqrt(cw * ch / (budget * width * height))))
    cw, ch = -(-cw // s), -(-ch // s)
    big = fill(tris, cw, ch, origin=(ox, oy), step=s)
    in_cols = [i for i in range(cw) if 0 <= ox + (i + 0.5) * s < width]
    inside = 0
    for j in range(ch):
        if 0 <= oy + (j + 0.5) * s < height and in_cols:
            row = big[j * cw:(j + 1) * cw]
            inside += row[in_cols[0]:in_cols[-1] + 1].count(1)
    return counts, float((big.count(1) - inside) * s * s)

"""Placement geometry that ``[[objects]]`` and ``[[spawn]]`` share: boxes, spheres, surfaces.

- :func:`local_box`: the corners of an object tree's bounding box in its root's frame.
- :func:`sphere`: the bounding sphere (and corners) of those corners at a pose.
- :func:`is_free`: whether a sphere keeps ``spacing`` from everything the frame placed.
- :class:`Surface`: a mesh to stand objects on, with its world box (:func:`surface`);
  :func:`on_surface` draws a place on its upward faces (ray cast from above).

Every function draws from the ``rng`` it is given in a fixed order: callers get the
same places for the same draws.
"""

from __future__ import annotations

from typing import NamedTuple

from mathutils import Matrix, Vector

from blender_coco.blender.randomizers.common import GEOMETRY, Frame


def local_box(root, tree, dg, matrix=None) -> list[Vector]:
    """Corners of the tree's bounding box in the root's frame (its own loc/rot/scale removed);
    ``matrix``: the root's world matrix to take out (default: ``root.matrix_world``)."""
    inv = (root.matrix_world if matrix is None else matrix).inverted_safe()
    pts = []
    for o in tree:
        if o.type in GEOMETRY:
            ev = o.evaluated_get(dg)
            m = inv @ ev.matrix_world
            pts.extend(m @ Vector(c) for c in ev.bound_box)
    if not pts:
        pts = [Vector((0.0, 0.0, 0.0))]
    lo = [min(p[i] for p in pts) for i in range(3)]
    hi = [max(p[i] for p in pts) for i in range(3)]
    return [Vector((x, y, z)) for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]


def sphere(corners, loc: Vector, euler, scale: Vector) -> tuple[Vector, float, list[Vector]]:
    """Centre and radius of the sphere around ``corners`` posed at ``loc``/``euler``/``scale``, and the posed corners."""
    m = Matrix.LocRotScale(loc, euler, scale)
    pts = [m @ c for c in corners]
    lo = Vector([min(p[i] for p in pts) for i in range(3)])
    hi = Vector([max(p[i] for p in pts) for i in range(3)])
    center = (lo + hi) / 2
    return center, max((p - center).length for p in pts), pts


def is_free(center: Vector, radius: float, frame: Frame, spacing: float, ignore: str | None) -> bool:
    """True when the sphere stays ``spacing`` apart from every sphere the frame placed (but ``ignore``'s)."""
    for other, r, names in frame.placed:
        if ignore is not None and ignore in names:
            continue
        if (center - other).length < radius + r + spacing:
            return False
    return True


class Surface(NamedTuple):
    """A mesh to stand on, evaluated: its object, world matrix and inverse, world box corners ``lo``/``hi``."""

    ev: object
    mw: Matrix
    inv: Matrix
    lo: Vector
    hi: Vector


def surface(obj, dg) -> Surface:
    """``obj`` (a mesh) as a :class:`Surface` in the depsgraph ``dg``."""
    ev = obj.evaluated_get(dg)
    mw = ev.matrix_world.copy()
    pts = [mw @ Vector(c) for c in ev.bound_box]
    lo = Vector([min(p[i] for p in pts) for i in range(3)])
    hi = Vector([max(p[i] for p in pts) for i in range(3)])
    return Surface(ev, mw, mw.inverted_safe(), lo, hi)


def xy_range(pts, surf: Surface, region) -> tuple[float, float, float, float]:
    """Where an object with posed corners ``pts`` (about its origin) keeps inside the surface's
    x/y box (and ``region``'s, when given): ``x0, x1, y0, y1`` (a point when it is too wide)."""
    reach = max((Vector((p.x, p.y)).length for p in pts), default=0.0)
    x0, x1 = surf.lo.x + reach, surf.hi.x - reach
    y0, y1 = surf.lo.y + reach, surf.hi.y - reach
    if region is not None:  # only where the region lies over the surface
        x0, x1 = max(x0, region.min[0]), min(x1, region.max[0])
        y0, y1 = max(y0, region.min[1]), min(y1, region.max[1])
    if x0 > x1:  # wider than the room left: centre it
        x0 = x1 = (x0 + x1) / 2
    if y0 > y1:
        y0 = y1 = (y0 + y1) / 2
    return x0, x1, y0, y1


def on_surface(corners, euler, scale, rng, surf: Surface, region) -> Vector | None:
    """An origin that stands the posed box on an upward face of ``surf`` (None when the ray misses)."""
    _, _, pts = sphere(corners, Vector((0.0, 0.0, 0.0)), euler, scale)
    x0, x1, y0, y1 = xy_range(pts, surf, region)
    x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
    origin = surf.inv @ Vector((x, y, surf.hi.z + 1.0))
    direction = (surf.inv.to_3x3() @ Vector((0.0, 0.0, -1.0))).normalized()
    ok, hit, normal, _ = surf.ev.ray_cast(origin, direction)
    if not ok:
        return None
    world_normal = (surf.inv.to_3x3().transposed() @ normal).normalized()
    if world_normal.z < 0.7:  # not an upward face
        return None
    hit_w = surf.mw @ hit
    bottom = min(p.z for p in pts)
    return Vector((hit_w.x, hit_w.y, hit_w.z - bottom))

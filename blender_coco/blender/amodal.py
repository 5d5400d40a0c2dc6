"""Amodal silhouettes of a frame's instances: their evaluated triangles rasterized with the camera.

::

    has_numpy() -> bool                       numpy rasterizer, or the pure-Python one (same masks)
    frame_amodal(scene, view_layer, camera, wanted) -> {pass_index: Amodal}

No extra render: every object instance of the evaluated depsgraph whose pass index is
in ``wanted`` (a marked object and its descendants share one; armature-deformed,
modifier and geometry-node meshes come evaluated, curves and text as their meshes)
gives its triangles in camera space, and :func:`blender_coco.silhouette.silhouette`
rasterizes each instance's triangles at pixel centres (the camera's own projection
matrix: sensor fit, shift, pixel aspect, orthographic). Objects hidden from render or
from camera rays are left out; objects hidden only in the viewport render, and the run
shows them to the viewport's depsgraph (:mod:`blender_coco.blender.render_match`).
With numpy in Blender's Python (the ``bpy`` module and Blender's official builds)
:mod:`blender_coco.silhouette` rasterizes; without it (Debian's Blender 3.4)
:mod:`blender_coco.silhouette_pure` gives the same masks, slower.

Instanced copies (collection instances, particles, geometry-node instances) join the
instance whose pass index their evaluated object carries, as in the object-index
pass; telling copies that share a pass index apart is up to the sidecar's instance
identity (docs/records.md).
"""

from __future__ import annotations

import functools
import importlib.util
import logging

import bpy
from mathutils import Matrix

from blender_coco.blender import marking
from blender_coco.blender.scene_info import evaluated_depsgraph, output_size
from blender_coco.records.amodal import Amodal, encode_counts

log = logging.getLogger(__name__)

#: Object types that render as surfaces and evaluate to a mesh.
_SURFACE_TYPES = {"MESH", "CURVE", "SURFACE", "META", "FONT"}


@functools.cache
def has_numpy() -> bool:
    """Whether numpy imports here (else the pure-Python rasterizer runs: same masks, slower)."""
    return importlib.util.find_spec("numpy") is not None


def _camera_matrices(scene, camera, depsgraph, width: int, height: int):
    """(projection, world -> camera) as lists of rows; renders ignore the camera's scale."""
    r = scene.render
    cam_eval = camera.evaluated_get(depsgraph)
    projection = cam_eval.calc_matrix_camera(depsgraph, x=width, y=height,
                                             scale_x=r.pixel_aspect_x, scale_y=r.pixel_aspect_y)
    loc, rot, _ = cam_eval.matrix_world.decompose()
    world = Matrix.Translation(loc) @ rot.to_matrix().to_4x4()
    return [list(row) for row in projection], world.inverted()


def _mesh_arrays(mesh) -> tuple:
    """(flat vertex coordinates, flat triangle vertex indices) of a mesh: numpy arrays, or lists without numpy."""
    mesh.calc_loop_triangles()
    nv, nt = len(mesh.vertices) * 3, len(mesh.loop_triangles) * 3
    if has_numpy():
        import numpy as np

        co, tri = np.empty(nv, dtype=np.float32), np.empty(nt, dtype=np.int32)
    else:
        co, tri = [0.0] * nv, [0] * nt
    mesh.vertices.foreach_get("co", co)
    mesh.loop_triangles.foreach_get("vertices", tri)
    return co, tri


def _object_arrays(obj) -> tuple[list, list]:
    """The arrays of an evaluated object's mesh (modifiers, armature deformation, curves as meshes)."""
    mesh = obj.to_mesh()
    try:
        return _mesh_arrays(mesh) if mesh is not None else ([], [])
    finally:
        obj.to_mesh_clear()


def _camera_triangles(co: list, tri: list, m) -> list:
    """Camera-space triangles ``[(p, q, r), ...]`` of flat arrays under the 4x4 matrix ``m`` (pure Python)."""
    (a, b, c, d), (e, f, g, h), (i, j, k, l_) = m[0], m[1], m[2]
    pts = [(a * x + b * y + c * z + d, e * x + f * y + g * z + h, i * x + j * y + k * z + l_)
           for x, y, z in zip(co[0::3], co[1::3], co[2::3])]
    return [(pts[p], pts[q], pts[r]) for p, q, r in zip(tri[0::3], tri[1::3], tri[2::3])]


def frame_amodal(scene, view_layer, camera, wanted: set[int], copies: dict | None = None,
                 pieces: dict | None = None) -> dict[int, Amodal]:
    """Each wanted label's unoccluded silhouette in the current frame (empty ones included).

    Real objects draw under their pass index; a copy made by instancing draws under its
    label in ``copies`` (:attr:`blender_coco.blender.instancing.Copies.labels`), and not at
    all when it has none, so an object's silhouette never takes in its copies'. The
    triangles of a realized copy (``pieces``: object key -> {piece: label},
    :attr:`blender_coco.blender.realized.Pieces.labels`) draw under the copy's label."""
    rendered = marking.rendered_objects(view_layer)
    return _frame_amodal(scene, view_layer, camera, wanted, rendered, copies or {}, pieces or {})


def _split_by_piece(mesh, co, tri, labels: dict, own: int) -> dict:
    """{label: (flat coordinates, flat triangle indices)} of a realized mesh, each triangle under its
    copy's label (the ``blender_coco_piece`` face attribute; ``own`` where it is 0 or unlabelled),
    each label with only the vertices its triangles use (a scatter of thousands of copies would
    else transform the whole mesh once per copy)."""
    from blender_coco.blender.realized import PIECE

    attr = mesh.attributes.get(PIECE)
    if attr is None or attr.domain != "FACE":
        return {own: (co, tri)}
    n, nt = len(mesh.polygons), len(mesh.loop_triangles)
    if has_numpy():
        import numpy as np

        piece, face = np.empty(n, dtype=np.float32), np.empty(nt, dtype=np.int64)
        attr.data.foreach_get("value", piece)
        mesh.loop_triangles.foreach_get("polygon_index", face)
        of_tri = np.rint(piece[face]).astype(np.int64)
        keys = np.array(sorted(labels), np.int64)
        values = np.array([labels[k] for k in sorted(labels)], np.int64)
        if keys.size:
            at = np.minimum(np.searchsorted(keys, of_tri), keys.size - 1)
            label_of = np.where(keys[at] == of_tri, values[at], own)
        else:
            label_of = np.full(of_tri.shape, own)
        tris = np.asarray(tri).reshape(-1, 3)
        points = np.asarray(co).reshape(-1, 3)
        order = np.argsort(label_of, kind="stable")
        found, starts = np.unique(label_of[order], return_index=True)
        out = {}
        for v, lo, hi in zip(found, starts, [*starts[1:], order.size]):
            used, local = np.unique(tris[order[lo:hi]], return_inverse=True)
            out[int(v)] = (points[used].ravel(), local.reshape(-1).astype(np.int32))
        return out
    piece, face = [0.0] * n, [0] * nt
    attr.data.foreach_get("value", piece)
    mesh.loop_triangles.foreach_get("polygon_index", face)
    parts: dict = {}
    for t, f in enumerate(face):
        label = labels.get(int(round(piece[f])), own)
        part = parts.get(label)
        if part is None:
            part = parts[label] = ({}, [], [])  # old vertex -> new, coordinates, triangles
        remap, coords, tris = part
        for v in tri[3 * t:3 * t + 3]:
            new = remap.get(v)
            if new is None:
                new = remap[v] = len(remap)
                coords.extend(co[3 * v:3 * v + 3])
            tris.append(new)
    return {label: (coords, tris) for label, (_, coords, tris) in parts.items()}


def _frame_amodal(scene, view_layer, camera, wanted: set[int], rendered: set[str],
                  copies: dict, pieces: dict) -> dict[int, Amodal]:
    from blender_coco.blender.instancing import copy_path

    width, height = output_size(scene)
    depsgraph = evaluated_depsgraph(scene, view_layer)
    projection, world_to_cam = _camera_matrices(scene, camera, depsgraph, width, height)
    # first list what to draw: making meshes while iterating object_instances breaks the iteration
    todo = []  # (pass index, cache key, evaluated object or instanced mesh, world -> camera @ matrix_world)
    for inst in depsgraph.object_instances:
        obj = inst.object
        if obj is None or obj.type not in _SURFACE_TYPES or not getattr(obj, "visible_camera", True):
            continue
        original = obj.original
        if not inst.is_instance and marking.object_key(original) not in rendered:
            continue
        index = copies.get(copy_path(inst), 0) if inst.is_instance else original.pass_index
        split = None if inst.is_instance else pieces.get(marking.object_key(original))
        if index not in wanted and split is None:
            continue
        matrix = world_to_cam @ inst.matrix_world
        if inst.is_instance:  # a temporary object: keep its (evaluated) mesh, not the object
            if isinstance(obj.data, bpy.types.Mesh):
                todo.append((index, obj.data.as_pointer(), obj.data, matrix, None))
        elif split is not None and isinstance(obj.data, bpy.types.Mesh):  # realized copies: the evaluated mesh
            todo.append((index, obj.data.as_pointer(), obj.data, matrix, split))
        else:
            todo.append((index, obj.as_pointer(), obj, matrix, None))
    parts: dict[int, list] = {index: [] for index in wanted}
    cache: dict[int, tuple] = {}
    for index, key, source, matrix, split in todo:
        if key not in cache:
            cache[key] = _mesh_arrays(source) if isinstance(source, bpy.types.Mesh) else _object_arrays(source)
        co, tri = cache[key]
        rows = [list(row) for row in matrix]
        groups = {index: (co, tri)} if split is None else _split_by_piece(source, co, tri, split, index)
        for label, (points, some) in groups.items():
            if len(some) and label in parts:
                parts[label].append((points, some, rows))
    near, far = camera.data.clip_start, camera.data.clip_end
    out = {}
    for index, pieces in parts.items():
        if has_numpy():
            from blender_coco.silhouette import rle_counts, silhouette, transformed

            sil = silhouette(transformed(pieces), projection, width, height, near, far)
            counts, outside = rle_counts(sil.mask), sil.outside_area
        else:
            from blender_coco.silhouette_pure import silhouette_counts

            tris = [t for co, tri, m in pieces for t in _camera_triangles(co, tri, m)]
            counts, outside = silhouette_counts(tris, projection, width, height, near, far)
        out[index] = Amodal(counts=encode_counts(counts), outside_area=outside)
    return out

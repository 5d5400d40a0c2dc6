"""Amodal silhouettes of a frame's instances: their evaluated triangles rasterized with the camera.

::

    available() -> str | None                 None, or why amodal masks cannot be made here
    frame_amodal(scene, view_layer, camera, wanted) -> {pass_index: Amodal}

No extra render: every object instance of the evaluated depsgraph whose pass index is
in ``wanted`` (a marked object and its descendants share one; armature-deformed,
modifier and geometry-node meshes come evaluated, curves and text as their meshes)
gives its triangles in camera space, and :func:`blender_coco.silhouette.silhouette`
rasterizes each instance's triangles at pixel centres (the camera's own projection
matrix: sensor fit, shift, pixel aspect, orthographic). Objects hidden from render or
from camera rays are left out. Needs numpy in Blender's Python (the ``bpy`` module
and Blender's official builds have it; Debian's Blender 3.4 does not: then
:func:`available` says so and the run renders without amodal masks).

Instanced copies (collection instances, particles, geometry-node instances) join the
instance whose pass index their evaluated object carries, as in the object-index
pass; telling copies that share a pass index apart is up to the sidecar's instance
identity (docs/records.md).
"""

from __future__ import annotations

import importlib.util
import logging

import bpy

from blender_coco.blender import marking
from blender_coco.blender.scene_info import evaluated_depsgraph, output_size
from blender_coco.records.amodal import Amodal, encode_counts

log = logging.getLogger(__name__)

#: Object types that render as surfaces and evaluate to a mesh.
_SURFACE_TYPES = {"MESH", "CURVE", "SURFACE", "META", "FONT"}


def available() -> str | None:
    """None when amodal masks can be made in this Python, else the reason (one line)."""
    if importlib.util.find_spec("numpy") is None:
        return ("this Blender's Python has no numpy, which amodal masks need (Debian's Blender 3.4 lacks it: "
                "apt-get install python3-numpy, or use an official Blender build or the bpy module)")
    return None


def _camera_matrices(scene, camera, depsgraph, width: int, height: int):
    import numpy as np

    r = scene.render
    cam_eval = camera.evaluated_get(depsgraph)
    projection = cam_eval.calc_matrix_camera(depsgraph, x=width, y=height,
                                             scale_x=r.pixel_aspect_x, scale_y=r.pixel_aspect_y)
    world = np.array(cam_eval.matrix_world, dtype=np.float64)
    world[:3, :3] /= np.linalg.norm(world[:3, :3], axis=0)  # renders ignore the camera's scale
    return np.array(projection, dtype=np.float64), np.linalg.inv(world)


def _arrays(mesh):
    """(vertex coordinates (V, 3), triangle vertex indices (T, 3)) of a mesh."""
    import numpy as np

    mesh.calc_loop_triangles()
    co = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
    mesh.vertices.foreach_get("co", co)
    tri = np.empty(len(mesh.loop_triangles) * 3, dtype=np.int32)
    mesh.loop_triangles.foreach_get("vertices", tri)
    return co.reshape(-1, 3).astype(np.float64), tri.reshape(-1, 3)


def _object_arrays(obj):
    """The arrays of an evaluated object's mesh (modifiers, armature deformation, curves as meshes)."""
    import numpy as np

    mesh = obj.to_mesh()
    try:
        return _arrays(mesh) if mesh is not None else (np.zeros((0, 3)), np.zeros((0, 3), np.int32))
    finally:
        obj.to_mesh_clear()


def frame_amodal(scene, view_layer, camera, wanted: set[int]) -> dict[int, Amodal]:
    """Each wanted pass index's unoccluded silhouette in the current frame (empty ones included)."""
    import numpy as np

    from blender_coco.silhouette import rle_counts, silhouette

    width, height = output_size(scene)
    depsgraph = evaluated_depsgraph(scene, view_layer)
    projection, world_to_cam = _camera_matrices(scene, camera, depsgraph, width, height)
    rendered = marking.rendered_objects(view_layer)
    # first list what to draw: making meshes while iterating object_instances breaks the iteration
    todo = []  # (pass index, cache key, evaluated object or instanced mesh, matrix_world)
    for inst in depsgraph.object_instances:
        obj = inst.object
        if obj is None or obj.type not in _SURFACE_TYPES or not getattr(obj, "visible_camera", True):
            continue
        original = obj.original
        if not inst.is_instance and original.name not in rendered:
            continue
        index = original.pass_index
        if index not in wanted:
            continue
        matrix = np.array(inst.matrix_world, dtype=np.float64)
        if inst.is_instance:  # a temporary object: keep its (evaluated) mesh, not the object
            if isinstance(obj.data, bpy.types.Mesh):
                todo.append((index, obj.data.as_pointer(), obj.data, matrix))
        else:
            todo.append((index, obj.as_pointer(), obj, matrix))
    parts: dict[int, list] = {index: [] for index in wanted}
    cache: dict[int, tuple] = {}
    for index, key, source, matrix in todo:
        if key not in cache:
            cache[key] = _arrays(source) if isinstance(source, bpy.types.Mesh) else _object_arrays(source)
        co, tri = cache[key]
        if tri.shape[0] == 0:
            continue
        m = world_to_cam @ matrix
        cam = co @ m[:3, :3].T + m[:3, 3]
        parts[index].append(cam[tri])
    data = camera.data
    out = {}
    for index, chunks in parts.items():
        tris = np.concatenate(chunks, axis=0) if chunks else np.zeros((0, 3, 3))
        sil = silhouette(tris, projection, width, height, data.clip_start, data.clip_end)
        out[index] = Amodal(counts=encode_counts(rle_counts(sil.mask)), outside_area=sil.outside_area)
    return out

"""Read-only facts about a scene that the render stage needs, each computed in one place.

- :func:`output_size`: the rendered image's pixel size (resolution times percentage).
- :func:`scene_camera`: the scene camera, or a one-line error when there is none.
- :func:`evaluated_depsgraph`: an up-to-date evaluated depsgraph of a scene.
- :func:`unit_scale`: metres per Blender unit (the frame record's ``unit_scale``).
- :func:`group_nodes`: every node of a node tree and of the node groups it nests.
"""

from __future__ import annotations

import bpy

from blender_coco.errors import UserError


def output_size(scene) -> tuple[int, int]:
    """Pixel size of the rendered image (resolution times percentage, as Blender rounds it)."""
    r = scene.render
    return r.resolution_x * r.resolution_percentage // 100, r.resolution_y * r.resolution_percentage // 100


def scene_camera(scene, when: str = ""):
    """``scene.camera``; a :class:`UserError` naming the scene (and ``when``, e.g. "at frame 3") if unset."""
    camera = scene.camera
    if camera is None:
        at = f" {when}" if when else ""
        raise UserError(f"scene {scene.name!r} has no camera{at}; add one or set scene.camera")
    return camera


def unit_scale(scene) -> float:
    """Metres per Blender unit: the scene's Unit Scale (``unit_settings.scale_length``; 1.0 when the
    unit system is None, where Blender shows plain units)."""
    units = scene.unit_settings
    return 1.0 if units.system == "NONE" else float(units.scale_length)


def evaluated_depsgraph(scene, view_layer=None):
    """An up-to-date evaluated depsgraph of ``scene`` (the context's when ``scene`` is the context scene,
    else that of ``view_layer`` or the scene's first view layer)."""
    ctx_scene = getattr(bpy.context, "scene", None)
    if ctx_scene is not None and ctx_scene.as_pointer() == scene.as_pointer():
        return bpy.context.evaluated_depsgraph_get()
    depsgraph = (view_layer or scene.view_layers[0]).depsgraph
    depsgraph.update()
    return depsgraph


def group_nodes(tree) -> list:
    """``[(tree, node)]`` for every node of ``tree`` and of the node groups it nests, in order (a
    group's nodes right after its group node), each tree once (``tree`` None: none). A list, so
    callers may add nodes to the trees while they go through it."""
    out: list = []
    seen: set[int] = set()

    def walk(current) -> None:
        if current is None or current.as_pointer() in seen:
            return
        seen.add(current.as_pointer())
        for node in current.nodes:
            out.append((current, node))
            walk(getattr(node, "node_tree", None))

    walk(tree)
    return out

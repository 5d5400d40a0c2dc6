"""Cycles' persistent data, used only where it renders the very pixels of a fresh start.

With ``render.use_persistent_data`` Cycles keeps its scene (geometry, BVH, images,
shaders) between renders and syncs only what changed, which saves most of the
set-up of a heavy scene. Measured on Blender 5.0 (tests/test_persistent_data.py):
the kept scene renders the same pixels as a fresh one under a world of one colour,
whatever changes; under a world whose background is a texture Cycles importance-
samples (an HDRI, a sky), as long as no object, light or material assignment comes
or goes (poses and values may change), but not when one does (the noise pattern
changes). :class:`KeptScene` decides per frame: ``before_render(scene, view_layer)``
frees the kept scene when the frame is of the second kind, so that frame starts afresh.

- :func:`structure`: what Cycles builds an object from besides its pose and values.
- :func:`textured_world`: whether the world's background is importance-sampled.
"""

from __future__ import annotations

from blender_coco.blender import marking

RAY_VISIBILITY = ("visible_camera", "visible_diffuse", "visible_glossy", "visible_transmission",
                  "visible_volume_scatter", "visible_shadow")


def structure(obj) -> tuple:
    """The object's name, kind, data, light type, ray visibility and materials."""
    data = obj.data
    return (obj.name, obj.type, data.as_pointer() if data is not None else 0,
            getattr(data, "type", "") if obj.type == "LIGHT" else "",
            tuple(bool(getattr(obj, a, True)) for a in RAY_VISIBILITY),
            tuple(s.material.name if s.material is not None else "" for s in getattr(obj, "material_slots", ())))


def textured_world(scene) -> bool:
    """True when the world's background is a texture Cycles importance-samples (an HDRI, a sky)."""
    world = scene.world
    if world is None or not world.use_nodes or world.node_tree is None:
        return False
    if getattr(getattr(world, "cycles", None), "sampling_method", "AUTOMATIC") == "NONE":
        return False
    return any(n.type.startswith("TEX_") and any(o.is_linked for o in n.outputs) for n in world.node_tree.nodes)


class KeptScene:
    """Per frame: keep Cycles' scene from the frame before, or start afresh (see the module docstring)."""

    def __init__(self) -> None:
        self.previous: list | None = None
        self.fresh = 0  # frames that started afresh after the first

    def before_render(self, scene, view_layer) -> None:
        rendered = marking.rendered_objects(view_layer)
        now = sorted(structure(o) for o in scene.objects if o.name in rendered)
        r = scene.render
        if self.previous is not None and now != self.previous and r.use_persistent_data and textured_world(scene):
            r.use_persistent_data = False  # frees Cycles' kept scene
            r.use_persistent_data = True
            self.fresh += 1
        self.previous = now

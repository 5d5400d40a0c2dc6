"""Cycles' persistent data, used only where it renders the very pixels of a fresh start.

With ``render.use_persistent_data`` Cycles keeps its scene (geometry, BVH, images,
shaders) between renders and syncs only what changed, which saves most of the
set-up of a heavy scene. Measured on Blender 5.0 (tests/test_persistent_data.py,
50 randomized frames against fresh renders): the kept scene renders the same pixels
while the frame changes only poses and values (transforms, colours, energies,
roughness, the world's colour or image, the camera), but not always when an
object, a light or a material assignment comes or goes, or a light changes type
(a light turned from point to area rendered brighter; under an HDRI world the noise
pattern changed). :class:`KeptScene` decides per frame: ``before_render(scene,
view_layer)`` frees the kept scene when the frame's :func:`structure` differs from
the frame before, so that such a frame starts afresh.

The randomizers keep the structure when they can: ``[[spawn]]`` reuses the j-th copy
of an asset from frame to frame, lights are a pool made once.
"""

from __future__ import annotations

from blender_coco.blender import marking

RAY_VISIBILITY = ("visible_camera", "visible_diffuse", "visible_glossy", "visible_transmission",
                  "visible_volume_scatter", "visible_shadow")


def structure(obj) -> tuple:
    """What Cycles builds an object from besides its pose and values: its name, kind, data
    (and a light's type), ray visibility and materials."""
    data = obj.data
    return (marking.object_key(obj), obj.type, data.as_pointer() if data is not None else 0,
            getattr(data, "type", "") if obj.type == "LIGHT" else "",
            tuple(bool(getattr(obj, a, True)) for a in RAY_VISIBILITY),
            tuple(s.material.name if s.material is not None else "" for s in getattr(obj, "material_slots", ())))


class KeptScene:
    """Per frame: keep Cycles' scene from the frame before, or start afresh (see the module docstring)."""

    def __init__(self) -> None:
        self.previous: list | None = None
        self.fresh = 0  # frames after the first that started afresh
        self.kept = 0  # frames that kept the scene of the frame before

    def before_render(self, scene, view_layer) -> None:
        rendered = marking.rendered_objects(view_layer)
        now = sorted(structure(o) for o in scene.objects if marking.object_key(o) in rendered)
        r = scene.render
        if self.previous is not None and r.use_persistent_data:
            if now != self.previous:
                r.use_persistent_data = False  # frees Cycles' kept scene
                r.use_persistent_data = True
                self.fresh += 1
            else:
                self.kept += 1
        self.previous = now

"""Apply a randomization config to a scene, one frame at a time (the bpy side).

:class:`Randomizer` is a :class:`~blender_coco.blender.hooks.FrameHook` built from a
validated :class:`~blender_coco.randomize.RandomizeConfig` (:func:`for_run` picks a
run's config: a file, else the scene's own). ``start`` resolves every name the config
uses (collections, objects, materials, actions: an unknown one is a one-line error
naming the field) and remembers every value it will change; ``before_frame(scene, i,
seed)`` sets every randomized value of frame ``i`` from ``frame_rng(seed, i, part)``
alone, writing all of them each frame, so a frame never depends on the frames
rendered before it; ``finish`` puts every value back and removes what it created
(lights, the world copy, shader nodes, loaded images, spawned copies).

One module per concept:

- :mod:`.hook`: :class:`Randomizer`, :func:`for_run`, :func:`scene_config`.
- :mod:`.registry`: the :class:`~.registry.Part` contract, ``@register(section)`` and
  :data:`~.registry.ORDER`, the fixed order parts are built, applied and finished in
  (objects, spawn, armatures, materials, lights, world, camera; changing it changes
  datasets).
- One part per section, each registering itself: :mod:`.objects` (pick, show, turn,
  scale, place), :mod:`.armatures` (poses), :mod:`.materials` (colours, textures),
  :mod:`.lights` (a pool of lights), :mod:`.world` (background colour or image),
  :mod:`.camera` (orbit and aim), :mod:`.spawn` (copies of assets per frame) with
  :mod:`.assets` (asset libraries), :mod:`.physics` (rigid-body settling) and
  :mod:`.variation` (per-copy material variants).
- :mod:`.placement`: boxes, spheres and surfaces that objects and spawn place with.
- :mod:`.common`: what parts share (the run's :class:`~.common.Images`, the
  frame's :class:`~.common.Frame`, scene lookups); :mod:`.colors`: HSV and
  temperature colours.

Values are put back by a :class:`~blender_coco.blender.guard.SettingsGuard`, the same
mechanism the render run uses for its own settings.

Memory stays flat: lights are a pool made once, and a loaded image is removed as
soon as a frame no longer uses it. Stock Blender's Python has no numpy: only the
standard library, bpy and mathutils are used here.
"""

# every part module registers its part class on import
from blender_coco.blender.randomizers import armatures, camera, lights, materials, objects, spawn, world
from blender_coco.blender.randomizers.hook import Randomizer, for_run, scene_config
from blender_coco.blender.randomizers.registry import ORDER, Part, register

__all__ = ["ORDER", "Part", "Randomizer", "armatures", "camera", "for_run", "lights", "materials", "objects",
           "register", "scene_config", "spawn", "world"]

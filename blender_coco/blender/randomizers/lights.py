"""``[lights]``: a pool of lights, ``count`` of them shown per frame, each placed and coloured.

:class:`LightsPart` creates the pool once (as many lights as ``count`` can draw) and
per frame gives each shown light a type from ``types``, an energy (``sun_strength``
for suns), a colour from ``temperature``, a place on a sphere around ``target``
(``distance``/``azimuth``/``elevation``) aimed at it, and a ``size``. ``replace``
hides the scene's own lights for the run; ``finish`` removes the pool.
"""

from __future__ import annotations

import bpy
from mathutils import Vector

from blender_coco.blender.randomizers.colors import temperature_rgb
from blender_coco.blender.randomizers.common import Frame, direction
from blender_coco.blender.randomizers.registry import Part, register
from blender_coco.randomize import LightsConfig


@register("lights")
class LightsPart(Part):
    """The ``[lights]`` section: the pool of lights and what each frame makes of it."""

    def __init__(self, cfg: LightsConfig) -> None:
        super().__init__(cfg)
        self.pool = []

    def start(self, scene, guard, images) -> None:
        cfg = self.cfg
        own = [o for o in scene.objects if o.type == "LIGHT"]
        for k in range(int(cfg.count.upper)):
            data = bpy.data.lights.new(f"coco_random_light.{k:02d}", "POINT")
            obj = bpy.data.objects.new(data.name, data)
            scene.collection.objects.link(obj)
            obj.hide_render = True
            self.pool.append((obj, data.name))
        if cfg.replace:
            for o in own:
                guard.set(o, "hide_render", True)

    def apply(self, scene, rng, frame: Frame) -> None:
        cfg = self.cfg
        n = int(cfg.count.sample(rng))
        target = Vector(cfg.target)
        chosen = []
        for k, (obj, data_name) in enumerate(self.pool):
            if k >= n:
                obj.hide_render = True
                continue
            kind = rng.choice(cfg.types)
            energy = (cfg.sun_strength if kind == "SUN" else cfg.energy).sample(rng)
            color = temperature_rgb(cfg.temperature.sample(rng)) if cfg.temperature is not None else (1.0, 1.0, 1.0)
            towards = direction(cfg.azimuth.sample(rng), cfg.elevation.sample(rng))
            distance = cfg.distance.sample(rng)
            size = cfg.size.sample(rng)
            data = obj.data
            if data.type != kind:
                data.type = kind
                data = bpy.data.lights[data_name]  # the Python type follows the light type
            data.energy = energy
            data.color = color
            if kind in ("POINT", "SPOT"):
                data.shadow_soft_size = size
            elif kind == "AREA":
                data.size = max(size, 1e-4)
            obj.location = target + towards * distance
            obj.rotation_mode = "QUATERNION"
            obj.rotation_quaternion = (-towards).to_track_quat("-Z", "Y")
            obj.hide_render = False
            chosen.append([kind, round(energy, 3), [round(v, 3) for v in obj.location]])
        frame.values[self.name] = chosen

    def finish(self) -> None:
        for obj, data_name in self.pool:
            try:
                data = obj.data
                bpy.data.objects.remove(obj, do_unlink=True)
                bpy.data.lights.remove(data)
            except ReferenceError:
                pass
        self.pool = []

"""``[world]``: the background colour and strength, or an environment image from a folder.

:class:`WorldPart` renders with a copy of the scene's world (``coco_random_world``,
removed at the end) and per frame sets its Background colour (``hue``/``saturation``/
``value``; a component left out keeps the world's own) and ``strength``, or, with
probability ``image_probability``, an equirectangular image from ``images`` turned by
``rotation`` degrees about Z.
"""

from __future__ import annotations

import math
import os

import bpy

from blender_coco.blender.randomizers.colors import hsv_to_linear, linear_to_hsv
from blender_coco.blender.randomizers.common import Frame, relink
from blender_coco.blender.randomizers.registry import Part, register
from blender_coco.randomize import WorldConfig, image_files


@register("world")
class WorldPart(Part):
    """The ``[world]`` section: the world copy and its background per frame."""

    def __init__(self, cfg: WorldConfig) -> None:
        super().__init__(cfg)
        self.world = None

    def start(self, scene, guard, images) -> None:
        cfg = self.cfg
        self.images = images
        original = scene.world
        world = original.copy() if original is not None else bpy.data.worlds.new("World")
        world.name = "coco_random_world"
        self.world = world
        if world.node_tree is None:
            world.use_nodes = True
        tree = world.node_tree
        out = next((n for n in tree.nodes if n.type == "OUTPUT_WORLD" and n.is_active_output), None) \
            or next((n for n in tree.nodes if n.type == "OUTPUT_WORLD"), None) or tree.nodes.new("ShaderNodeOutputWorld")
        surface = out.inputs["Surface"]
        bg = surface.links[0].from_node if surface.is_linked else None
        if bg is None or bg.type != "BACKGROUND":
            bg = tree.nodes.new("ShaderNodeBackground")
            tree.links.new(bg.outputs["Background"], surface)
        self.bg = bg
        color = bg.inputs["Color"]
        self.link = color.links[0].from_socket if color.is_linked else None
        own = tuple(color.default_value)[:3] if not color.is_linked else tuple(world.color)
        self.own_hsv = linear_to_hsv(own)
        self.env = None
        self.files = image_files(cfg.images) if cfg.images else []
        if self.files:
            coord = tree.nodes.new("ShaderNodeTexCoord")
            self.mapping = tree.nodes.new("ShaderNodeMapping")
            self.env = tree.nodes.new("ShaderNodeTexEnvironment")
            tree.links.new(coord.outputs["Generated"], self.mapping.inputs["Vector"])
            tree.links.new(self.mapping.outputs["Vector"], self.env.inputs["Vector"])
            settings = getattr(world, "cycles", None)
            if getattr(settings, "sampling_method", None) == "AUTOMATIC":
                # Cycles' automatic importance map of an environment image costs ~1 s per new image on
                # 2 CPU cores (measured, 64x48); a manual 1024 map (Blender's default size) ~0.05 s
                settings.sampling_method = "MANUAL"
                settings.sample_map_resolution = 1024
        guard.set(scene, "world", world)

    def apply(self, scene, rng, frame: Frame) -> None:
        cfg = self.cfg
        image = None
        if self.files and (cfg.image_probability >= 1 or rng.random() < cfg.image_probability):
            image = rng.choice(self.files)
        rotation = cfg.rotation.sample(rng) if cfg.rotation is not None else 0.0
        strength = cfg.strength.sample(rng) if cfg.strength is not None else None
        h0, s0, v0 = self.own_hsv
        h = cfg.hue.sample(rng) if cfg.hue is not None else h0
        s = cfg.saturation.sample(rng) if cfg.saturation is not None else s0
        v = cfg.value.sample(rng) if cfg.value is not None else v0
        tree = self.world.node_tree
        color = self.bg.inputs["Color"]
        if image is not None:
            self.env.image = self.images.get(image, "world.images")
            frame.images.add(os.path.abspath(image))
            self.mapping.inputs["Rotation"].default_value = (0.0, 0.0, math.radians(rotation))
            tree.links.new(self.env.outputs["Color"], color)
        else:
            if self.env is not None:
                self.env.image = None
            if cfg.colors:
                rgb = hsv_to_linear(h, s, v)
                relink(tree, color, None)
                color.default_value = (*rgb, 1.0)
                self.world.color = rgb
            else:
                relink(tree, color, self.link)
        if strength is not None:
            self.bg.inputs["Strength"].default_value = strength
        frame.values[self.name] = {"image": image, "hsv": [round(h, 4), round(s, 4), round(v, 4)],
                                   "strength": strength}

    def finish(self) -> None:
        if self.world is not None:
            try:
                bpy.data.worlds.remove(self.world)
            except ReferenceError:
                pass
            self.world = None

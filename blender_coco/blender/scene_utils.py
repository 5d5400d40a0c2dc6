"""Small helpers the scene builders share (demo, tabletop and the test scenes)."""

from __future__ import annotations


def set_render(scene, width: int, height: int, samples: int, frame_start: int = 1, frame_end: int = 1) -> None:
    """Cycles at ``width`` x ``height`` (100 %), ``samples`` samples, frames ``frame_start..frame_end``."""
    scene.render.engine = "CYCLES"
    scene.cycles.samples = samples
    scene.render.resolution_x = width
    scene.render.resolution_y = height
    scene.render.resolution_percentage = 100
    scene.frame_start = frame_start
    scene.frame_end = frame_end


def set_world_color(scene, rgb: tuple[float, float, float]) -> None:
    """Give ``scene`` a world of one flat colour (viewport colour and node background alike)."""
    import bpy

    world = scene.world or bpy.data.worlds.new("World")
    scene.world = world
    world.color = rgb
    if world.node_tree is None:
        world.use_nodes = True
    background = world.node_tree.nodes.get("Background")
    if background is not None:
        background.inputs["Color"].default_value = (*rgb, 1.0)

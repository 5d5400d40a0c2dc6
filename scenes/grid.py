"""A test scene with more instances than 8 bits hold: 300 marked squares in a grid.

Ortho camera straight down, 120x90 pixels, 0.1 world units per pixel. Square k sits
in grid cell (column k % 20, row k // 20) of 6x6 pixels and covers the 4x4 pixels
starting one pixel into its cell, so its COCO bbox is exactly
``[6 * col + 1, 6 * row + 1, 4, 4]`` and its area 16 (see :func:`expected_bbox`).
Squares are named ``cell_000`` .. ``cell_299`` (pass index = k + 1) with the
categories ``a``, ``b``, ``c`` in turn.

    blender -b --python-exit-code 1 -P scenes/grid.py -- --save grid.blend
"""

import sys
from pathlib import Path

COLUMNS, ROWS, CELL = 20, 15, 6
WIDTH, HEIGHT = COLUMNS * CELL, ROWS * CELL
COUNT = COLUMNS * ROWS
CATEGORIES = ("a", "b", "c")


def name(k: int) -> str:
    return f"cell_{k:03d}"


def category(k: int) -> str:
    return CATEGORIES[k % len(CATEGORIES)]


def expected_bbox(k: int) -> list[int]:
    col, row = k % COLUMNS, k // COLUMNS
    return [CELL * col + 1, CELL * row + 1, 4, 4]


def build(scene) -> None:
    """Add the 300 squares and an ortho camera to ``scene``."""
    import bpy

    from blender_coco.blender.marking import mark
    from blender_coco.blender.scene_utils import set_render

    for k in range(COUNT):
        x, y, _, _ = expected_bbox(k)
        x0 = -WIDTH * 0.05 + x * 0.1
        y1 = HEIGHT * 0.05 - y * 0.1
        verts = [(x0, y1 - 0.4, 0.0), (x0 + 0.4, y1 - 0.4, 0.0), (x0 + 0.4, y1, 0.0), (x0, y1, 0.0)]
        mesh = bpy.data.meshes.new(name(k))
        mesh.from_pydata(verts, [], [(0, 1, 2, 3)])
        obj = bpy.data.objects.new(name(k), mesh)
        scene.collection.objects.link(obj)
        mark(obj, category(k))
    cam_data = bpy.data.cameras.new("Camera")
    cam_data.type = "ORTHO"
    cam_data.ortho_scale = WIDTH * 0.1
    camera = bpy.data.objects.new("Camera", cam_data)
    scene.collection.objects.link(camera)
    camera.location = (0.0, 0.0, 10.0)
    scene.camera = camera
    set_render(scene, WIDTH, HEIGHT, samples=1)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from blender_coco.blender.scene_builder import main

    sys.exit(main(build, description="Build the 300-instance grid test scene and save it."))

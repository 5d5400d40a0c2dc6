"""A test scene whose every mask is known exactly: flat rectangles under an ortho camera.

The camera looks straight down from z = 10 with ``ortho_scale`` 9.6 over a 96x72
image, so one pixel is 0.1 x 0.1 world units and the image covers x in [-4.8, 4.8],
y in [-3.6, 3.6]. Pixel (column c, row r) covers x in [-4.8 + 0.1 c, -4.8 + 0.1 (c+1)]
and y in [3.6 - 0.1 (r+1), 3.6 - 0.1 r]. Every rectangle edge lies on a pixel boundary (a multiple
of 0.1), half a pixel from the nearest pixel centres, so the expected masks follow
from :data:`RECTS` by hand (see :func:`expected_masks`). Higher z is nearer the camera.

Cases: a plain tile, a tile partly under an unmarked blocker, tiles cut by the right
and top borders, two meshes under one marked empty, a rail split in two by an
unmarked post, a marked cup on a marked tray (nearest marked ancestor decides) with
an unmarked handle belonging to the tray, a tile hidden with hide_render, a tile in
a collection hidden from render, a tile in a collection excluded from the view
layer, and a tile fully under the blocker (zero pixels).

    blender -b --python-exit-code 1 -P scenes/analytic.py -- --save analytic.blend
"""

import sys
from pathlib import Path

WIDTH, HEIGHT, ORTHO_SCALE = 96, 72, 9.6

# name: (category or None, supercategory, parent, (x0, y0, x1, y1), z, where)
# where: "scene", "hide_render", "hidden_collection", "excluded_collection"
RECTS = {
    "tile_a": ("tile", "shape", None, (-4.0, 1.0, -2.0, 3.0), 0.0, "scene"),
    "tile_b": ("tile", "shape", None, (-1.0, 1.0, 1.0, 3.0), 0.0, "scene"),
    "blocker": (None, None, None, (0.0, 0.0, 2.0, 2.0), 1.0, "scene"),
    "buried": ("tile", "shape", None, (0.2, 0.2, 0.8, 0.8), -1.0, "scene"),
    "edge_right": ("edge", None, None, (4.0, -1.0, 6.0, 1.0), 0.0, "scene"),
    "edge_top": ("edge", None, None, (-4.6, 2.5, -4.2, 5.0), 0.0, "scene"),
    "pair": ("pair", None, None, None, 0.0, "scene"),  # an empty: its two meshes are one instance
    "pair.left": (None, None, "pair", (-4.0, -3.0, -3.0, -2.0), 0.0, "scene"),
    "pair.right": (None, None, "pair", (-2.5, -3.0, -1.5, -2.0), 0.0, "scene"),
    "rail": ("rail", None, None, (-1.0, -3.0, 3.0, -2.5), 0.0, "scene"),
    "post": (None, None, None, (0.5, -3.5, 1.0, -2.0), 1.0, "scene"),
    "tray": ("tray", None, None, (-4.0, -1.5, -1.5, -0.5), 0.0, "scene"),
    "tray.cup": ("cup", None, "tray", (-3.5, -1.3, -2.5, -0.7), 0.5, "scene"),
    "tray.handle": (None, None, "tray", (-1.5, -1.2, -1.0, -0.8), 0.0, "scene"),
    "ghost": ("tile", "shape", None, (2.5, 1.0, 3.5, 2.0), 2.0, "hide_render"),
    "ghost_hidden": ("tile", "shape", None, (2.5, -1.5, 3.5, -0.5), 2.0, "hidden_collection"),
    "ghost_excluded": ("tile", "shape", None, (3.6, -2.4, 4.4, -1.6), 2.0, "excluded_collection"),
}


def instance_of(name: str) -> str | None:
    """The marked object whose instance ``name`` belongs to (nearest marked ancestor)."""
    while name is not None:
        category, _, parent, _, _, _ = RECTS[name]
        if category is not None:
            return name
        name = parent
    return None


def expected_masks():
    """{marked name: boolean HEIGHT x WIDTH mask} computed from the layout alone (numpy)."""
    import numpy as np

    xs = -4.8 + (np.arange(WIDTH) + 0.5) * 0.1  # pixel centres
    ys = 3.6 - (np.arange(HEIGHT) + 0.5) * 0.1
    depth = np.full((HEIGHT, WIDTH), -np.inf)
    owner = np.full((HEIGHT, WIDTH), "", dtype=object)
    for name, (_, _, _, rect, z, where) in RECTS.items():
        if rect is None or where != "scene":
            continue
        x0, y0, x1, y1 = rect
        inside = ((xs[None, :] > x0) & (xs[None, :] < x1) & (ys[:, None] > y0) & (ys[:, None] < y1)) & (z > depth)
        depth[inside] = z
        owner[inside] = instance_of(name) or ""
    return {n: owner == n for n in sorted({instance_of(n) for n in RECTS} - {None})}


def build(scene) -> None:
    """Add the rectangles, collections and the ortho camera to ``scene``."""
    import bpy

    from blender_coco.blender.marking import mark
    from blender_coco.blender.scene_utils import set_render

    hidden = bpy.data.collections.new("hidden_from_render")
    hidden.hide_render = True
    excluded = bpy.data.collections.new("excluded")
    scene.collection.children.link(hidden)
    scene.collection.children.link(excluded)
    objects = {}
    for name, (category, supercategory, parent, rect, z, where) in RECTS.items():
        if rect is None:
            obj = bpy.data.objects.new(name, None)
        else:
            x0, y0, x1, y1 = rect
            mesh = bpy.data.meshes.new(name)
            mesh.from_pydata([(x0, y0, z), (x1, y0, z), (x1, y1, z), (x0, y1, z)], [], [(0, 1, 2, 3)])
            obj = bpy.data.objects.new(name, mesh)
        {"hidden_collection": hidden, "excluded_collection": excluded}.get(where, scene.collection).objects.link(obj)
        obj.hide_render = where == "hide_render"
        if parent is not None:
            obj.parent = objects[parent]  # parents sit at the origin: vertices stay in world space
        if category is not None:
            mark(obj, category, supercategory)
        objects[name] = obj
    for layer in scene.view_layers:
        layer.layer_collection.children[excluded.name].exclude = True

    cam_data = bpy.data.cameras.new("Camera")
    cam_data.type = "ORTHO"
    cam_data.ortho_scale = ORTHO_SCALE
    camera = bpy.data.objects.new("Camera", cam_data)
    scene.collection.objects.link(camera)
    camera.location = (0.0, 0.0, 10.0)
    scene.camera = camera
    world = scene.world or bpy.data.worlds.new("World")
    scene.world = world
    world.color = (0.2, 0.2, 0.2)

    set_render(scene, WIDTH, HEIGHT, samples=1)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from blender_coco.blender.scene_builder import main

    sys.exit(main(build, description="Build the analytic test scene and save it."))

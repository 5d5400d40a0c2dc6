"""A tabletop scene for randomization: props and clutter placed on a table each frame.

A table (unmarked mesh ``TableTop`` with four legs) on a stuff floor; the collection
``Props`` holds marked objects (mugs, boxes, balls, a bottle: categories ``mug``,
``box``, ``ball``, ``bottle``) and ``Clutter`` unmarked ones (a book, a cone), both
excluded from the view layer like an asset library. Without a randomization config
nothing stands on the table; ``scenes/randomize_tabletop.toml`` picks 2-6 props and
0-2 clutter pieces per frame and stands them on ``TableTop`` without overlap.

    python scenes/tabletop.py --save tabletop.blend            # the bpy module
    blender -b --python-exit-code 1 -P scenes/tabletop.py -- --save tabletop.blend
    blender-coco render tabletop.blend --out ds --frames 100 --config scenes/randomize_tabletop.toml
"""

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TABLE_TOP_Z = 0.8  # height of the table's upper face
TABLE_SIZE = (2.0, 1.2)
PROPS = {  # name: (category, shape, size, colour)
    "Mug.001": ("mug", "cylinder", (0.09, 0.2), (0.8, 0.1, 0.1)),
    "Mug.002": ("mug", "cylinder", (0.08, 0.18), (0.9, 0.9, 0.85)),
    "Box.001": ("box", "box", (0.25, 0.2, 0.18), (0.1, 0.3, 0.8)),
    "Box.002": ("box", "box", (0.15, 0.15, 0.15), (0.9, 0.6, 0.1)),
    "Ball.001": ("ball", "sphere", (0.11,), (0.1, 0.6, 0.2)),
    "Ball.002": ("ball", "sphere", (0.08,), (0.7, 0.1, 0.6)),
    "Bottle": ("bottle", "cylinder", (0.06, 0.34), (0.1, 0.5, 0.45)),
}
CLUTTER = {
    "Book": ("box", (0.3, 0.22, 0.05), (0.4, 0.25, 0.15)),
    "Cone": ("cone", (0.1, 0.25), (0.95, 0.45, 0.05)),
}


def _asset_collection(scene, name: str):
    import bpy

    coll = bpy.data.collections.new(name)
    scene.collection.children.link(coll)
    for layer in scene.view_layers:
        layer.layer_collection.children[name].exclude = True  # an asset library: randomizers bring objects in
    return coll


def build(scene) -> None:
    """Add the table, floor, prop and clutter collections, camera and light to ``scene``."""
    import bpy
    from mathutils import Vector

    from blender_coco.blender import demo_scene as d
    from blender_coco.blender.marking import STUFF_PROP, mark
    from blender_coco.blender.scene_utils import set_render, set_world_color

    floor = d.add_object(scene, "Floor", d.box(20.0, 20.0, 0.02), (0.0, 0.0, -0.02), d.material("floor", (0.5, 0.5, 0.5)))
    mark(floor, "floor")
    floor[STUFF_PROP] = True
    wood = d.material("table_wood", (0.4, 0.25, 0.12))
    top = d.add_object(scene, "TableTop", d.box(TABLE_SIZE[0], TABLE_SIZE[1], 0.06), (0.0, 0.0, TABLE_TOP_Z - 0.06), wood)
    for i, (x, y) in enumerate(((-0.9, -0.5), (0.9, -0.5), (-0.9, 0.5), (0.9, 0.5))):
        d.add_object(scene, f"TableLeg.{i}", d.box(0.06, 0.06, TABLE_TOP_Z - 0.06), (x, y, -(TABLE_TOP_Z - 0.06)),
                     wood, parent=top)
    props = _asset_collection(scene, "Props")
    for name, (category, shape, size, rgb) in PROPS.items():
        make = {"cylinder": lambda s: d.cylinder(s[0], s[0], s[1]), "box": lambda s: d.box(*s),
                "sphere": lambda s: d.sphere(s[0])}[shape](size)
        obj = d.add_object(scene, name, make, (0.0, 0.0, 0.0), d.material(f"prop_{name}", rgb), collection=props)
        mark(obj, category, "tabletop")
    clutter = _asset_collection(scene, "Clutter")
    for name, (shape, size, rgb) in CLUTTER.items():
        make = d.box(*size) if shape == "box" else d.cylinder(size[0], 0.0, size[1])
        d.add_object(scene, name, make, (0.0, 0.0, 0.0), d.material(f"clutter_{name}", rgb), collection=clutter)

    cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(cam)
    cam.data.lens = 35.0
    cam.location = (0.0, -2.6, 2.3)
    cam.rotation_euler = (Vector((0.0, 0.0, TABLE_TOP_Z)) - cam.location).to_track_quat("-Z", "Y").to_euler()
    scene.camera = cam
    sun = bpy.data.objects.new("Sun", bpy.data.lights.new("Sun", "SUN"))
    sun.data.energy = 3.0
    sun.rotation_euler = (math.radians(35), 0.0, math.radians(25))
    scene.collection.objects.link(sun)
    set_world_color(scene, (0.35, 0.37, 0.4))
    set_render(scene, 320, 240, samples=16)


if __name__ == "__main__":
    from blender_coco.blender.scene_builder import main

    sys.exit(main(build, description="Build the tabletop randomization scene and save it."))

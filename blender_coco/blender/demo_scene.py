"""The built-in demo scene: what ``blender-coco render`` renders without a .blend.

:func:`build` fills a scene through ``bpy.data`` and ``bmesh`` only, so the same
builder runs on every Blender from 3.4 to 5.0 (a .blend saved by 5.0 does not open
in 3.x: ship scenes as builders). It shows five categories and the hard cases of
instance annotation: objects occluding each other, a ball that moves across the
others over frames 1-12, a fence split in two by an unmarked post in front of it,
a table made of five meshes under one marked empty, and a box cut by the right
border of the frame. The ground is stuff ("floor", ``coco_stuff``) and the world
background is stuff too ("sky", the scene's ``coco_background``), so one render
yields instances, stuff, panoptic and captions. Materials are plain colors; the
world lights the scene.

The scene carries its own randomization (:data:`DEMO_RANDOMIZE` in the scene property
``coco_randomize``): every frame the camera orbits the scene, the box, the small
ball and the cone stand somewhere else on the ground, 3-7 toys (small
boxes, balls and cones from the excluded collection ``Toys``, each with its own
shade) drop onto the table with rigid-body physics and pile up or roll off onto the
ground, and lights, sky and material shades change: ``blender-coco render --out ds
--frames 20`` gives 20 different layouts (``--no-randomize`` renders the scene as
built, with the hard cases above where described).
"""

from __future__ import annotations

import json
import math

import bpy  # first: in the bpy module, bmesh and mathutils exist only once bpy is imported
import bmesh
from mathutils import Matrix, Vector

from blender_coco.blender.marking import BACKGROUND_PROP, STUFF_PROP, mark
from blender_coco.blender.scene_utils import set_render, set_world_color
from blender_coco.randomize import SCENE_PROP

#: The demo's own randomization (docs/randomize.md): the camera orbits, three props move on
#: the ground, toys drop onto the table with physics; scenes/randomize_demo.toml is a
#: stronger variant. With ``--no-randomize`` the scene renders as built.
DEMO_RANDOMIZE = {
    "camera": {"target": [0.4, 2.0, 0.8], "distance": [8.5, 11.0], "azimuth": [-28.0, 28.0], "elevation": [16.0, 32.0],
               "look_at_jitter": 0.3, "focal_length": [32.0, 42.0]},
    "lights": {"count": [1, 2], "types": ["SUN", "POINT", "AREA"], "sun_strength": [1.5, 3.5],
               "energy": [800.0, 3000.0], "temperature": [3500.0, 8000.0], "target": [0.0, 1.0, 0.0],
               "distance": [6.0, 10.0], "azimuth": [-90.0, 90.0], "elevation": [30.0, 75.0], "size": [0.2, 1.5]},
    "world": {"hue": [0.5, 0.65], "saturation": [0.05, 0.4], "value": [0.3, 0.8], "strength": [0.6, 1.3]},
    "objects": [{"objects": ["Fence", "Post", "Ball", "Box.002", "Table"]},  # stay put: obstacles for the group below
                {"objects": ["Box.001", "Ball.001", "Cone"], "surface": "Ground",
                 "region": {"min": [-4.0, -1.2, 0.0], "max": [4.0, 3.6, 0.0]}, "rotation": {"z": [0.0, 360.0]},
                 "spacing": 0.15}],
    "spawn": [{"collection": "Toys", "count": [3, 7], "surface": "Table.top",
               "rotation": {"x": [0.0, 360.0], "y": [0.0, 360.0], "z": [0.0, 360.0]},
               "physics": {"colliders": ["Ground"], "drop_height": [0.1, 0.8]},
               "material": {"hue": [-0.06, 0.06], "value": [0.7, 1.2], "roughness": [0.3, 0.9]}}],
    "materials": [{"materials": ["demo_red", "demo_blue", "demo_wood", "demo_green", "demo_orange"],
                   "hue": [-0.03, 0.03], "saturation": [0.8, 1.1], "value": [0.75, 1.15], "roughness": [0.3, 0.9]}],
}
#: The toys ``[[spawn]]`` copies: name -> (category, supercategory, shape, size, material).
TOYS = {"ToyBox": ("box", "container", "box", 0.32, "demo_red"),
        "ToyBall": ("ball", "toy", "sphere", 0.17, "demo_blue"),
        "ToyCone": ("cone", None, "cone", 0.2, "demo_orange")}


def material(name: str, rgb: tuple[float, float, float]):
    """A Principled material of plain colour ``rgb`` (scene-linear)."""
    mat = bpy.data.materials.get(name) or bpy.data.materials.new(name)
    mat.diffuse_color = (*rgb, 1.0)
    if mat.node_tree is None:
        mat.use_nodes = True
    bsdf = mat.node_tree.nodes.get("Principled BSDF")
    if bsdf is not None:
        bsdf.inputs["Base Color"].default_value = (*rgb, 1.0)
        bsdf.inputs["Roughness"].default_value = 0.6
    return mat


def add_object(scene, name: str, make, location, material=None, parent=None, rotation_z: float = 0.0,
               collection=None):
    """A mesh object built by ``make(bm)``, linked to ``collection`` (default: the scene's)."""
    bm = bmesh.new()
    make(bm)
    mesh = bpy.data.meshes.new(name)
    bm.to_mesh(mesh)
    bm.free()
    if material is not None:
        mesh.materials.append(material)
    obj = bpy.data.objects.new(name, mesh)
    (collection or scene.collection).objects.link(obj)
    obj.location = location
    obj.rotation_euler = (0.0, 0.0, rotation_z)
    if parent is not None:
        obj.parent = parent
    return obj


def box(sx: float, sy: float, sz: float):
    """A box with its base on z = 0."""
    m = Matrix.Translation((0.0, 0.0, sz / 2)) @ Matrix.Diagonal((sx, sy, sz, 1.0))
    return lambda bm: bmesh.ops.create_cube(bm, size=1.0, matrix=m)


def sphere(radius: float):
    """A UV sphere centred on the origin."""
    return lambda bm: bmesh.ops.create_uvsphere(bm, u_segments=24, v_segments=12, radius=radius)


def cylinder(radius_bottom: float, radius_top: float, height: float):
    """A cylinder (or cone) with its base on z = 0."""
    m = Matrix.Translation((0.0, 0.0, height / 2))
    return lambda bm: bmesh.ops.create_cone(bm, cap_ends=True, cap_tris=False, segments=24,
                                            radius1=radius_bottom, radius2=radius_top, depth=height, matrix=m)


def build(scene) -> None:
    """Add the demo objects, camera, light, world and render settings to ``scene``."""
    red = material("demo_red", (0.8, 0.1, 0.08))
    blue = material("demo_blue", (0.1, 0.25, 0.8))
    wood = material("demo_wood", (0.45, 0.28, 0.12))
    green = material("demo_green", (0.15, 0.6, 0.2))
    orange = material("demo_orange", (0.9, 0.45, 0.05))
    grey = material("demo_grey", (0.5, 0.5, 0.5))

    ground = add_object(scene, "Ground", box(30.0, 30.0, 0.02), (0.0, 0.0, -0.02), grey)
    mark(ground, "floor", "ground")
    ground[STUFF_PROP] = True  # stuff: one region per image in stuff.json and panoptic
    scene[BACKGROUND_PROP] = "sky"  # the world background is stuff too

    for name, loc, rot in (("Box.001", (-2.3, 0.6, 0.0), 0.35), ("Box.002", (5.6, 1.2, 0.0), -0.2)):
        mark(add_object(scene, name, box(1.0, 1.0, 1.0), loc, red, rotation_z=rot), "box", "container")

    ball = add_object(scene, "Ball", sphere(0.6), (-2.0, -1.6, 0.6), blue)
    mark(ball, "ball", "toy")
    for frame, x in ((1, -2.0), (12, 2.0)):
        ball.location.x = x
        ball.keyframe_insert("location", frame=frame)
    mark(add_object(scene, "Ball.001", sphere(0.45), (-2.9, 1.9, 0.45), blue), "ball", "toy")

    table = bpy.data.objects.new("Table", None)
    scene.collection.objects.link(table)
    table.location = (0.6, 2.2, 0.0)
    mark(table, "table", "furniture")
    add_object(scene, "Table.top", box(2.0, 1.1, 0.1), (0.0, 0.0, 0.9), wood, parent=table)
    for i, (x, y) in enumerate(((-0.9, -0.45), (0.9, -0.45), (-0.9, 0.45), (0.9, 0.45))):
        add_object(scene, f"Table.leg{i}", box(0.1, 0.1, 0.9), (x, y, 0.0), wood, parent=table)

    mark(add_object(scene, "Fence", box(7.0, 0.15, 0.5), (0.0, 4.5, 0.0), green), "fence")
    add_object(scene, "Post", cylinder(0.25, 0.25, 2.5), (-1.2, 3.4, 0.0), grey)  # unmarked: splits the fence

    mark(add_object(scene, "Cone", cylinder(0.5, 0.0, 1.2), (2.0, -0.4, 0.0), orange), "cone")

    toys = bpy.data.collections.new("Toys")  # an asset library: excluded, [[spawn]] copies from it
    scene.collection.children.link(toys)
    for layer in scene.view_layers:
        layer.layer_collection.children["Toys"].exclude = True
    for name, (category, supercategory, shape, size, mat) in TOYS.items():
        make = {"box": box(size, size, size), "sphere": sphere(size), "cone": cylinder(size, 0.0, 2.2 * size)}[shape]
        toy = add_object(scene, name, make, (0.0, 0.0, 0.0), bpy.data.materials[mat], collection=toys)
        mark(toy, category, supercategory)

    cam_data = bpy.data.cameras.new("Camera")
    cam_data.lens = 35.0
    camera = bpy.data.objects.new("Camera", cam_data)
    scene.collection.objects.link(camera)
    camera.location = (0.0, -9.5, 4.2)
    direction = Vector((0.0, 1.5, 0.6)) - camera.location
    camera.rotation_euler = direction.to_track_quat("-Z", "Y").to_euler()
    scene.camera = camera

    sun_data = bpy.data.lights.new("Sun", "SUN")
    sun_data.energy = 3.0
    sun = bpy.data.objects.new("Sun", sun_data)
    scene.collection.objects.link(sun)
    sun.rotation_euler = (math.radians(40), math.radians(10), math.radians(30))

    set_world_color(scene, (0.3, 0.32, 0.35))
    set_render(scene, 320, 240, samples=16, frame_start=1, frame_end=12)
    scene.frame_set(1)
    scene[SCENE_PROP] = json.dumps(DEMO_RANDOMIZE)


def new_scene():
    """Reset Blender to an empty file and build the demo scene in it; returns the scene."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    build(scene)
    return scene

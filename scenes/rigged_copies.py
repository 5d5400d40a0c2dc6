"""Copies of a rigged character, built the way Blender users build them, and their truth.

Run inside Blender (module or binary, 3.4 to 5.0)::

    build(scene, kind, path=None)   kind in KINDS (+ "hidden", "mesh_scatter"); a perspective
                            camera, 64x48, 2 samples, frame 3 ("linked": path of the .blend
                            that write_library wrote)
    write_library(path)     a .blend holding only collection ``Lib`` with the rig (File > Link source)
    make_real(scene, kind)  the truth: every copy of the rig a real, marked armature (same action)
                            with its own skinned mesh, placed by the instancers' matrices
                            computed by hand (particles: read from the depsgraph); instancers removed
    truth_keypoints(scene)  {armature name: [[x, y, depth], ...]} projected by bpy_extras, not by us

The rig: armature ``Rig`` (category ``person``) with bones ``Body`` (vertical) and ``Arm``
(horizontal, from the top of ``Body``), an action that swings ``Arm`` about X over frames
1..9, and a skinned box mesh ``Skin`` parented to it (vertex groups ``Body`` and ``Arm``).
Keypoints: ``hip`` = Body head, ``neck`` = Body tail, ``hand`` = Arm tail.

Kinds:
    asset_library   ``Lib`` (excluded from the view layer) instanced by three empties, one
                    behind another so that some keypoints are hidden
    nested          ``Lib`` instanced by an empty inside ``Pair``, instanced by two empties
    particles       ``Lib`` instanced by the three particles of a hidden emitter
    linked          ``Lib`` linked from another .blend (File > Link), placed as asset_library
    geometry_nodes  ``Lib`` instanced by geometry nodes (Collection Info > Instance on Points) on
                    the two points of ``Scatter``, not realized
    hidden          one real rig (no copies) in collection ``Char``, to hide in the viewport
    mesh_scatter    geometry nodes instance the skinned mesh ``RigSkin`` (not its armature)
                    on two points: annotated, without keypoints
"""

from __future__ import annotations

import math

import bpy
from mathutils import Matrix

KINDS = ("asset_library", "nested", "particles", "linked", "geometry_nodes")
KEYPOINTS = '[["hip", "Body"], ["neck", "Body", "tail"], ["hand", "Arm", "tail"]]'
FRAME = 3
#: empties of the asset_library kind: (location, rotation about Z, scale)
PLACES = [((-2.2, 0.0, 0.0), 0.0, 1.0), ((2.0, 0.0, 0.0), 0.6, 0.8), ((0.4, 2.5, 0.0), -0.3, 1.2)]
PAIR = [((-2.0, 0.0, 0.0), 0.2), ((2.0, 1.0, 0.0), -0.4)]


def _base(scene) -> None:
    r = scene.render
    r.engine = "CYCLES"
    r.resolution_x, r.resolution_y, r.resolution_percentage = 64, 48, 100
    scene.cycles.samples = 2
    scene.cycles.use_denoising = False
    scene.cycles.device = "CPU"
    cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    cam.data.lens = 35.0
    cam.location = (0.0, -12.0, 1.2)
    cam.rotation_euler = (math.radians(90.0), 0.0, 0.0)
    scene.collection.objects.link(cam)
    scene.camera = cam
    world = bpy.data.worlds.new("World")
    world.color = (0.05, 0.05, 0.05)
    scene.world = world
    scene.frame_start = scene.frame_end = FRAME


def _box(verts, faces, lo, hi, group, groups):
    base = len(verts)
    (x0, y0, z0), (x1, y1, z1) = lo, hi
    verts += [(x0, y0, z0), (x1, y0, z0), (x1, y1, z0), (x0, y1, z0),
              (x0, y0, z1), (x1, y0, z1), (x1, y1, z1), (x0, y1, z1)]
    faces += [tuple(base + i for i in f) for f in
              ((0, 1, 2, 3), (4, 7, 6, 5), (0, 4, 5, 1), (1, 5, 6, 2), (2, 6, 7, 3), (3, 7, 4, 0))]
    groups[group] = list(range(base, base + 8))


def rig(collection, name: str = "Rig"):
    """The marked armature and its skinned mesh, linked to ``collection``; returns the armature."""
    data = bpy.data.armatures.new(name)
    arm = bpy.data.objects.new(name, data)
    collection.objects.link(arm)
    scene = bpy.context.scene
    extra = collection != scene.collection  # edit bones need the object in the view layer
    if extra:
        scene.collection.objects.link(arm)
    bpy.context.view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="EDIT")
    body = data.edit_bones.new("Body")
    body.head, body.tail = (0.0, 0.0, 0.0), (0.0, 0.0, 1.6)
    limb = data.edit_bones.new("Arm")
    limb.head, limb.tail = (0.0, 0.0, 1.6), (1.2, 0.0, 1.6)
    limb.parent = body
    bpy.ops.object.mode_set(mode="OBJECT")
    if extra:
        scene.collection.objects.unlink(arm)
    pb = arm.pose.bones["Arm"]
    pb.rotation_mode = "XYZ"
    for frame, angle in ((1, -0.8), (9, 0.8)):
        pb.rotation_euler = (angle, 0.0, 0.0)
        pb.keyframe_insert("rotation_euler", frame=frame)
    arm["coco_category"] = "person"
    arm["coco_keypoints"] = KEYPOINTS

    verts, faces, groups = [], [], {}
    _box(verts, faces, (-0.3, -0.25, 0.0), (0.3, 0.25, 1.6), "Body", groups)
    _box(verts, faces, (0.0, -0.15, 1.45), (1.2, 0.15, 1.75), "Arm", groups)
    mesh = bpy.data.meshes.new(name + "Skin")
    mesh.from_pydata(verts, [], faces)
    skin = bpy.data.objects.new(name + "Skin", mesh)
    collection.objects.link(skin)
    for group, ids in groups.items():
        skin.vertex_groups.new(name=group).add(ids, 1.0, "REPLACE")
    skin.parent = arm
    mod = skin.modifiers.new("Armature", "ARMATURE")
    mod.object = arm
    mat = bpy.data.materials.get("Skin") or bpy.data.materials.new("Skin")
    mat.use_nodes = True
    skin.data.materials.append(mat)
    return arm


def _empty(scene, name, collection, location, angle=0.0, scale=1.0, into=None):
    empty = bpy.data.objects.new(name, None)
    empty.instance_type = "COLLECTION"
    empty.instance_collection = collection
    empty.location = location
    empty.rotation_euler = (0.0, 0.0, angle)
    empty.scale = (scale, scale, scale)
    (into or scene.collection).objects.link(empty)
    return empty


def library(scene):
    """``Lib`` holding the rig, linked to the scene and excluded from the view layer."""
    lib = bpy.data.collections.new("Lib")
    scene.collection.children.link(lib)
    rig(lib)
    for layer in scene.view_layers:
        layer.layer_collection.children["Lib"].exclude = True
    return lib


def write_library(path: str) -> None:
    """Write collection ``Lib`` (the rig) to ``path``, as an asset file users link from."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    lib = bpy.data.collections.new("Lib")
    bpy.context.scene.collection.children.link(lib)
    rig(lib)
    bpy.data.libraries.write(path, {lib})


def _emitter(scene, lib) -> None:
    mesh = bpy.data.meshes.new("Ground")
    mesh.from_pydata([(-3.0, -1.0, 0.0), (3.0, -1.0, 0.0), (3.0, 2.0, 0.0), (-3.0, 2.0, 0.0)], [], [(0, 1, 2, 3)])
    emitter = bpy.data.objects.new("Emitter", mesh)
    scene.collection.objects.link(emitter)
    emitter.show_instancer_for_render = emitter.show_instancer_for_viewport = False
    mod = emitter.modifiers.new("Particles", "PARTICLE_SYSTEM")
    settings = mod.particle_system.settings
    settings.count, settings.frame_start, settings.frame_end, settings.lifetime = 3, 1, 1, 100
    settings.physics_type = "NO"
    settings.render_type = "COLLECTION"
    settings.instance_collection = lib
    settings.use_whole_collection = True  # each particle the whole character (else one object of it)
    settings.particle_size = 1.0
    settings.use_rotations = True
    settings.rotation_mode = "NONE"  # world-aligned copies (upright characters)
    settings.display_percentage = 100
    mod.particle_system.seed = 3


SCATTER = [(-2.0, 0.0, 0.0), (2.0, 0.0, 0.0)]


def _mesh_scatter(scene, collection=None) -> None:
    """``Scatter``: geometry nodes put RigSkin (or ``collection``) on the points SCATTER."""
    mesh = bpy.data.meshes.new("Points")
    mesh.from_pydata(SCATTER, [], [])
    scatter = bpy.data.objects.new("Scatter", mesh)
    scene.collection.objects.link(scatter)
    tree = bpy.data.node_groups.new("Scatter", "GeometryNodeTree")
    if hasattr(tree, "interface"):
        tree.interface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
        tree.interface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    else:  # Blender 3.4
        tree.inputs.new("NodeSocketGeometry", "Geometry")
        tree.outputs.new("NodeSocketGeometry", "Geometry")
    inp, out = tree.nodes.new("NodeGroupInput"), tree.nodes.new("NodeGroupOutput")
    if collection is None:
        info = tree.nodes.new("GeometryNodeObjectInfo")
        info.inputs[0].default_value = bpy.data.objects["RigSkin"]
    else:
        info = tree.nodes.new("GeometryNodeCollectionInfo")
        info.inputs[0].default_value = collection
    points = tree.nodes.new("GeometryNodeMeshToPoints")
    place = tree.nodes.new("GeometryNodeInstanceOnPoints")
    tree.links.new(inp.outputs[0], points.inputs[0])
    tree.links.new(points.outputs[0], place.inputs["Points"])
    tree.links.new(info.outputs["Geometry" if collection is None else "Instances"], place.inputs["Instance"])
    tree.links.new(place.outputs[0], out.inputs[0])
    scatter.modifiers.new("Scatter", "NODES").node_group = tree


def build(scene, kind: str, path: str | None = None) -> None:
    _base(scene)
    if kind == "hidden":
        char = bpy.data.collections.new("Char")
        scene.collection.children.link(char)
        rig(char)
        scene.frame_set(FRAME)
        return
    if kind == "linked":
        with bpy.data.libraries.load(path, link=True) as (src, dst):
            dst.collections = ["Lib"]
        lib = dst.collections[0]
    else:
        lib = library(scene)
    if kind in ("asset_library", "linked"):
        for i, (loc, angle, scale) in enumerate(PLACES):
            _empty(scene, f"Copy{i}", lib, loc, angle, scale)
    elif kind == "nested":
        pair = bpy.data.collections.new("Pair")
        scene.collection.children.link(pair)
        _empty(scene, "Inner", lib, (0.0, 0.0, 0.0), 0.5, into=pair)
        for layer in scene.view_layers:
            layer.layer_collection.children["Pair"].exclude = True
        for i, (loc, angle) in enumerate(PAIR):
            _empty(scene, f"Outer{i}", pair, loc, angle)
    elif kind == "particles":
        _emitter(scene, lib)
    elif kind == "mesh_scatter":
        _mesh_scatter(scene)
    elif kind == "geometry_nodes":
        _mesh_scatter(scene, lib)
    else:
        raise ValueError(kind)
    scene.frame_set(FRAME)


def _places(scene, kind: str) -> list:
    """World matrices of the rig's copies: instancer matrices multiplied by hand (particles: the depsgraph's)."""
    rig_matrix = bpy.data.objects["Rig"].matrix_world.copy()
    if kind in ("asset_library", "linked"):
        return [scene.objects[f"Copy{i}"].matrix_world @ rig_matrix for i in range(len(PLACES))]
    if kind == "nested":
        inner = bpy.data.objects["Inner"].matrix_world
        return [scene.objects[f"Outer{i}"].matrix_world @ inner @ rig_matrix for i in range(len(PAIR))]
    if kind == "geometry_nodes":
        return [Matrix.Translation(p) @ rig_matrix for p in SCATTER]
    depsgraph = bpy.context.evaluated_depsgraph_get()
    return [inst.matrix_world.copy() for inst in depsgraph.object_instances
            if inst.is_instance and inst.object.original.name == "Rig"]


def make_real(scene, kind: str) -> list[str]:
    """Replace every copy of the rig by a real armature + skinned mesh at the copy's place;
    returns the new armatures' names."""
    places = _places(scene, kind)
    source = bpy.data.objects["Rig"]
    names = []
    for i, matrix in enumerate(places):
        arm = source.copy()  # shares the armature data and the action
        arm.name = f"Real{i}"
        arm.animation_data_create()
        arm.animation_data.action = source.animation_data.action
        if getattr(source.animation_data, "action_slot", None) is not None:
            arm.animation_data.action_slot = source.animation_data.action_slot
        scene.collection.objects.link(arm)
        arm.matrix_world = matrix
        skin = bpy.data.objects["RigSkin"].copy()
        skin.name = f"Real{i}Skin"
        scene.collection.objects.link(skin)
        skin.parent = arm
        skin.matrix_parent_inverse.identity()
        skin.modifiers["Armature"].object = arm
        names.append(arm.name)
    for obj in list(scene.objects):
        if (obj.type == "EMPTY" and obj.instance_type == "COLLECTION") or obj.name in ("Emitter", "Scatter"):
            bpy.data.objects.remove(obj)
    scene.frame_set(FRAME)
    return names


def truth_keypoints(scene, names) -> dict:
    """Each real armature's keypoints by bpy_extras.world_to_camera_view: [x, y, depth] in pixels."""
    from bpy_extras.object_utils import world_to_camera_view

    depsgraph = bpy.context.evaluated_depsgraph_get()
    w, h = scene.render.resolution_x, scene.render.resolution_y
    out = {}
    for name in names:
        arm = bpy.data.objects[name].evaluated_get(depsgraph)
        points = []
        for bone, end in (("Body", "head"), ("Body", "tail"), ("Arm", "tail")):
            pb = arm.pose.bones[bone]
            co = world_to_camera_view(scene, scene.camera, arm.matrix_world @ getattr(pb, end))
            points.append([co.x * w, (1.0 - co.y) * h, co.z])
        out[name] = points
    return out

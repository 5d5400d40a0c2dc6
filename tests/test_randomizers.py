"""Randomizers applied to real scenes (the bpy module), read back without rendering.

One Blender process applies each randomizer's hook frame by frame and records what
the scene then holds: where the camera is and what it looks at, which lights exist,
where objects stand (world-space vertex bounds of the evaluated meshes), materials,
the world, bone rotations. The tests check those against the configured ranges,
probabilities over hundreds of frames, determinism per (seed, frame), one-line errors
for names the scene lacks, and that ``finish`` restores the scene exactly.
"""

from __future__ import annotations

import json
import math

import pytest
from PIL import Image

SCRIPT = r'''
import colorsys, json, math, sys
from pathlib import Path
import bpy
from mathutils import Vector
import tabletop
from blender_coco import randomize as rc
from blender_coco.blender import marking, randomizers
from blender_coco.errors import UserError

out, images_dir, assets = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
res = {}

def hook(data, scene):
    h = randomizers.Randomizer(rc.from_dict(data))
    h.start(scene)
    return h

def world_bounds(obj):
    dg = bpy.context.evaluated_depsgraph_get()
    pts = []
    for o in [obj, *obj.children_recursive]:
        if o.type == "MESH" and not o.hide_render:
            ev = o.evaluated_get(dg)
            pts += [ev.matrix_world @ v.co for v in ev.data.vertices]
    return [[min(p[i] for p in pts) for i in range(3)], [max(p[i] for p in pts) for i in range(3)]]

def touching(names):
    """Pairs of objects whose surfaces intersect (world-space BVH trees of the evaluated meshes)."""
    from mathutils.bvhtree import BVHTree
    dg = bpy.context.evaluated_depsgraph_get()
    trees = {}
    for n in names:
        ev = bpy.data.objects[n].evaluated_get(dg)
        trees[n] = BVHTree.FromPolygons([ev.matrix_world @ v.co for v in ev.data.vertices],
                                        [list(p.vertices) for p in ev.data.polygons])
    return [[a, b] for i, a in enumerate(names) for b in names[i + 1:] if trees[a].overlap(trees[b])]

def state():
    """Everything a randomizer may touch, as plain data."""
    s = {"objects": {}, "counts": [len(bpy.data.objects), len(bpy.data.lights), len(bpy.data.worlds),
                                   len(bpy.data.images), len(bpy.data.materials)]}
    for o in bpy.data.objects:
        s["objects"][o.name] = [[round(v, 6) for v in o.matrix_basis.col[c]] for c in range(4)] + [
            o.hide_render, o.rotation_mode, o.get("coco_category"), o.pass_index,
            getattr(getattr(o.animation_data, "action", None), "name", None)]
        if o.type == "ARMATURE":
            s["objects"][o.name].append([[round(v, 6) for v in pb.matrix_basis.col[c]] for pb in o.pose.bones for c in range(4)])
    s["world"] = bpy.context.scene.world.name if bpy.context.scene.world else None
    s["materials"] = {m.name: [len(m.node_tree.nodes) if m.node_tree else 0, len(m.node_tree.links) if m.node_tree else 0,
                               [round(v, 6) for v in m.diffuse_color]] + [
        [round(float(x), 6) for x in (list(n.inputs["Base Color"].default_value) + [n.inputs["Roughness"].default_value])]
        for n in (m.node_tree.nodes if m.node_tree else []) if n.type == "BSDF_PRINCIPLED"] for m in bpy.data.materials}
    s["layers"] = [[lc.name, lc.exclude] for lc in bpy.context.view_layer.layer_collection.children]
    s["camera"] = [bpy.context.scene.camera.name, bpy.context.scene.camera.data.lens]
    return s

def error(data, scene):
    try:
        hook(data, scene).finish(scene)
    except UserError as exc:
        return str(exc)
    return None

bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
tabletop.build(scene)
bpy.data.objects["Book"]["coco_category"] = "book"   # a marked object in a distractor group: unmarked for the run
before = state()
target = Vector((0.0, 0.0, 0.8))

# ---- camera: orbit, aim, focal length ---------------------------------------------------------------
h = hook({"camera": {"target": [0, 0, 0.8], "distance": [2.5, 3.5], "azimuth": [-40, 40], "elevation": [20, 50],
                     "look_at_jitter": 0.2, "roll": [-5, 5], "focal_length": [30, 50]}}, scene)
cams = []
for i in range(60):
    h.before_frame(scene, i, 3)
    cam = scene.camera
    m = cam.matrix_world
    loc = m.translation
    off = loc - target
    forward = (m.to_3x3() @ Vector((0, 0, -1))).normalized()
    miss = (target - loc).cross(forward).length  # distance from the target to the view ray
    up = m.to_3x3() @ Vector((0, 1, 0))
    horizon = forward.cross(Vector((0, 0, 1))).normalized()
    roll = math.degrees(math.asin(max(-1, min(1, up.dot(horizon)))))
    cams.append([off.length, math.degrees(math.atan2(off.x, -off.y)), math.degrees(math.asin(off.z / off.length)),
                 miss, cam.data.lens, roll])
h.finish(scene)
res["camera"] = cams

# ---- lights ----------------------------------------------------------------------------------------------
h = hook({"lights": {"count": [1, 4], "types": ["POINT", "SUN", "AREA"], "target": [0, 0, 1], "distance": [3, 5],
                     "temperature": [3000, 6000], "energy": [100, 200]}}, scene)
lights = []
for i in range(80):
    h.before_frame(scene, i, 0)
    on = [o for o in scene.objects if o.type == "LIGHT" and not o.hide_render]
    lights.append([[o.name, o.data.type, (o.location - Vector((0, 0, 1))).length, o.data.energy, list(o.data.color)]
                   for o in on])
h.finish(scene)
res["lights"] = lights

# ---- objects standing on the table, distractors, determinism -----------------------------------------
data = {"objects": [{"collection": "Props", "count": [2, 5], "surface": "TableTop", "rotation": {"z": [0, 360]},
                     "scale": [0.8, 1.2]},
                    {"collection": "Clutter", "count": [1, 2], "surface": "TableTop", "rotation": {"z": [0, 360]},
                     "distractor": True}]}
h = hook(data, scene)
placed = []
for i in range(40):
    h.before_frame(scene, i, 5)
    shown = [o.name for o in bpy.data.collections["Props"].objects if not o.hide_render]
    clutter = [o.name for o in bpy.data.collections["Clutter"].objects if not o.hide_render]
    bounds = {n: world_bounds(bpy.data.objects[n]) for n in shown + clutter}
    placed.append({"props": shown, "clutter": clutter, "bounds": bounds, "touching": touching(shown + clutter),
                   "marked": [o.name for o in marking.marked_roots(scene)],
                   "rendered": sorted(marking.rendered_objects(bpy.context.view_layer))})
first = {n: [list(v) for v in bpy.data.objects[n].matrix_world] for n in placed[-1]["props"]}
h.before_frame(scene, 7, 5)
h.before_frame(scene, 39, 5)  # frame 39 again, after another frame: the same scene
res["again"] = {n: [list(v) for v in bpy.data.objects[n].matrix_world] for n in placed[-1]["props"]} == first
res["again_shown"] = [o.name for o in bpy.data.collections["Props"].objects if not o.hide_render] == placed[-1]["props"]
h.finish(scene)
res["placed"] = placed

# ---- materials and world ----------------------------------------------------------------------------------
mug = bpy.data.materials["prop_Mug.001"]
own = list(mug.node_tree.nodes["Principled BSDF"].inputs["Base Color"].default_value)[:3]
h = hook({"materials": [{"materials": ["prop_Mug.001"], "hue": [-0.1, 0.1], "saturation": [0.5, 1.0],
                         "value": [0.8, 1.0], "roughness": [0.2, 0.3]}],
          "world": {"hue": [0.2, 0.3], "value": [0.1, 0.2], "strength": [2, 3]}}, scene)
mats = []
for i in range(30):
    h.before_frame(scene, i, 1)
    bsdf = mug.node_tree.nodes["Principled BSDF"]
    bg = next(n for n in scene.world.node_tree.nodes if n.type == "BACKGROUND")
    mats.append([list(bsdf.inputs["Base Color"].default_value)[:3], bsdf.inputs["Roughness"].default_value,
                 list(bg.inputs["Color"].default_value)[:3], bg.inputs["Strength"].default_value, scene.world.name])
h.finish(scene)
res["materials"] = {"own": own, "frames": mats}

# ---- world images and textures from folders: loaded per frame, released when unused ----------------------
h = hook({"world": {"images": images_dir, "rotation": [0, 360]},
          "materials": [{"collection": "Props", "textures": images_dir, "texture_probability": 0.5}]}, scene)
imgs = []
for i in range(20):
    h.before_frame(scene, i, 2)
    env = next(n for n in scene.world.node_tree.nodes if n.type == "TEX_ENVIRONMENT")
    bsdf = mug.node_tree.nodes["Principled BSDF"]
    imgs.append([Path(env.image.filepath).name, len(bpy.data.images), bsdf.inputs["Base Color"].is_linked])
h.finish(scene)
res["images"] = imgs

# ---- region placement and visibility probability (4 unit cubes, 300 frames) -------------------------------
cubes = bpy.data.collections.new("Cubes"); scene.collection.children.link(cubes)
import bmesh
for k in range(4):
    me = bpy.data.meshes.new(f"Cube{k}"); bm = bmesh.new(); bmesh.ops.create_cube(bm, size=1.0); bm.to_mesh(me); bm.free()
    ob = bpy.data.objects.new(f"Cube{k}", me); cubes.objects.link(ob); marking.mark(ob, "cube")
bpy.data.objects["Cube1"].location = (0.4, 0.3, 0.2)
bpy.data.objects["Cube2"].location = (-0.3, 0.45, -0.25)
res["touching_control"] = touching(["Cube0", "Cube1", "Cube2"])  # overlapping cubes: the check sees them
h = hook({"objects": [{"collection": "Cubes", "region": {"min": [-3, -3, 0.5], "max": [3, 3, 0.5]}, "visibility": 0.3}]}, scene)
region = []
for i in range(300):
    h.before_frame(scene, i, 9)
    region.append({o.name: list(o.location) for o in cubes.objects if not o.hide_render})
res["region_failed"] = h.parts[0].failed
h.finish(scene)
res["region"] = region
for o in list(cubes.objects):
    bpy.data.objects.remove(o)
bpy.data.collections.remove(cubes)

# ---- errors: names the scene does not have ------------------------------------------------------------------
res["errors"] = [error(d, scene) for d in (
    {"objects": [{"collection": "Propz"}]},
    {"objects": [{"objects": ["Mug.001", "Nope"]}]},
    {"objects": [{"collection": "Props", "surface": "Camera"}]},
    {"materials": [{"materials": ["no_such_material"]}]},
    {"camera": {"target_object": "Nowhere", "azimuth": [0, 10]}},
    {"armatures": [{"objects": ["TableTop"], "rotation": {"x": [0, 1]}}]},
)]
res["after"] = state()
res["before"] = before

# ---- armatures: joint rotations within ranges and IK limits; a random frame of an action ------------------
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
bpy.ops.import_scene.gltf(filepath=str(assets / "models" / "RiggedSimple.glb"))
arm = next(o for o in scene.objects if o.type == "ARMATURE")
cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam")); scene.collection.objects.link(cam); scene.camera = cam
pb0 = arm.pose.bones[0]
pb0.use_ik_limit_x, pb0.ik_min_x, pb0.ik_max_x = True, -0.1, 0.1
own = {pb.name: pb.rotation_quaternion.copy() for pb in arm.pose.bones}
modes = {pb.name: pb.rotation_mode for pb in arm.pose.bones}
before = state()
h = hook({"armatures": [{"objects": [arm.name], "rotation": {"x": [-30, 30], "z": [-10, 10]}}]}, scene)
rots = []
for i in range(40):
    h.before_frame(scene, i, 4)
    rots.append({pb.name: [math.degrees(a) for a in (own[pb.name].inverted() @ pb.rotation_quaternion).to_euler("XYZ")]
                 for pb in arm.pose.bones})
h.finish(scene)
res["bones"] = {"limited": pb0.name, "modes": modes, "frames": rots}
res["bone_errors"] = [error({"armatures": [{"objects": [arm.name], "bones": ["Bone", "Tail"], "rotation": {"x": 1}}]}, scene),
                      error({"armatures": [{"objects": [arm.name], "actions": ["Dance"]}]}, scene)]
res["bones_restored"] = state() == before

bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
bpy.ops.import_scene.gltf(filepath=str(assets / "models" / "Fox.glb"))
fox = next(o for o in scene.objects if o.type == "ARMATURE")
cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam")); scene.collection.objects.link(cam); scene.camera = cam
own_action = fox.animation_data.action.name
h = hook({"armatures": [{"objects": [fox.name], "actions": ["Walk", "Run"]}]}, scene)
poses = []
for i in range(12):
    h.before_frame(scene, i, 0)
    chosen = h.values["armatures[0]"][fox.name]
    head = fox.pose.bones["b_Head_05"]
    poses.append([chosen, fox.animation_data.action, list(head.rotation_quaternion),
                  [a.frame_range[:] for a in bpy.data.actions if a.name == chosen[0]][0]])
# the pose is exactly the action's at the chosen time
action, t = bpy.data.actions[poses[-1][0][0]], poses[-1][0][1]
fox.pose.apply_pose_from_action(action, evaluation_time=t)
res["fox_exact"] = all(abs(a - b) < 1e-6 for a, b in zip(fox.pose.bones["b_Head_05"].rotation_quaternion, poses[-1][2]))
h.finish(scene)
res["fox"] = [[p[0], p[1], p[2], list(p[3])] for p in poses]
res["fox_action_after"] = fox.animation_data.action.name == own_action
(out / "result.json").write_text(json.dumps(res))
'''


@pytest.fixture(scope="module")
def result(tmp_path_factory, run_bpy, assets):
    out = tmp_path_factory.mktemp("randomizers")
    images = out / "images"
    images.mkdir()
    for name, color in (("red.png", (200, 30, 30)), ("sky.png", (60, 90, 200))):
        Image.new("RGB", (16, 8), color).save(images / name)
    proc = run_bpy(SCRIPT, str(out), str(images), str(assets), what="randomizers script")
    return {**json.loads((out / "result.json").read_text()), "stderr": proc.stderr}


def test_camera_orbits_within_the_ranges_and_looks_at_the_target(result):
    cams = result["camera"]
    for distance, azimuth, elevation, miss, lens, roll in cams:
        assert 2.5 - 1e-4 <= distance <= 3.5 + 1e-4
        assert -40 - 1e-3 <= azimuth <= 40 + 1e-3
        assert 20 - 1e-3 <= elevation <= 50 + 1e-3
        assert miss <= 0.2 * math.sqrt(3) + 1e-4  # aimed at the target, up to the jitter
        assert 30 <= lens <= 50
        assert abs(roll) <= 5 + 1e-3
    # the ranges are used, not just respected
    assert max(c[1] for c in cams) - min(c[1] for c in cams) > 50
    assert max(c[0] for c in cams) - min(c[0] for c in cams) > 0.6
    assert max(c[3] for c in cams) > 0.05 and max(abs(c[5]) for c in cams) > 2


def test_light_count_types_placement_and_colour_follow_the_config(result):
    counts = [len(frame) for frame in result["lights"]]
    assert set(counts) == {1, 2, 3, 4}
    for frame in result["lights"]:
        for name, kind, distance, energy, color in frame:
            assert name.startswith("coco_random_light")  # the scene's own Sun is hidden (replace = true)
            assert kind in ("POINT", "SUN", "AREA")
            assert 3 - 1e-4 <= distance <= 5 + 1e-4
            if kind != "SUN":
                assert 100 <= energy <= 200
            assert color[0] >= color[1] >= color[2] and color[0] == pytest.approx(1.0)  # 3000-6000 K: warm
    assert {k for f in result["lights"] for _, k, *_ in f} == {"POINT", "SUN", "AREA"}


def test_objects_stand_on_the_table_without_touching_each_other(result):
    for frame in result["placed"]:
        assert 2 <= len(frame["props"]) <= 5 and 1 <= len(frame["clutter"]) <= 2
        boxes = list(frame["bounds"].values())
        for lo, hi in boxes:
            assert lo[2] == pytest.approx(0.8, abs=1e-4)  # standing on the top face (z = 0.8)
            assert -1.0 - 1e-4 <= lo[0] and hi[0] <= 1.0 + 1e-4 and -0.6 - 1e-4 <= lo[1] and hi[1] <= 0.6 + 1e-4
        assert frame["touching"] == []  # no two meshes intersect
        # props are annotated when shown; clutter never (Book's mark is lifted for the run)
        assert "Book" not in frame["marked"]
        assert set(frame["props"]) <= set(frame["rendered"]) and set(frame["clutter"]) <= set(frame["rendered"])
    assert len(result["touching_control"]) == 3  # the check does see intersecting meshes
    assert len({tuple(f["props"]) for f in result["placed"]}) > 10
    assert result["again"] and result["again_shown"]  # a frame depends on (seed, frame) alone


def test_region_placement_and_visibility_probability(result):
    frames = result["region"]
    assert result["region_failed"] == 0
    shown = {f"Cube{k}": sum(f"Cube{k}" in f for f in frames) / len(frames) for k in range(4)}
    for name, rate in shown.items():
        assert abs(rate - 0.3) < 0.1, shown  # 4 sigma of a binomial(300, 0.3)
    for frame in frames:
        locs = list(frame.values())
        for x, y, z in locs:
            assert -3 <= x <= 3 and -3 <= y <= 3 and z == pytest.approx(0.5)
        for i, a in enumerate(locs):
            for b in locs[i + 1:]:
                assert math.dist(a, b) >= 2 * math.sqrt(3) / 2 - 1e-6  # bounding spheres of unit cubes apart


def test_material_and_world_colours_stay_in_their_hsv_ranges(result):
    import colorsys

    def hsv(linear):
        srgb = [12.92 * c if c <= 0.0031308 else 1.055 * c ** (1 / 2.4) - 0.055 for c in linear]
        return colorsys.rgb_to_hsv(*srgb)

    h0, s0, v0 = hsv(result["materials"]["own"])
    hues = []
    for base, rough, world, strength, world_name in result["materials"]["frames"]:
        h, s, v = hsv(base)
        dh = (h - h0 + 0.5) % 1.0 - 0.5
        hues.append(dh)
        assert -0.1 - 1e-3 <= dh <= 0.1 + 1e-3
        assert 0.5 * s0 - 1e-3 <= s <= s0 + 1e-3 and 0.8 * v0 - 1e-3 <= v <= v0 + 1e-3
        assert 0.2 <= rough <= 0.3
        wh, _, wv = hsv(world)
        assert 0.2 - 1e-3 <= wh <= 0.3 + 1e-3 and 0.1 - 1e-3 <= wv <= 0.2 + 1e-3 and 2 <= strength <= 3
        assert world_name == "coco_random_world"  # a copy: the scene's own world is never edited
    assert max(hues) - min(hues) > 0.1


def test_images_come_from_the_folder_and_are_released(result):
    names = {n for n, _, _ in result["images"]}
    assert names == {"red.png", "sky.png"}
    assert max(count for _, count, _ in result["images"]) <= 2  # never more than the two files loaded
    linked = [flag for _, _, flag in result["images"]]
    assert True in linked and False in linked  # texture_probability 0.5


def test_joint_rotations_stay_within_ranges_and_ik_limits(result):
    bones = result["bones"]
    assert set(bones["modes"].values()) == {"QUATERNION"}  # glTF rigs: the jitter composes with quaternions
    for frame in bones["frames"]:
        for name, (x, y, z) in frame.items():
            limit = 5.73 if name == bones["limited"] else 30  # ik_min_x/ik_max_x = -/+0.1 rad
            assert abs(x) <= limit + 1e-3 and abs(y) < 1e-3 and abs(z) <= 10 + 1e-3
    xs = [f[n][0] for f in bones["frames"] for n in f if n != bones["limited"]]
    assert max(xs) - min(xs) > 30
    assert result["bones_restored"]


def test_a_random_frame_of_a_random_action(result):
    fox = result["fox"]
    assert {action for (action, _), *_ in fox} == {"Walk", "Run"}
    for (action, t), assigned, _, (start, end) in fox:
        assert assigned is None  # the rig's own action is lifted while the randomizer poses it
        assert start <= t <= end
    assert len({tuple(round(v, 5) for v in q) for _, _, q, _ in fox}) == len(fox)  # every frame another pose
    assert result["fox_exact"] and result["fox_action_after"]


def test_unknown_names_are_one_line_errors_naming_the_field(result):
    got = result["errors"] + result["bone_errors"]
    assert all(msg is not None and "\n" not in msg for msg in got)
    assert got[0].startswith("objects[0].collection: no collection 'Propz' in scene 'Scene' (collections: Clutter, "
                             "Props); fix the name")
    assert got[1] == "objects[0].objects: no object 'Nope' in scene 'Scene'; fix the name"
    assert got[2].startswith("objects[0].surface: object 'Camera' is a camera, not a mesh")
    assert got[3].startswith("materials[0].materials: no material 'no_such_material' in this file (materials: ")
    assert got[4] == "camera.target_object: no object 'Nowhere' in scene 'Scene'; fix the name"
    assert got[5].startswith("armatures[0].objects: object 'TableTop' is a mesh, not an armature")
    assert "armatures[0].bones: armature " in got[6] and "has no bone 'Tail'" in got[6]
    assert got[7].startswith("armatures[0].actions: no action 'Dance' in this file")
    assert "failed to clean up" not in result["stderr"]  # a part that failed to start cleans up quietly


def test_finish_restores_everything(result):
    before, after = result["before"], result["after"]
    assert after["counts"] == before["counts"]  # lights, worlds, images removed
    assert after["world"] == before["world"] and after["layers"] == before["layers"] and after["camera"] == before["camera"]
    assert after["materials"] == before["materials"]
    assert after["objects"] == before["objects"]


PARTS_SCRIPT = r'''
import json
import bpy
from blender_coco import randomize as rc
from blender_coco.blender.randomizers import registry
config = rc.from_dict({"camera": {"focal_length": [30, 40]}, "world": {"strength": 1}, "lights": {},
                       "objects": [{"objects": ["A"]}, {"objects": ["B"]}], "materials": [{}],
                       "armatures": [{"objects": ["R"], "rotation": {"x": 1}}],
                       "spawn": [{"collection": "C", "surface": "S"}]})
print(json.dumps({"order": list(registry.ORDER), "sections": list(rc.SECTIONS), "registered": sorted(registry.PARTS),
                  "parts": [[p.section, p.name, type(p).__module__] for p in registry.build(config)]}))
'''


def test_parts_are_built_from_the_registry_in_the_fixed_order(run_bpy):
    """Parts run in ORDER (RNG names and restore order depend on it), one per group, each from its own module."""
    got = json.loads(run_bpy(PARTS_SCRIPT, what="registry script").stdout.splitlines()[-1])
    # spawn came in right after objects: the others' generator names did not change, so old seeds draw the same
    assert got["order"] == ["objects", "spawn", "armatures", "materials", "lights", "world", "camera"]
    assert sorted(got["registered"]) == sorted(got["sections"]) == sorted(got["order"])
    assert got["parts"] == [[section, name, f"blender_coco.blender.randomizers.{section}"] for section, name in (
        ("objects", "objects[0]"), ("objects", "objects[1]"), ("spawn", "spawn[0]"), ("armatures", "armatures[0]"),
        ("materials", "materials[0]"), ("lights", "lights"), ("world", "world"), ("camera", "camera"))]


GUARD_SCRIPT = r'''
import json
import bpy
from blender_coco.blender.guard import SettingsGuard
o = bpy.data.objects.new("o", None)
m = bpy.data.materials.new("m")
o.location, o.rotation_mode, m.diffuse_color = (1, 2, 3), "QUATERNION", (0.25, 0.5, 0.75, 1.0)
g = SettingsGuard()
g.remember(o, "location")
g.set(o, "rotation_mode", "XYZ")
g.set(m, "diffuse_color", (1.0, 1.0, 1.0, 1.0))
g.set(o, "hide_render", False)  # already False: remembered, nothing assigned
o.location.x = 9.0  # changed in place after it was remembered
m.diffuse_color[0] = 0.0
changed = [list(o.location), o.rotation_mode, list(m.diffuse_color)]
g.restore()
g.restore()  # a second restore does nothing
print(json.dumps({"changed": changed, "restored": [list(o.location), o.rotation_mode, list(m.diffuse_color),
                                                   o.hide_render]}))
'''


def test_settings_guard_restores_vectors_as_they_were_when_remembered(run_bpy):
    got = json.loads(run_bpy(GUARD_SCRIPT, what="guard script").stdout.splitlines()[-1])
    assert got["changed"] == [[9.0, 2.0, 3.0], "XYZ", [0.0, 1.0, 1.0, 1.0]]
    assert got["restored"] == [[1.0, 2.0, 3.0], "QUATERNION", [0.25, 0.5, 0.75, 1.0], False]

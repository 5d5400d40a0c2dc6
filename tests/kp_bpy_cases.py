"""Blender-side halves of the keypoint tests, run in a subprocess: ``python kp_bpy_cases.py CASE OUT_DIR ASSETS``.

Each case builds a tiny scene with bpy (Blender as a Python module), calls
blender_coco.blender.keypoints, optionally renders, and prints one line
``KPJSON:{...}`` with the raw facts (camera parameters, bone rest data, projected
points, EXR paths). The tests check those facts against independent numpy code.
Any exception exits non-zero.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bpy  # noqa: E402

from blender_coco.blender.keypoints import keypoint_definition, project_keypoints  # noqa: E402
from blender_coco.blender.scene_info import output_size  # noqa: E402
from blender_coco.errors import UserError  # noqa: E402

ASSETS: Path  # the third-party assets folder: third argument


def reset():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.samples = 1
    scene.cycles.use_denoising = False
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 64, 48, 100
    return scene


def add_camera(scene, location, rotation, lens=50.0):
    data = bpy.data.cameras.new("Cam")
    data.lens = lens
    cam = bpy.data.objects.new("Cam", data)
    scene.collection.objects.link(cam)
    cam.location, cam.rotation_euler = location, rotation
    scene.camera = cam
    return cam


def look_at(cam, target):
    from mathutils import Vector
    d = Vector(target) - cam.location
    cam.rotation_euler = d.to_track_quat("-Z", "Y").to_euler()


def camera_facts(scene, cam):
    bpy.context.view_layer.update()
    d, r = cam.data, scene.render
    return {"matrix_world": [list(row) for row in cam.matrix_world], "type": d.type, "lens": d.lens,
            "sensor_width": d.sensor_width, "sensor_height": d.sensor_height, "sensor_fit": d.sensor_fit,
            "shift_x": d.shift_x, "shift_y": d.shift_y, "ortho_scale": d.ortho_scale,
            "resolution_x": r.resolution_x, "resolution_y": r.resolution_y, "percentage": r.resolution_percentage,
            "pixel_aspect_x": r.pixel_aspect_x, "pixel_aspect_y": r.pixel_aspect_y, "size": list(output_size(scene))}


def make_armature(scene, name, heads, tail_offset=(0.0, 0.0, 0.2)):
    """Armature with one unparented bone per head position, bone i named b{i}."""
    data = bpy.data.armatures.new(name)
    arm = bpy.data.objects.new(name, data)
    scene.collection.objects.link(arm)
    bpy.context.view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="EDIT")
    for i, h in enumerate(heads):
        eb = data.edit_bones.new(f"b{i}")
        eb.head = h
        eb.tail = (h[0] + tail_offset[0], h[1] + tail_offset[1], h[2] + tail_offset[2])
    bpy.ops.object.mode_set(mode="OBJECT")
    arm["coco_keypoints"] = json.dumps([[f"k{i}", f"b{i}"] for i in range(len(heads))])
    return arm


def enable_passes(scene):
    layer = scene.view_layers[0]
    layer.use_pass_z = True
    layer.use_pass_object_index = True
    ims = scene.render.image_settings
    if hasattr(ims, "media_type"):
        ims.media_type = "MULTI_LAYER_IMAGE"
    ims.file_format = "OPEN_EXR_MULTILAYER"
    ims.color_depth = "32"


def render_exr(scene, path):  # or PNG: whatever the image settings say
    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)
    return str(path)


# ---------------------------------------------------------------------------- cases


def case_projection(out):
    """Projection under many camera settings (no render): points, camera facts."""
    scene = reset()
    points = [(0, 0, 0), (1, 0.5, 0.2), (-1, -0.7, 0.4), (0.3, 0.2, 1.5), (-2.5, 1.0, -1.2), (0.2, -9.0, 1.0)]
    arm = make_armature(scene, "Arm", points)
    arm.location, arm.rotation_euler, arm.scale = (0.1, 0.2, -0.1), (0.1, -0.2, 0.3), (1.1, 1.1, 1.1)
    cam = add_camera(scene, (0.5, -6.0, 1.0), (1.45, 0.05, 0.1))
    definition = keypoint_definition(arm)
    configs = []

    def snap(tag):
        bpy.context.view_layer.update()
        configs.append({"tag": tag, "camera": camera_facts(scene, cam),
                        "points": project_keypoints(scene, cam, arm, definition)})

    d, r = cam.data, scene.render
    snap("perspective")
    d.shift_x, d.shift_y = 0.2, -0.1
    snap("shift")
    d.shift_x, d.shift_y = 0.0, 0.0
    d.sensor_fit, d.sensor_height = "VERTICAL", 20.0
    snap("sensor_fit_vertical")
    d.sensor_fit = "HORIZONTAL"
    snap("sensor_fit_horizontal")
    d.sensor_fit = "AUTO"
    r.resolution_x, r.resolution_y = 48, 64
    snap("portrait_auto")
    r.resolution_x, r.resolution_y = 64, 48
    r.pixel_aspect_x, r.pixel_aspect_y = 1.0, 2.0
    snap("pixel_aspect_y2")
    r.pixel_aspect_x, r.pixel_aspect_y = 3.0, 1.0
    snap("pixel_aspect_x3")
    r.pixel_aspect_x = 1.0
    r.resolution_x, r.resolution_y, r.resolution_percentage = 97, 75, 33
    snap("percentage_33")
    r.resolution_percentage = 150
    snap("percentage_150")
    r.resolution_x, r.resolution_y, r.resolution_percentage = 64, 48, 100
    d.type, d.ortho_scale = "ORTHO", 4.0
    snap("orthographic")
    d.shift_x, d.shift_y, d.sensor_fit = -0.15, 0.25, "VERTICAL"
    r.pixel_aspect_y = 1.5
    snap("orthographic_shift_vertical_aspect")
    d.type, d.lens = "PERSP", 35.0
    cam.scale = (2.0, 0.5, 3.0)
    r.resolution_percentage = 50
    snap("everything_scaled_camera")
    world = [list(arm.matrix_world @ arm.data.bones[f"b{i}"].head_local) for i in range(len(points))]
    print("KPJSON:" + json.dumps({"world": world, "configs": configs}))


SPHERE_COLORS = [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0), (1, 0, 1)]


def case_spheres(out):
    """Small emissive spheres at keypoints, rendered to PNG: their centroids vs the projection.

    PNG, not EXR: Blender 5.0 fails to write a multilayer EXR when pixels are not square
    ("Conflicting attributes ... pixelAspectRatio"). A tiny pixel filter puts each pixel's
    single sample at its centre, so the spheres rasterize without blur.
    """
    scene = reset()
    scene.cycles.filter_width = 0.01
    scene.view_settings.view_transform = "Standard"
    scene.render.dither_intensity = 0.0
    ims = scene.render.image_settings
    ims.file_format, ims.color_mode, ims.color_depth = "PNG", "RGB", "8"
    points = [(0.0, 0.0, 0.0), (0.8, 0.3, 0.5), (-0.55, -0.4, -0.3), (0.4, 0.6, -0.42), (-0.5, 0.2, 0.5)]
    arm = make_armature(scene, "Arm", points)
    for p, color in zip(points, SPHERE_COLORS):
        bpy.ops.mesh.primitive_uv_sphere_add(radius=0.09, location=p, segments=32, ring_count=16)
        mat = bpy.data.materials.new("emit")
        mat.use_nodes = True
        nodes = mat.node_tree.nodes
        nodes.clear()
        emit = nodes.new("ShaderNodeEmission")
        emit.inputs["Color"].default_value = (*color, 1.0)
        emit.inputs["Strength"].default_value = 1.0
        output = nodes.new("ShaderNodeOutputMaterial")
        mat.node_tree.links.new(emit.outputs["Emission"], output.inputs["Surface"])
        bpy.context.object.data.materials.append(mat)
    cam = add_camera(scene, (0.3, -5.0, 0.4), (0, 0, 0))
    look_at(cam, (0.0, 0.0, 0.0))
    definition = keypoint_definition(arm)
    d, r = cam.data, scene.render
    results = []

    def shot(tag):
        bpy.context.view_layer.update()
        png = render_exr(scene, Path(out) / f"spheres_{tag}.png")
        results.append({"tag": tag, "png": png, "colors": SPHERE_COLORS, "size": list(output_size(scene)),
                        "points": project_keypoints(scene, cam, arm, definition)})

    r.resolution_x, r.resolution_y, r.resolution_percentage = 128, 96, 75
    d.shift_x, d.shift_y, d.sensor_fit, d.sensor_height = 0.1, -0.08, "VERTICAL", 24.0
    r.pixel_aspect_x, r.pixel_aspect_y = 1.0, 1.5
    shot("persp_shift_vertical_aspect_pct")
    d.type, d.ortho_scale = "ORTHO", 3.0
    d.shift_x, d.shift_y, d.sensor_fit = -0.1, 0.05, "AUTO"
    r.pixel_aspect_x, r.pixel_aspect_y = 1.5, 1.0
    shot("ortho_shift_aspect")
    print("KPJSON:" + json.dumps({"shots": results}))


def case_depth(out):
    """A wall facing the camera, off-axis: the depth pass vs the projected depth of points on it."""
    scene = reset()
    enable_passes(scene)
    bpy.ops.mesh.primitive_plane_add(size=30, location=(0, 0, -6.0))
    bpy.ops.mesh.primitive_plane_add(size=2, location=(1.5, 0.5, -3.0), rotation=(0.0, 0.6, 0.3))
    tilted = bpy.context.object
    bpy.context.view_layer.update()
    on_wall = [(-2.0, 1.5, -6.0), (2.2, -1.4, -6.0), (0.0, 0.0, -6.0)]
    on_tilted = [tuple(tilted.matrix_world @ __import__("mathutils").Vector(v))
                 for v in ((0.0, 0.0, 0.0), (0.5, 0.5, 0.0), (-0.6, 0.3, 0.0))]
    arm = make_armature(scene, "Arm", on_wall + on_tilted)
    cam = add_camera(scene, (0, 0, 0), (0, 0, 0), lens=30.0)
    definition = keypoint_definition(arm)
    exr = render_exr(scene, Path(out) / "depth.exr")
    result = {"exr": exr, "camera": camera_facts(scene, cam), "points": project_keypoints(scene, cam, arm, definition)}
    cam.data.type, cam.data.ortho_scale, cam.data.clip_start = "ORTHO", 7.0, 1.0  # depth still from the camera
    result["ortho"] = {"exr": render_exr(scene, Path(out) / "depth_ortho.exr"), "camera": camera_facts(scene, cam),
                       "points": project_keypoints(scene, cam, arm, definition)}
    print("KPJSON:" + json.dumps(result))


def case_visibility(out):
    """The clear cases of COCO visibility, rendered (see the test for the layout)."""
    from mathutils import Vector
    scene = reset()
    enable_passes(scene)
    cam_loc = Vector((0.0, -4.0, 0.0))
    cam = add_camera(scene, cam_loc, (math.pi / 2, 0.0, 0.0), lens=35.0)
    named = {
        "visible": (0.0, -0.10, 0.10),          # 0.05 behind the torso's front face: within the tolerance
        "behind_torso": (0.05, 0.35, 0.0),      # behind the whole torso: own surface 0.5 in front
        "behind_unmarked": (-0.8, 0.0, 0.0),    # an unmarked cube sits on its line of sight
        "behind_other": (0.8, 0.0, -0.5),       # a marked box (another instance) on its line of sight
        "open_air": (0.8, 0.0, 0.5),            # nothing in front, a wall behind
        "background": (-1.5, 0.0, -0.6),        # nothing in front, nothing behind
        "outside": (5.0, 0.0, 0.0),             # beyond the right edge of the frame
        "behind_camera": (0.0, -6.0, 0.0),
    }
    arm = make_armature(scene, "Person", list(named.values()))
    arm["coco_keypoints"] = json.dumps([[n, f"b{i}"] for i, n in enumerate(named)])
    bpy.ops.mesh.primitive_cube_add(size=1.0, location=(0.0, 0.0, 0.0))
    torso = bpy.context.object
    torso.scale = (0.4, 0.3, 0.6)          # x in [-0.2, 0.2], front face at y = -0.15
    torso.parent = arm
    torso.pass_index = 1                   # the person's instance id
    for name, pass_index in (("behind_unmarked", 0), ("behind_other", 2)):
        p = Vector(named[name])
        bpy.ops.mesh.primitive_cube_add(size=0.3, location=cam_loc + (p - cam_loc) * 0.6)
        bpy.context.object.pass_index = pass_index
    bpy.ops.mesh.primitive_plane_add(size=1.0, location=(2.35, 2.0, 0.0), rotation=(math.pi / 2, 0.0, 0.0))
    bpy.context.object.scale = (3.3, 6.0, 1.0)  # a wall behind the right part of the frame, x >= 0.7
    definition = keypoint_definition(arm)
    points = project_keypoints(scene, cam, arm, definition)
    exr = render_exr(scene, Path(out) / "visibility.exr")
    print("KPJSON:" + json.dumps({"exr": exr, "names": definition["keypoints"], "points": points,
                                  "camera": camera_facts(scene, cam), "world": [list(v) for v in named.values()]}))


def case_definition(out):
    """keypoint_definition: error messages, default skeletons; projection with constraints, drivers, parents."""
    scene = reset()
    data = bpy.data.armatures.new("Rig")
    rig = bpy.data.objects.new("Rig", data)
    scene.collection.objects.link(rig)
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode="EDIT")
    chain = {"root": None, "spine": "root", "neck": "spine", "head": "neck", "arm.L": "spine", "hand.L": "arm.L",
             "arm.R": "spine", "hand.R": "arm.R"}
    pos = {"root": (0, 0, 0), "spine": (0, 0, 1), "neck": (0, 0, 1.5), "head": (0, 0, 1.7), "arm.L": (0.2, 0, 1.4),
           "hand.L": (0.7, 0, 1.4), "arm.R": (-0.2, 0, 1.4), "hand.R": (-0.7, 0, 1.4)}
    for name, parent in chain.items():
        eb = data.edit_bones.new(name)
        eb.head = pos[name]
        eb.tail = (pos[name][0], pos[name][1] + 0.01, pos[name][2] + 0.3) if name in ("root", "head") else \
            (pos[name][0] * 1.8, 0.0, pos[name][2]) if "arm" in name or "hand" in name else (0, 0, pos[name][2] + 0.4)
        if parent:
            eb.parent = data.edit_bones[parent]
    bpy.ops.object.mode_set(mode="OBJECT")
    bpy.ops.mesh.primitive_cube_add()
    mesh = bpy.context.object
    mesh["coco_keypoints"] = "coco17"

    def attempt(obj, keypoints, skeleton=None):
        obj["coco_keypoints"] = keypoints
        if skeleton is None:
            obj.pop("coco_skeleton", None)
        else:
            obj["coco_skeleton"] = skeleton
        try:
            return {"ok": keypoint_definition(obj)}
        except UserError as exc:
            return {"error": str(exc)}

    j = json.dumps
    results = {
        "malformed_json": attempt(rig, '[["head", "head"'),
        "not_a_list": attempt(rig, '{"head": "head"}'),
        "bad_entry": attempt(rig, j([["head", "head", "middle"]])),
        "unknown_bone": attempt(rig, j([["left_hand", "hand.l"]])),
        "duplicate_name": attempt(rig, j([["a", "head"], ["a", "neck"]])),
        "skeleton_unknown": attempt(rig, j([["a", "head"], ["b", "neck"]]), j([["a", "c"]])),
        "skeleton_malformed": attempt(rig, j([["a", "head"], ["b", "neck"]]), "[[1, 2]]"),
        "unknown_preset": attempt(rig, "coco18"),
        "preset_does_not_fit": attempt(rig, "coco17"),
        "not_an_armature": attempt(mesh, "coco17"),
        "number_property": attempt(rig, 7),
        # default skeletons
        "hierarchy_full": attempt(rig, j([["root", "root"], ["spine", "spine"], ["neck", "neck"], ["head", "head"],
                                          ["head_top", "head", "tail"], ["lhand", "hand.L"], ["rhand", "hand.R"]])),
        "hierarchy_gaps": attempt(rig, j([["head", "head"], ["lhand", "hand.L"], ["root", "root"],
                                          ["rhand_tip", "hand.R", "tail"]])),
        "explicit_skeleton": attempt(rig, j([["a", "head"], ["b", "neck"], ["c", "root"]]),
                                     j([["a", "b"], ["c", "b"], ["b", "a"]])),
        "null_bone": attempt(rig, j([["a", "head"], ["b", None]])),
    }

    # Projection follows the evaluated pose: animated parent, constraint, driver.
    from mathutils import Vector
    rig["coco_keypoints"] = j([["head", "head"], ["head_top", "head", "tail"], ["lhand", "hand.L"],
                               ["lhand_tip", "hand.L", "tail"]])
    rig.pop("coco_skeleton", None)
    mover = bpy.data.objects.new("Mover", None)
    scene.collection.objects.link(mover)
    rig.parent = mover
    mover.location = (0, 0, 0)
    mover.keyframe_insert("location", frame=1)
    mover.location = (1.0, 2.0, -0.5)
    mover.keyframe_insert("location", frame=11)
    target = bpy.data.objects.new("Target", None)
    scene.collection.objects.link(target)
    target.location = (3.0, 4.0, 5.0)
    track = rig.pose.bones["head"].constraints.new("DAMPED_TRACK")
    track.target = target
    knob = bpy.data.objects.new("Knob", None)
    scene.collection.objects.link(knob)
    knob.location = (0.5, 0, 0)
    hand = rig.pose.bones["hand.L"]
    hand.rotation_mode = "XYZ"
    fc = hand.driver_add("rotation_euler", 2)  # about the bone's Z axis: swings the tail sideways by k radians
    drv = fc.driver
    drv.type = "SCRIPTED"
    var = drv.variables.new()
    var.name, var.type = "k", "TRANSFORMS"
    var.targets[0].id = knob
    var.targets[0].transform_type = "LOC_X"
    drv.expression = "k"
    cam = add_camera(scene, (0.5, -8.0, 1.5), (math.pi / 2, 0.0, 0.0), lens=35.0)
    definition = keypoint_definition(rig)
    frames = {}
    for frame in (1, 6, 11):
        scene.frame_set(frame)
        pts = project_keypoints(scene, cam, rig, definition)
        ev = rig.evaluated_get(bpy.context.evaluated_depsgraph_get())
        frames[frame] = {"points": pts, "mover": list(mover.matrix_world.translation),
                         "camera": camera_facts(scene, cam),
                         "rig_world": [list(row) for row in ev.matrix_world]}
    rest = {n: {"head": list(data.bones[n].head_local), "tail": list(data.bones[n].tail_local),
                "length": data.bones[n].length} for n in ("head", "hand.L")}
    print("KPJSON:" + json.dumps({"results": results, "frames": frames, "rest": rest,
                                  "target": list(target.location), "knob_x": knob.location.x}))


def _fk_facts(arm):
    """Rest matrices, parents and pose channels: what an independent forward kinematics needs."""
    bones = {}
    for b in arm.data.bones:
        pb = arm.pose.bones[b.name]
        bones[b.name] = {
            "parent": b.parent.name if b.parent else None, "matrix_local": [list(r) for r in b.matrix_local],
            "length": b.length, "rotation_mode": pb.rotation_mode, "location": list(pb.location),
            "rotation_quaternion": list(pb.rotation_quaternion), "rotation_euler": list(pb.rotation_euler),
            "scale": list(pb.scale), "inherit_scale": b.inherit_scale, "use_inherit_rotation": b.use_inherit_rotation,
            "constraints": len(pb.constraints),
        }
    return bones


def case_rigify(out):
    """The Rigify human metarig (159 bones, nobody here made it), posed, with the coco17 preset."""
    import addon_utils
    scene = reset()
    addon_utils.enable("rigify", default_set=True)
    bpy.ops.object.armature_human_metarig_add()
    arm = bpy.context.object
    bpy.ops.object.mode_set(mode="OBJECT")
    arm.location, arm.rotation_euler = (0.3, 0.2, 0.0), (0.0, 0.0, 0.35)
    pose = {"upper_arm.L": ("XYZ", (0.3, 0.2, -0.9)), "forearm.L": ("QUATERNION", (0.9, 0.0, 0.0, 0.44)),
            "thigh.R": ("YXZ", (-0.6, 0.1, 0.2)), "shin.R": ("XYZ", (0.9, 0.0, 0.0)),
            "spine.004": ("XYZ", (0.2, 0.0, 0.3)), "spine.006": ("ZXY", (0.1, 0.3, -0.4)),
            "upper_arm.R": ("QUATERNION", (0.8, 0.3, -0.2, 0.5))}
    for name, (mode, value) in pose.items():
        pb = arm.pose.bones[name]
        pb.rotation_mode = mode
        if mode == "QUATERNION":
            pb.rotation_quaternion = value
        else:
            pb.rotation_euler = value
    arm.pose.bones["spine"].location = (0.0, 0.05, 0.0)
    arm.pose.bones["hand.L"].scale = (1.2, 1.2, 1.2)
    arm["coco_keypoints"] = "coco17"
    cam = add_camera(scene, (0.4, -4.5, 1.1), (0, 0, 0), lens=40.0)
    look_at(cam, (0.3, 0.2, 1.0))
    scene.render.resolution_x, scene.render.resolution_y = 96, 72
    definition = keypoint_definition(arm)
    points = project_keypoints(scene, cam, arm, definition)
    print("KPJSON:" + json.dumps({"definition": definition, "points": points, "camera": camera_facts(scene, cam),
                                  "object_matrix": [list(r) for r in arm.matrix_world], "bones": _fk_facts(arm),
                                  "bone_count": len(arm.data.bones)}))


def case_gltf(out):
    """CesiumMan and Fox (third-party glTF rigs), several frames of their animation."""
    results = {}
    maps = {
        # CesiumMan's joints are unnamed: Blender calls them Node_<glTF node index>.
        "CesiumMan": [["pelvis", "Node_2"], ["neck", "Node_12"], ["head_top", "Node_20"],
                      ["left_shoulder", "Node_16"], ["left_elbow", "Node_17"], ["left_wrist", "Node_18"],
                      ["right_shoulder", "Node_13"], ["right_elbow", "Node_14"], ["right_wrist", "Node_15"],
                      ["left_hip", "Node_7"], ["left_knee", "Node_8"], ["left_ankle", "Node_9"],
                      ["right_hip", "Node_3"], ["right_knee", "Node_4"], ["right_ankle", "Node_5"]],
        "Fox": [["head", "b_Head_05"], ["neck", "b_Neck_04"], ["hip", "b_Hip_01"], ["tail_base", "b_Tail01_012"],
                ["tail_tip", "b_Tail03_014"], ["left_front_elbow", "b_LeftForeArm_010"],
                ["left_front_paw", "b_LeftHand_011"], ["right_front_paw", "b_RightHand_08"],
                ["left_hind_knee", "b_LeftLeg02_016"], ["left_hind_paw", "b_LeftFoot02_018"],
                ["right_hind_paw", "b_RightFoot02_022"]],
    }
    frames = {"CesiumMan": [0, 7, 19, 31, 44], "Fox": [0, 4, 9, 13, 17]}
    actions = {"CesiumMan": None, "Fox": "Walk"}  # the Fox's default action (Survey) barely moves its paws
    for model, bone_map in maps.items():
        path = ASSETS / "models" / f"{model}.glb"
        scene = reset()
        bpy.ops.import_scene.gltf(filepath=str(path))
        arm = next(o for o in scene.objects if o.type == "ARMATURE")
        if actions[model]:
            arm.animation_data.action = bpy.data.actions[actions[model]]
        arm["coco_keypoints"] = json.dumps(bone_map)
        definition = keypoint_definition(arm)
        scene.render.resolution_x, scene.render.resolution_y = 96, 72
        scene.frame_set(frames[model][0])
        bpy.context.view_layer.update()
        heads = [arm.matrix_world @ arm.pose.bones[b].head for _, b in bone_map]
        from mathutils import Vector
        lo = Vector([min(h[i] for h in heads) for i in range(3)])
        hi = Vector([max(h[i] for h in heads) for i in range(3)])
        centre, size = (lo + hi) / 2, (hi - lo).length
        cam = add_camera(scene, centre + Vector((0.6, -2.2, 0.5)) * size, (0, 0, 0), lens=35.0)
        look_at(cam, centre)
        shots = []
        for f in frames[model]:
            scene.frame_set(f)
            shots.append({"frame": f, "points": project_keypoints(scene, cam, arm, definition),
                          "camera": camera_facts(scene, cam)})
        results[model] = {"shots": shots, "action": arm.animation_data.action.name, "fps": scene.render.fps,
                          "fps_base": scene.render.fps_base, "definition": definition}
    print("KPJSON:" + json.dumps(results))


if __name__ == "__main__":
    # bpy module: python kp_bpy_cases.py CASE OUT; Blender binary: blender -b -P kp_bpy_cases.py -- CASE OUT
    argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
    case, out_dir, ASSETS = argv[0], argv[1], Path(argv[2])
    globals()[f"case_{case}"](out_dir)

"""Multi-camera runs (``--cameras``) and stereo eyes, rendered with real bpy.

One bpy process builds a scene (a box and a ball placed by ``[[objects]]``, a skinned
armature with keypoints, two cameras CamA and CamB moved as a rig by ``[camera]``),
renders 2 frames from both cameras, and records for every frame, from a frame hook
that runs after the randomizer, each object's pose and each bone head's
``bpy_extras.object_utils.world_to_camera_view`` per camera (the keypoint truth).
After the run it puts those poses back and renders each (frame, camera) with a plain
``bpy.ops.render.render`` and its own pass indices (the mask truth). It also renders
the scene in stereo (ours, and Blender's own multiview render as the truth), shards,
resume and error cases. The tests judge the files.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import OpenEXR
import pytest
from cocotools import decode, load_coco

SCRIPT = r"""
import json, math, sys, traceback
import bpy
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Matrix, Vector
from blender_coco.blender import marking, pipeline
from blender_coco.blender.hooks import FrameHook
from blender_coco.config import RenderConfig

glb, out = sys.argv[1], sys.argv[2]
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
scene.render.resolution_x, scene.render.resolution_y = 64, 48
scene.cycles.samples = 1
bpy.ops.import_scene.gltf(filepath=glb)
for obj in list(scene.objects):
    if obj.type == "MESH" and obj.parent is None:
        bpy.data.objects.remove(obj)
arm = next(o for o in scene.objects if o.type == "ARMATURE")
arm.animation_data_clear()
arm.scale = (0.3, 0.3, 0.3); arm.location = (-1.5, 0.5, 0.0)
marking.mark(arm, "tube")
arm["coco_keypoints"] = '[["base", "Bone"], ["mid", "Bone.001"]]'
bpy.ops.mesh.primitive_cube_add(size=1.0, location=(0, 0, 0.5)); marking.mark(bpy.context.object, "box")
bpy.ops.mesh.primitive_uv_sphere_add(radius=0.5, location=(1.0, 1.0, 0.5)); marking.mark(bpy.context.object, "ball")
bpy.ops.object.select_all(action="DESELECT")
target = Vector((0.0, 0.0, 0.8))
for name, loc in (("CamA", (0.0, -7.0, 2.0)), ("CamB", (5.0, -5.0, 3.0))):
    cam = bpy.data.objects.new(name, bpy.data.cameras.new(name)); scene.collection.objects.link(cam)
    cam.location = loc
    cam.rotation_euler = (target - Vector(loc)).to_track_quat("-Z", "Y").to_euler()
scene.camera = bpy.data.objects["CamA"]
scene.frame_start = scene.frame_end = 1
cfg = out + "/r.toml"
open(cfg, "w").write('''
[camera]
target = [0.0, 0.0, 0.8]
azimuth = [-20, 20]
distance = [6.5, 8.0]
[[objects]]
objects = ["Cube", "Sphere"]
region = {min = [-1.2, -1.0, 0.5], max = [1.2, 1.0, 0.5]}
rotation = {z = [0, 90]}
''')
CAMS = ("CamA", "CamB")
truth = {}

class Record(FrameHook):
    def before_frame(self, scene, index, seed):
        dg = bpy.context.evaluated_depsgraph_get()
        poses = {o.name: [list(r) for r in o.matrix_world] for o in scene.objects}
        heads = {}
        W, H = scene.render.resolution_x, scene.render.resolution_y
        for c in CAMS:
            cam = scene.objects[c]
            pts = []
            for b in ("Bone", "Bone.001"):
                co = world_to_camera_view(scene, cam, arm.matrix_world @ arm.pose.bones[b].head)
                pts.append([co.x * W, (1.0 - co.y) * H, co.z])
            heads[c] = pts
        truth[index] = {"poses": poses, "heads": heads}

def run(sub, **kw):
    kw.setdefault("frames", 2)
    return pipeline.render_dataset(RenderConfig(out=out + "/" + sub, randomize=cfg, **kw), scene, **({"hooks": [Record()]} if sub == "a" else {}))

run("a", cameras=CAMS)
json.dump(truth, open(out + "/truth.json", "w"))

# the mask truth: the recorded poses, a plain render per camera, our own pass indices
scene.render.engine = "CYCLES"
bpy.context.view_layer.use_pass_object_index = True
ims = scene.render.image_settings
ims.media_type = "MULTI_LAYER_IMAGE"; ims.file_format = "OPEN_EXR_MULTILAYER"
own = {"Cube": 1, "Sphere": 2}
for o in scene.objects:
    o.pass_index = own.get(o.name, 3 if o.type == "MESH" else 0)
for index, t in truth.items():
    for name in ("Cube", "Sphere", "CamA", "CamB"):  # what the randomizer moved
        scene.objects[name].matrix_world = Matrix(t["poses"][name])
    for c in CAMS:
        scene.camera = scene.objects[c]
        bpy.ops.render.render()
        bpy.data.images["Render Result"].save_render(f"{out}/truth_{index}_{c}.exr", scene=scene)
for o in scene.objects:
    o.pass_index = 0
bpy.ops.wm.read_factory_settings(use_empty=True)
"""

STEREO = r"""
import sys, os
import bpy
from blender_coco.blender import marking, pipeline
from blender_coco.config import RenderConfig
from blender_coco.errors import UserError

out, mode, pivot = sys.argv[1], sys.argv[2], sys.argv[3]
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
scene.render.resolution_x, scene.render.resolution_y = 64, 48
scene.cycles.samples = 1
bpy.ops.mesh.primitive_cube_add(size=1.0, location=(0, 0, 1)); marking.mark(bpy.context.object, "box")
bpy.ops.mesh.primitive_uv_sphere_add(radius=0.5, location=(1.2, 1, 0.6)); marking.mark(bpy.context.object, "ball")
cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam")); scene.collection.objects.link(cam); scene.camera = cam
cam.location = (0.3, -6, 1.2); cam.rotation_euler = (1.4, 0.05, 0.1)
st = cam.data.stereo
st.convergence_mode, st.pivot, st.interocular_distance, st.convergence_distance = mode, pivot, 0.5, 4.0
scene.render.use_multiview = True; scene.render.views_format = "STEREO_3D"
pipeline.render_dataset(RenderConfig(out=out + "/ours"), scene)
assert scene.render.use_multiview and scene.camera == cam  # given back
assert sorted(o.name for o in scene.objects) == ["Cam", "Cube", "Sphere"]  # the eye cameras are gone
assert len(bpy.data.cameras) == 1
# the truth: Blender's own stereo render, both eyes, the marked objects' pass indices as ours
import json
side = json.load(open(out + "/ours/records/000000_Cam_left.json"))
for inst in side["instances"]:
    scene.objects[inst["object"]].pass_index = inst["pass_index"]
scene.render.engine = "CYCLES"
bpy.context.view_layer.use_pass_object_index = True
ims = scene.render.image_settings
ims.media_type = "MULTI_LAYER_IMAGE"; ims.file_format = "OPEN_EXR_MULTILAYER"; ims.views_format = "INDIVIDUAL"
bpy.ops.render.render()
try:
    bpy.data.images["Render Result"].save_render(out + "/blender.exr", scene=scene)
except RuntimeError:
    pass  # it writes blender_L.exr and blender_R.exr, then complains about blender.exr
assert os.path.exists(out + "/blender_L.exr") and os.path.exists(out + "/blender_R.exr")
"""


def _index(path):
    exr = OpenEXR.File(str(path), separate_channels=True)
    channels = {name: ch.pixels for part in exr.parts for name, ch in part.channels.items()}
    return next(v for k, v in channels.items() if k.endswith((".IndexOB.X", ".Object Index.X"))).astype(int)


@pytest.fixture(scope="module")
def rig(tmp_path_factory, run_bpy, assets):
    out = tmp_path_factory.mktemp("cams")
    run_bpy(SCRIPT, str(assets / "models" / "RiggedSimple.glb"), str(out), what="render two cameras")
    return out


def test_two_cameras_give_two_images_per_frame_with_camera_names_and_ids(rig):
    ds = rig / "a"
    names = sorted(p.name for p in (ds / "images").iterdir())
    assert names == ["000000_CamA.png", "000000_CamB.png", "000001_CamA.png", "000001_CamB.png"]
    assert sorted(p.name for p in (ds / "records").glob("*.json")) == [n.replace(".png", ".json") for n in names]
    coco = load_coco(ds / "annotations" / "instances.json")
    images = [(im["id"], im["file_name"], im["frame"], im["camera"]) for im in coco.dataset["images"]]
    assert images == [(1, "000000_CamA.png", 0, "CamA"), (2, "000000_CamB.png", 0, "CamB"),
                      (3, "000001_CamA.png", 1, "CamA"), (4, "000001_CamB.png", 1, "CamB")]
    side = json.loads((ds / "records" / "000001_CamB.json").read_text())
    assert side["view"] == "CamB" and side["views"] == ["CamA", "CamB"] and side["camera"]["name"] == "CamB"


def test_masks_match_a_plain_render_from_each_camera(rig):
    coco = load_coco(rig / "a" / "annotations" / "instances.json")
    own = {"box": 1, "ball": 2, "tube": 3}
    cats = {c["id"]: c["name"] for c in coco.dataset["categories"]}
    checked = 0
    for im in coco.dataset["images"]:
        truth = _index(rig / f"truth_{im['frame']}_{im['camera']}.exr")
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[im["id"]]))
        assert {cats[a["category_id"]] for a in anns} == {n for n, v in own.items() if (truth == v).any()}
        for a in anns:
            want = truth == own[cats[a["category_id"]]]
            got = decode(a["segmentation"], im["height"], im["width"]).astype(bool)
            assert (got != want).sum() <= 2, (im["file_name"], cats[a["category_id"]], int((got != want).sum()))
            checked += 1
    assert checked >= 8


def test_every_view_carries_amodal_masks_and_passes_validate(rig):
    """Amodal masks are made per view (with that view's camera): each contains its visible mask, and
    the two cameras' amodal masks of one object differ; every written file passes our validate."""
    from blender_coco.coco.validate import validate_coco

    ann_dir = rig / "a" / "annotations"
    for path in sorted(ann_dir.glob("*.json")):
        data = json.loads(path.read_text())
        assert not validate_coco(data), (path.name, [str(p) for p in validate_coco(data)][:5])
    coco = load_coco(ann_dir / "instances.json")
    by_view = {}
    for im in coco.dataset["images"]:
        for a in coco.loadAnns(coco.getAnnIds(imgIds=[im["id"]])):
            visible = decode(a["segmentation"], im["height"], im["width"]).astype(bool)
            amodal = decode(a["amodal_segmentation"], im["height"], im["width"]).astype(bool)
            assert not (visible & ~amodal).any() and 0 < a["visible_fraction"] <= 1
            by_view[(im["frame"], im["camera"], a["category_id"])] = amodal
    pairs = [(k, (k[0], "CamB", k[2])) for k in by_view if k[1] == "CamA" and (k[0], "CamB", k[2]) in by_view]
    assert pairs and all((by_view[a] != by_view[b]).any() for a, b in pairs)


def test_keypoints_match_world_to_camera_view_in_each_camera(rig):
    truth = json.loads((rig / "truth.json").read_text())
    seen = set()
    for frame in ("0", "1"):
        for cam in ("CamA", "CamB"):
            side = json.loads((rig / "a" / "records" / f"00000{frame}_{cam}.json").read_text())
            (inst,) = [i for i in side["instances"] if i["category"] == "tube"]
            for got, want in zip(inst["keypoints"], truth[frame]["heads"][cam]):
                assert got == pytest.approx(want, abs=1e-3)
                seen.add((frame, cam, round(got[0], 1)))
    assert len(seen) == 8  # the views (and frames) really differ


def test_one_randomization_per_frame_and_the_rig_moves_rigidly(rig):
    sides = {(f, c): json.loads((rig / "a" / "records" / f"00000{f}_{c}.json").read_text())
             for f in (0, 1) for c in ("CamA", "CamB")}
    for f in (0, 1):
        a, b = sides[(f, "CamA")], sides[(f, "CamB")]
        assert a["randomize"] == b["randomize"]
        assert [i["pass_index"] for i in a["instances"]] == [i["pass_index"] for i in b["instances"]]
    truth = json.loads((rig / "truth.json").read_text())
    assert truth["0"]["poses"]["Cube"] != truth["1"]["poses"]["Cube"]  # the objects did move
    rel = []
    for f in (0, 1):
        ma = np.array(sides[(f, "CamA")]["camera"]["matrix_world"])
        mb = np.array(sides[(f, "CamB")]["camera"]["matrix_world"])
        rel.append(np.linalg.inv(ma) @ mb)
    assert not np.allclose(sides[(0, "CamA")]["camera"]["matrix_world"], sides[(1, "CamA")]["camera"]["matrix_world"])
    assert np.allclose(rel[0], rel[1], atol=1e-4)  # CamB keeps its pose relative to CamA


@pytest.mark.parametrize("mode,pivot", [("OFFAXIS", "LEFT"), ("TOE", "CENTER"), ("TOE", "RIGHT")])
def test_stereo_renders_both_eyes_as_blender_stereo_does(tmp_path, run_bpy, mode, pivot):
    run_bpy(STEREO, str(tmp_path), mode, pivot, what="render stereo")
    ours = tmp_path / "ours"
    assert sorted(p.name for p in (ours / "images").iterdir()) == ["000000_Cam_left.png", "000000_Cam_right.png"]
    coco = load_coco(ours / "annotations" / "instances.json")
    assert [(im["id"], im["camera"], im["eye"]) for im in coco.dataset["images"]] == [(1, "Cam", "left"),
                                                                                       (2, "Cam", "right")]
    for eye, letter in (("left", "L"), ("right", "R")):
        mine, theirs = _index(ours / "records" / f"000000_Cam_{eye}.exr"), _index(tmp_path / f"blender_{letter}.exr")
        assert len(np.unique(theirs)) == 3 and (mine != theirs).sum() <= 2, (eye, int((mine != theirs).sum()))
    left, right = (_index(ours / "records" / f"000000_Cam_{e}.exr") for e in ("left", "right"))
    assert (left != right).sum() > 20  # the eyes see different pictures


SHARDS = r"""
import json, sys
import bpy
from blender_coco.blender import marking, pipeline
from blender_coco.coco.merge import merge_datasets
from blender_coco.config import RenderConfig
from blender_coco.errors import UserError

out = sys.argv[1]
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
scene.render.resolution_x, scene.render.resolution_y = 32, 24
scene.cycles.samples = 1
bpy.ops.mesh.primitive_cube_add(size=1.0, location=(0, 0, 0.5)); marking.mark(bpy.context.object, "box")
bpy.ops.mesh.primitive_uv_sphere_add(radius=0.5, location=(1, 1, 0.5)); marking.mark(bpy.context.object, "ball")
for name, loc, rot in (("Cam.B", (0, -6, 1), (1.45, 0, 0)), ("CamA", (6, 0, 1), (1.45, 0, 1.5708))):
    cam = bpy.data.objects.new(name, bpy.data.cameras.new(name)); scene.collection.objects.link(cam)
    cam.location, cam.rotation_euler = loc, rot
scene.camera = bpy.data.objects["CamA"]
cfg = out + "/r.toml"
open(cfg, "w").write('[[objects]]\nobjects = ["Cube", "Sphere"]\nregion = {min = [-1, -1, 0.5], max = [1, 1, 0.5]}\n')
def run(sub, **kw):
    pipeline.render_dataset(RenderConfig(out=f"{out}/{sub}", frames=3, randomize=cfg, cameras=("all",), **kw), scene)
errors = {}
def error(key, **kw):
    try:
        run(key, **kw)
    except UserError as exc:
        errors[key] = str(exc)
run("one")
run("s0", shard=(0, 2)); run("s1", shard=(1, 2))
merge_datasets([f"{out}/s0", f"{out}/s1"], f"{out}/merged")
run("res", frame_range=(0, 2), stage="render")
import os
os.remove(f"{out}/res/records/000001_Cam-B.json")  # a view lost mid-frame
run("res", resume=True)
for key, cams in (("unknown", ("CamA", "Nope")), ("mesh", ("Cube",))):
    try:
        pipeline.render_dataset(RenderConfig(out=f"{out}/{key}", cameras=cams), scene)
    except UserError as exc:
        errors[key] = str(exc)
try:
    pipeline.render_dataset(RenderConfig(out=f"{out}/one", frames=3, randomize=cfg, cameras=("CamA",), resume=True), scene)
except UserError as exc:
    errors["resume"] = str(exc)
errors["scene_camera"] = scene.camera.name  # given back after every run
# a rig: both cameras under one Empty; [camera] moves the Empty, the cameras follow
rig = bpy.data.objects.new("Rig", None); scene.collection.objects.link(rig)
rig.location = (0.5, 0.0, 0.0)
for name in ("Cam.B", "CamA"):
    cam = scene.objects[name]
    world = cam.matrix_world.copy()
    cam.parent = rig
    cam.matrix_parent_inverse = rig.matrix_world.inverted()
    cam.matrix_world = world
bpy.context.view_layer.update()
before = {o.name: [list(r) for r in o.matrix_world] for o in scene.objects}
open(out + "/rig.toml", "w").write('[camera]\ntarget = [0, 0, 0.5]\nazimuth = [-40, 40]\ndistance = [5, 8]\n')
pipeline.render_dataset(RenderConfig(out=f"{out}/rig", frames=2, randomize=out + "/rig.toml", cameras=("CamA", "Cam.B")), scene)
bpy.context.view_layer.update()
after = {o.name: [list(r) for r in o.matrix_world] for o in scene.objects}
errors["rig_restored"] = before == after
json.dump(errors, open(out + "/errors.json", "w"))
"""


@pytest.fixture(scope="module")
def shards(tmp_path_factory, run_bpy):
    out = tmp_path_factory.mktemp("cam_shards")
    run_bpy(SHARDS, str(out), what="shards, resume and merge with two cameras")
    return out


def _images_and_annotations(path):
    data = json.loads(path.read_text())
    anns = sorted((a["image_id"], a["category_id"], a["bbox"], a["area"]) for a in data["annotations"])
    return data["images"], anns


def test_all_cameras_sorted_and_unsafe_names_made_file_safe(shards):
    images, _ = _images_and_annotations(shards / "one" / "annotations" / "instances.json")
    assert [(im["id"], im["file_name"], im["camera"]) for im in images][:2] == [(1, "000000_Cam-B.png", "Cam.B"),
                                                                                (2, "000000_CamA.png", "CamA")]
    assert [im["id"] for im in images] == list(range(1, 7))


@pytest.mark.parametrize("other", ["merged", "res"])
def test_shards_merge_and_resume_keep_ids_and_file_names(shards, other):
    want = _images_and_annotations(shards / "one" / "annotations" / "instances.json")
    got = _images_and_annotations(shards / other / "annotations" / "instances.json")
    assert got == want and len(want[1]) >= 6
    assert sorted(p.name for p in (shards / other / "images").iterdir()) == \
        sorted(p.name for p in (shards / "one" / "images").iterdir())


def test_camera_errors_are_one_line_and_name_the_fix(shards):
    errors = json.loads((shards / "errors.json").read_text())
    assert "'Nope'" in errors["unknown"] and "Cam.B, CamA" in errors["unknown"]
    assert "'Cube' is a mesh object, not a camera" in errors["mesh"]
    assert errors["resume"].startswith("cannot resume") and "cameras Cam.B, CamA" in errors["resume"]
    assert all("\n" not in errors[k] for k in ("unknown", "mesh", "resume"))
    assert not (shards / "unknown").exists() and not (shards / "mesh").exists()  # refused before any folder


def test_a_rig_parent_moves_the_cameras_as_one(shards):
    sides = {(f, c): json.loads((shards / "rig" / "records" / f"00000{f}_{c}.json").read_text())
             for f in (0, 1) for c in ("CamA", "Cam-B")}
    assert sides[(0, "CamA")]["views"] == ["CamA", "Cam.B"]  # the order given; CamA is the reference
    rel = [np.linalg.inv(np.array(sides[(f, "CamA")]["camera"]["matrix_world"]))
           @ np.array(sides[(f, "Cam-B")]["camera"]["matrix_world"]) for f in (0, 1)]
    assert np.allclose(rel[0], rel[1], atol=1e-4)
    assert not np.allclose(sides[(0, "Cam-B")]["camera"]["matrix_world"], sides[(1, "Cam-B")]["camera"]["matrix_world"])
    errors = json.loads((shards / "errors.json").read_text())
    assert errors["rig_restored"] is True and errors["scene_camera"] == "CamA"


def _fake_view(out, index, token, views):
    """A complete record of (index, view) as the render stage writes it: whole PNG and EXR, sidecar last."""
    from blender_coco.records.layout import record_paths

    image, exr, side = record_paths(out, index, "PNG", token)
    for p in (image, exr, side):
        p.parent.mkdir(parents=True, exist_ok=True)
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 60 + b"IEND\xaeB`\x82")
    exr.write_bytes(b"\x76\x2f\x31\x01" + b"\0" * 80)
    side.write_text(json.dumps({"format": "blender-coco-record", "version": 1, "index": index, "image": image.name,
                                "passes": exr.name, "width": 4, "height": 3, "view": token, "views": views}))


def test_ray_plan_counts_a_frame_done_only_when_every_view_is(tmp_path):
    from blender_coco.distribute import plan
    from blender_coco.records.resume import prepare_out_dir, prepare_views

    views = ["CamA", "CamB"]
    for index, tokens in ((0, views), (1, ["CamA"]), (2, views)):
        for t in tokens:
            _fake_view(tmp_path, index, t, views)
    assert plan.sidecar_indices(tmp_path, 3) == {0, 2}
    assert plan.complete_frames(tmp_path, 3, "PNG") == {0, 2}
    (tmp_path / "images" / "000002_CamB.png").write_bytes(b"half")  # a broken image: frame 2 is not complete
    assert plan.complete_frames(tmp_path, 3, "PNG") == {0}
    expect = {"views": views}
    assert prepare_out_dir(tmp_path, 3, "PNG", mode="resume", expect=expect, views=views) == {0}
    assert prepare_views(tmp_path, 3, "PNG", mode="resume", expect=expect, views=views) == {(0, "CamA"), (0, "CamB"),
                                                                                           (1, "CamA"), (2, "CamA")}
    assert not (tmp_path / "images" / "000002_CamB.png").exists()  # removed: it renders again


BUILD_34 = r"""
import sys
import bpy
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
scene.render.resolution_x, scene.render.resolution_y = 64, 48
scene.cycles.samples = 1
scene.cycles.use_denoising = False  # Debian's Blender has no OpenImageDenoise
bpy.ops.mesh.primitive_cube_add(size=1.0, location=(0, 0, 1)); bpy.context.object["coco_category"] = "box"
bpy.ops.mesh.primitive_uv_sphere_add(radius=0.5, location=(1.2, 1, 0.6)); bpy.context.object["coco_category"] = "ball"
for name, loc, rot in (("CamA", (0.3, -6, 1.2), (1.4, 0.05, 0.1)), ("CamB", (6, 0.3, 1.2), (1.4, 0.0, 1.6))):
    cam = bpy.data.objects.new(name, bpy.data.cameras.new(name)); scene.collection.objects.link(cam)
    cam.location, cam.rotation_euler = loc, rot
    st = cam.data.stereo
    st.convergence_mode, st.pivot, st.interocular_distance, st.convergence_distance = "TOE", "CENTER", 0.5, 4.0
scene.camera = bpy.data.objects["CamA"]
scene.render.use_multiview = True; scene.render.views_format = "STEREO_3D"
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[-1])
"""

TRUTH_34 = r"""
import json, sys
import bpy
scene = bpy.context.scene
for inst in json.load(open(sys.argv[-2]))["instances"]:
    scene.objects[inst["object"]].pass_index = inst["pass_index"]
scene.render.engine = "CYCLES"
bpy.context.view_layer.use_pass_object_index = True
ims = scene.render.image_settings
ims.file_format = "OPEN_EXR_MULTILAYER"; ims.views_format = "INDIVIDUAL"
bpy.ops.render.render()
try:
    bpy.data.images["Render Result"].save_render(sys.argv[-1], scene=scene)
except RuntimeError:
    pass  # it writes NAME_L.exr and NAME_R.exr, then complains about NAME.exr
"""


def test_blender_34_renders_two_stereo_cameras_as_its_own_stereo_does(tmp_path, run, blender_binary):
    """Debian's Blender 3.4 binary: --cameras all on a stereo scene gives 4 views; CamA's eyes match 3.4's own render."""
    for name, code in (("build.py", BUILD_34), ("truth.py", TRUTH_34)):
        (tmp_path / name).write_text(code)
    blend = tmp_path / "stereo.blend"
    run([blender_binary, "-b", "--factory-startup", "--python-exit-code", "1", "-P", tmp_path / "build.py", "--", blend],
        "building a stereo scene with blender -b")
    run([blender_binary, "-b", blend, "--python-exit-code", "1", "-P", "scripts/render_coco.py", "--",
         "--out", tmp_path / "ds", "--cameras", "all", "--python", sys.executable], "blender -b ... --cameras all")
    ds = tmp_path / "ds"
    assert sorted(p.name for p in (ds / "images").iterdir()) == [
        "000000_CamA_left.png", "000000_CamA_right.png", "000000_CamB_left.png", "000000_CamB_right.png"]
    run([blender_binary, "-b", blend, "--python-exit-code", "1", "-P", tmp_path / "truth.py", "--",
         ds / "records" / "000000_CamA_left.json", tmp_path / "blender.exr"], "Blender 3.4's own stereo render")
    for eye, letter in (("left", "L"), ("right", "R")):
        mine, theirs = _index(ds / "records" / f"000000_CamA_{eye}.exr"), _index(tmp_path / f"blender_{letter}.exr")
        assert len(np.unique(theirs)) == 3 and (mine != theirs).sum() <= 2, (eye, int((mine != theirs).sum()))


def test_merge_renumber_keeps_each_camera_in_the_name_and_export_keeps_ids_unique(shards, tmp_path):
    from blender_coco.coco.export import export_dataset
    from blender_coco.coco.merge import merge_datasets

    merge_datasets([shards / "one", shards / "res"], tmp_path / "m", renumber=True)
    names = sorted(p.name for p in (tmp_path / "m" / "images").iterdir())
    assert names == sorted(f"{i:06d}_{c}.png" for i in range(6) for c in ("Cam-B", "CamA"))
    export_dataset(tmp_path / "m")  # from the merged records
    images = json.loads((tmp_path / "m" / "annotations" / "instances.json").read_text())["images"]
    assert sorted(im["id"] for im in images) == list(range(1, 13))
    assert {(im["file_name"][:6], im["camera"]) for im in images} == {(f"{i:06d}", c) for i in range(6)
                                                                      for c in ("Cam.B", "CamA")}

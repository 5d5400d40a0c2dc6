"""Copies of a rigged character get keypoints (issue 10), on real renders.

scenes/rigged_copies.py builds the set-ups users build: an asset library collection
(excluded from the view layer) holding a marked, action-animated armature with its
skinned mesh, instanced by empties, nested one level, instanced by particles (Whole
Collection) and by geometry nodes (Collection Info, not realized), and linked from
another .blend. One bpy process renders each scene twice:
through ``render_dataset``, and as the truth: the same scene with every copy made a real,
marked armature placed by the instancers' matrices multiplied by hand, whose keypoints
``bpy_extras.object_utils.world_to_camera_view`` projects (not our code). Then:

* every copy's sidecar keypoints equal one truth armature's within 1e-3 px (depth 1e-4);
* the exported visibility flags equal those of the real-armature scene (same exporter
  rules, the copy's own mask and depth), ``num_keypoints`` counts v > 0, pycocotools
  loads it and COCOeval scores the keypoints 1.0 against themselves;
* an armature disabled in viewports (itself and its mesh, or its collection) is posed
  at the rendered frame: the keypoints of the visible armature, not the stale pose of the
  frame last shown; the scene's flags are put back;
* geometry nodes instancing the skinned mesh alone: annotated with v = 0 keypoints and
  one warning naming the instancer;
* Blender 3.4 (binary) agrees with bpy 5.0 (copies, and a viewport-disabled armature).
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from cocotools import evaluate, load_coco

KINDS = ("asset_library", "nested", "particles", "linked", "geometry_nodes")
HIDDEN = ("visible", "armature_disabled", "all_disabled", "collection_disabled", "all_eye")

SCRIPT = r"""
import json, logging, sys
import bpy
import rigged_copies as rc
from blender_coco.blender import pipeline
from blender_coco.config import RenderConfig

out = sys.argv[1]
lib_path = out + "/rig_lib.blend"
rc.write_library(lib_path)
facts = {"truth": {}, "warnings": {}, "hidden": {}}


class Catch(logging.Handler):
    def emit(self, record):
        self.lines.append(record.getMessage())


catch = Catch(logging.WARNING)
logging.getLogger("blender_coco").addHandler(catch)


def fresh():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return bpy.context.scene


for kind in sys.argv[2].split(","):
    scene = fresh()
    rc.build(scene, kind, lib_path)
    catch.lines = []
    pipeline.render_dataset(RenderConfig(out=f"{out}/{kind}"), scene)
    facts["warnings"][kind] = catch.lines
    if kind == "mesh_scatter":
        continue
    scene = fresh()
    rc.build(scene, kind, lib_path)
    names = rc.make_real(scene, kind)
    facts["truth"][kind] = list(rc.truth_keypoints(scene, names).values())
    pipeline.render_dataset(RenderConfig(out=f"{out}/{kind}_real"), scene)

for how in sys.argv[3].split(",") if len(sys.argv) > 3 else ():
    scene = fresh()
    rc.build(scene, "hidden")
    arm, skin = bpy.data.objects["Rig"], bpy.data.objects["RigSkin"]
    scene.frame_set(7)  # the pose the original keeps once the viewport stops evaluating it
    stale = rc.truth_keypoints(scene, ["Rig"])["Rig"]
    if how == "armature_disabled":
        arm.hide_viewport = True
    elif how == "all_disabled":
        arm.hide_viewport = skin.hide_viewport = True
    elif how == "collection_disabled":
        bpy.data.collections["Char"].hide_viewport = True
    elif how == "all_eye":
        arm.hide_set(True); skin.hide_set(True)
    bpy.context.evaluated_depsgraph_get()
    scene.frame_set(rc.FRAME)
    pipeline.render_dataset(RenderConfig(out=f"{out}/hidden_{how}"), scene)
    facts["hidden"][how] = {"stale": stale, "arm_hide_viewport": arm.hide_viewport,
                            "in_scene_collection": scene.collection.objects.get("Rig") is not None}
with open(out + "/facts.json", "w") as fh:
    json.dump(facts, fh)
"""


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, run_bpy):
    out = tmp_path_factory.mktemp("keypoint_copies")
    run_bpy(SCRIPT, str(out), ",".join(KINDS + ("mesh_scatter",)), ",".join(HIDDEN), what="render rigged copies")
    return out


def _facts(rendered) -> dict:
    return json.loads((rendered / "facts.json").read_text())


def _record(folder) -> dict:
    return json.loads((folder / "records" / "000000.json").read_text())


def _match(points, candidates) -> int:
    """Index of the candidate keypoint list nearest ``points`` (max abs difference in x, y)."""
    gaps = [max(abs(a - b) for p, q in zip(points, c) for a, b in zip(p[:2], q[:2])) for c in candidates]
    return int(np.argmin(gaps))


@pytest.mark.parametrize("kind", KINDS)
def test_every_copy_carries_the_keypoints_of_its_real_twin(rendered, kind):
    truth = _facts(rendered)["truth"][kind]
    record = _record(rendered / kind)
    copies = [i for i in record["instances"] if i.get("instancer")]
    assert len(copies) == len(truth) >= 2
    assert record["categories"] == [{"name": "person", "keypoints": ["hip", "neck", "hand"],
                                     "skeleton": [[1, 2], [2, 3]]}]
    used = set()
    for inst in copies:
        k = _match(inst["keypoints"], truth)
        used.add(k)
        for got, want in zip(inst["keypoints"], truth[k]):
            assert got[:2] == pytest.approx(want[:2], abs=1e-3)
            assert got[2] == pytest.approx(want[2], abs=1e-4)
    assert len(used) == len(truth)  # one copy per real twin
    if kind == "linked":
        assert {i["object"] for i in copies} == {"Rig [rig_lib.blend]"}


def test_marks_reached_only_through_a_linked_collection_are_counted_and_linked_materials_warned(rendered):
    # the linked scene's only marked armature lives in a library collection an empty instances
    warnings = _facts(rendered)["warnings"]
    assert [w for w in warnings["linked"] if "no object marked" in w] == []
    # its skin's material is linked too: no instance-id AOV, said once; local scenes say nothing of it
    linked = [w for w in warnings["linked"] if "linked from a library" in w]
    assert len(linked) == 1 and "'RigSkin [rig_lib.blend]'" in linked[0], warnings["linked"]
    assert not any("linked from a library" in w for w in warnings["asset_library"])
    assert len(json.loads((rendered / "linked" / "annotations" / "instances.json").read_text())["annotations"]) > 0


@pytest.mark.parametrize("kind", KINDS)
def test_visibility_flags_equal_the_real_armatures(rendered, kind):
    copies = load_coco(rendered / kind / "annotations" / "instances.json")
    real = load_coco(rendered / f"{kind}_real" / "annotations" / "instances.json")
    ours = copies.loadAnns(copies.getAnnIds())
    theirs = real.loadAnns(real.getAnnIds())
    assert len(ours) == len(theirs) == len(_facts(rendered)["truth"][kind])
    flat = [[a["keypoints"][i:i + 3] for i in range(0, len(a["keypoints"]), 3)] for a in theirs]
    for ann in ours:
        points = [ann["keypoints"][i:i + 3] for i in range(0, len(ann["keypoints"]), 3)]
        twin = flat[_match(points, flat)]
        assert [p[2] for p in points] == [p[2] for p in twin]
        assert ann["num_keypoints"] == sum(p[2] > 0 for p in points) > 0
    sigmas = [0.05] * 3
    anns = [dict(a, score=1.0) for a in ours]
    assert evaluate(copies, anns, "keypoints", kpt_oks_sigmas=sigmas) == pytest.approx(1.0)


def test_flags_include_occluded_and_visible_keypoints(rendered):
    """The comparison above could fail: the scenes hide some keypoints (v = 1) and show others (v = 2)."""
    flags = set()
    for kind in KINDS:
        coco = load_coco(rendered / kind / "annotations" / "instances.json")
        for ann in coco.loadAnns(coco.getAnnIds()):
            flags.update(ann["keypoints"][2::3])
    assert {1, 2} <= flags


@pytest.mark.parametrize("how", HIDDEN[1:])
def test_armature_hidden_in_the_viewport_is_posed_at_the_rendered_frame(rendered, how):
    visible = _record(rendered / "hidden_visible")["instances"][0]["keypoints"]
    hidden = _record(rendered / f"hidden_{how}")["instances"][0]["keypoints"]
    facts = _facts(rendered)["hidden"][how]
    assert np.allclose(np.array(hidden, float), np.array(visible, float), atol=1e-6, rtol=0)
    # the pose of frame 7 is far from frame 3's: a stale pose would fail the line above
    assert max(abs(a - b) for p, q in zip(visible, facts["stale"]) for a, b in zip(p[:2], q[:2])) > 2.0
    assert facts["arm_hide_viewport"] is (how in ("armature_disabled", "all_disabled"))
    assert facts["in_scene_collection"] is False  # put back into its own collection only


def test_mesh_copied_without_its_armature_has_unlabelled_keypoints_and_one_warning(rendered):
    coco = load_coco(rendered / "mesh_scatter" / "annotations" / "instances.json")
    anns = coco.loadAnns(coco.getAnnIds())
    assert len(anns) == 2
    for ann in anns:
        assert ann["num_keypoints"] == 0 and ann["keypoints"] == [0] * 9
    warned = [w for w in _facts(rendered)["warnings"]["mesh_scatter"] if "keypoint armature" in w]
    assert len(warned) == 1 and "'Scatter'" in warned[0] and "'Rig'" in warned[0]
    assert not any("keypoint armature" in w for k in KINDS for w in _facts(rendered)["warnings"][k])


BINARY = r"""
import sys
sys.path[:0] = [sys.argv[-3], sys.argv[-3] + "/scenes"]
import bpy
import rigged_copies as rc
from blender_coco.blender import pipeline
from blender_coco.config import RenderConfig
out, python = sys.argv[-2], sys.argv[-1]
for kind in ("asset_library", "nested"):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    rc.build(scene, kind)
    pipeline.render_dataset(RenderConfig(out=f"{out}/{kind}", python=python), scene)
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
rc.build(scene, "hidden")
scene.frame_set(7)
bpy.data.objects["Rig"].hide_viewport = bpy.data.objects["RigSkin"].hide_viewport = True
bpy.context.evaluated_depsgraph_get()
scene.frame_set(rc.FRAME)
pipeline.render_dataset(RenderConfig(out=f"{out}/hidden", python=python), scene)
"""


def test_blender_34_binary_agrees_with_the_bpy_module(rendered, tmp_path, run, blender_binary):
    from shared_assets import REPO

    script = tmp_path / "render.py"
    script.write_text(BINARY)
    run([blender_binary, "-b", "--factory-startup", "--python-exit-code", "1", "-P", script, "--", REPO,
         tmp_path / "ds", sys.executable], "rigged copies in blender -b (3.4)")
    for kind in ("asset_library", "nested"):
        old = load_coco(tmp_path / "ds" / kind / "annotations" / "instances.json")
        new = load_coco(rendered / kind / "annotations" / "instances.json")
        ours = new.loadAnns(new.getAnnIds())
        theirs = old.loadAnns(old.getAnnIds())
        assert len(ours) == len(theirs) == len(_facts(rendered)["truth"][kind])
        flat = [[a["keypoints"][i:i + 3] for i in range(0, 9, 3)] for a in ours]
        for ann in theirs:
            points = [ann["keypoints"][i:i + 3] for i in range(0, 9, 3)]
            twin = flat[_match(points, flat)]
            assert np.allclose(points, twin, atol=0.011, rtol=0)  # COCO's two decimals; the same flags
    # an armature disabled in viewports, with its mesh: posed at the rendered frame in 3.4 too
    hidden = _record(tmp_path / "ds" / "hidden")["instances"][0]["keypoints"]
    visible = _record(rendered / "hidden_visible")["instances"][0]["keypoints"]
    assert np.allclose(np.array(hidden, float), np.array(visible, float), atol=1e-3, rtol=0)


CESIUM = r"""
import json, math, sys
import bpy
from bpy_extras.object_utils import world_to_camera_view
from blender_coco.blender import pipeline
from blender_coco.config import RenderConfig

path, out = sys.argv[1], sys.argv[2]
KEYPOINTS = [["root", "Node_2", "head"], ["a", "Node_12", "tail"], ["b", "Node_4", "tail"], ["c", "Node_8", "tail"]]


def build():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    lib = bpy.data.collections.new("Lib")
    scene.collection.children.link(lib)
    bpy.context.view_layer.active_layer_collection = bpy.context.view_layer.layer_collection.children["Lib"]
    bpy.ops.import_scene.gltf(filepath=path)
    for obj in list(scene.objects):
        if obj.type == "MESH" and obj.parent is None:  # the importer's bone-shape icosphere
            bpy.data.objects.remove(obj)
    arm = next(o for o in lib.all_objects if o.type == "ARMATURE")
    arm["coco_category"] = "person"
    arm["coco_keypoints"] = json.dumps(KEYPOINTS)
    bpy.context.view_layer.layer_collection.children["Lib"].exclude = True
    for i, (x, angle) in enumerate(((-0.7, 0.0), (0.7, 1.2))):
        empty = bpy.data.objects.new(f"Copy{i}", None)
        empty.instance_type, empty.instance_collection = "COLLECTION", lib
        empty.location, empty.rotation_euler = (x, 0.0, 0.0), (0.0, 0.0, angle)
        scene.collection.objects.link(empty)
    cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    cam.location, cam.rotation_euler = (0.0, -4.0, 0.8), (math.pi / 2, 0.0, 0.0)
    scene.collection.objects.link(cam)
    scene.camera = cam
    r = scene.render
    r.engine, r.resolution_x, r.resolution_y = "CYCLES", 64, 48
    scene.cycles.samples, scene.cycles.use_denoising = 2, False
    scene.frame_start = scene.frame_end = 20  # mid-stride
    scene.frame_set(20)
    return scene, arm


scene, arm = build()
pipeline.render_dataset(RenderConfig(out=out + "/copies"), scene)

# the truth: Blender's own Make Instances Real, the copies' actions given back, projected by bpy_extras
scene, arm = build()
empties = [scene.objects["Copy0"], scene.objects["Copy1"]]
for empty in empties:
    empty.select_set(True)
bpy.context.view_layer.objects.active = empties[0]
with bpy.context.temp_override(selected_objects=empties, active_object=empties[0]):
    bpy.ops.object.duplicates_make_real(use_base_parent=False, use_hierarchy=True)
reals = [o for o in scene.objects if o.type == "ARMATURE" and o != arm]
assert len(reals) == 2, reals
for real in reals:
    real.animation_data_create()
    real.animation_data.action = arm.animation_data.action
    if getattr(arm.animation_data, "action_slot", None) is not None:
        real.animation_data.action_slot = arm.animation_data.action_slot
for empty in empties:
    bpy.data.objects.remove(empty)
scene.frame_set(20)
depsgraph = bpy.context.evaluated_depsgraph_get()
truth = []
for real in reals:
    ev = real.evaluated_get(depsgraph)
    points = []
    for _, bone, end in KEYPOINTS:
        co = world_to_camera_view(scene, scene.camera, ev.matrix_world @ getattr(ev.pose.bones[bone], end))
        points.append([co.x * 64, (1.0 - co.y) * 48, co.z])
    truth.append(points)
pipeline.render_dataset(RenderConfig(out=out + "/real"), scene)
with open(out + "/truth.json", "w") as fh:
    json.dump(truth, fh)
"""


def test_real_rigged_model_copies_match_make_instances_real(tmp_path, run_bpy, assets):
    """CesiumMan (Khronos sample, CC-BY 4.0, skinned and animated) in an excluded library collection,
    instanced twice: each copy's keypoints are those of Blender's own Make Instances Real twin."""
    run_bpy(CESIUM, str(assets / "models" / "CesiumMan.glb"), str(tmp_path), what="CesiumMan copies")
    truth = json.loads((tmp_path / "truth.json").read_text())
    record = _record(tmp_path / "copies")
    copies = [i for i in record["instances"] if i.get("instancer")]
    assert len(copies) == len(truth) == 2
    assert {_match(i["keypoints"], truth) for i in copies} == {0, 1}
    for inst in copies:
        want = truth[_match(inst["keypoints"], truth)]
        assert np.allclose(np.array(inst["keypoints"], float), np.array(want, float), atol=1e-3, rtol=0)
    ours = load_coco(tmp_path / "copies" / "annotations" / "instances.json")
    real = load_coco(tmp_path / "real" / "annotations" / "instances.json")
    theirs = real.loadAnns(real.getAnnIds())
    flat = [[a["keypoints"][i:i + 3] for i in range(0, 12, 3)] for a in theirs]
    anns = ours.loadAnns(ours.getAnnIds())
    assert len(anns) == len(theirs) == 2
    for ann in anns:
        points = [ann["keypoints"][i:i + 3] for i in range(0, 12, 3)]
        assert [p[2] for p in points] == [p[2] for p in flat[_match(points, flat)]]

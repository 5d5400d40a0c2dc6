"""A marked armature with ``coco_keypoints`` through the whole render stage.

Real third-party rig: RiggedSimple.glb (a cylinder skinned to bones ``Bone`` and
``Bone.001``, Khronos sample, CC-BY 4.0). An orthographic camera looks along +Y with
``ortho_scale`` 16 over 96x72 pixels, so a world point (X, Y, Z) lands at the
continuous pixel ((X + 8) / 16 * 96, (6 - Z) / 12 * 72) with depth 20 - Y: the
sidecar must carry exactly that, the category its keypoints and skeleton, and the
exported annotation COCO keypoints (continuous - 0.5) that COCOeval scores 1.0.
"""

from __future__ import annotations

import json

import pytest
from cocotools import load_coco, self_eval

SCRIPT = r"""
import math, sys
import bpy
from blender_coco.blender import marking, pipeline
from blender_coco.config import RenderConfig

bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
bpy.ops.import_scene.gltf(filepath=sys.argv[1])
for obj in list(scene.objects):
    if obj.type == "MESH" and obj.parent is None:  # the importer's bone-shape icosphere
        bpy.data.objects.remove(obj)
arm = next(o for o in scene.objects if o.type == "ARMATURE")
marking.mark(arm, "tube")
arm["coco_keypoints"] = '[["base", "Bone"], ["mid", "Bone.001"]]'
cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
cam.data.type = "ORTHO"; cam.data.ortho_scale = 16.0
cam.location = (0.0, -20.0, 0.0); cam.rotation_euler = (math.pi / 2, 0.0, 0.0)
scene.collection.objects.link(cam); scene.camera = cam
scene.render.resolution_x, scene.render.resolution_y = 96, 72
scene.cycles.samples = 1
scene.frame_start = scene.frame_end = 1
scene.frame_set(1)
heads = {b.name: list(arm.matrix_world @ b.head) for b in arm.pose.bones}  # posed at frame 1 (glTF animation)
with open(sys.argv[2] + "/heads.json", "w") as fh:
    fh.write(__import__("json").dumps(heads))
pipeline.render_dataset(RenderConfig(out=sys.argv[2]), scene)
"""


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, run_bpy, assets):
    out = tmp_path_factory.mktemp("keypoints")
    run_bpy(SCRIPT, str(assets / "models" / "RiggedSimple.glb"), str(out), what="render a rigged glTF")
    return out


def _expected(head):
    x, y, z = head
    return [(x + 8.0) / 16.0 * 96, (6.0 - z) / 12.0 * 72, 20.0 - y]


def test_sidecar_carries_projected_keypoints_and_the_category_definition(dataset):
    record = json.loads((dataset / "records" / "000000.json").read_text())
    heads = json.loads((dataset / "heads.json").read_text())
    assert record["categories"] == [{"name": "tube", "keypoints": ["base", "mid"], "skeleton": [[1, 2]]}]
    (inst,) = record["instances"]
    assert inst["category"] == "tube" and inst["object"] == "Armature"
    for got, bone in zip(inst["keypoints"], ("Bone", "Bone.001")):
        assert got == pytest.approx(_expected(heads[bone]), abs=1e-3)


def test_exported_annotation_has_coco_keypoints_and_evaluates_perfectly(dataset):
    record = json.loads((dataset / "records" / "000000.json").read_text())
    coco = load_coco(dataset / "annotations" / "instances.json")
    (ann,) = coco.dataset["annotations"]
    assert coco.dataset["categories"][0]["keypoints"] == ["base", "mid"]
    assert ann["num_keypoints"] == 2
    for k, (x, y, _) in enumerate(record["instances"][0]["keypoints"]):
        assert ann["keypoints"][3 * k:3 * k + 2] == pytest.approx([x - 0.5, y - 0.5], abs=0.01)
        assert ann["keypoints"][3 * k + 2] in (1, 2)  # inside the frame; inside its own mesh may be v = 1
    bx, by, bw, bh = ann["bbox"]
    assert bx <= ann["keypoints"][0] <= bx + bw and by <= ann["keypoints"][1] <= by + bh
    assert self_eval(coco.dataset, "keypoints", kpt_oks_sigmas=[0.05, 0.05]) == pytest.approx(1.0)  # not COCO's 17


def test_person_keypoints_json_of_a_keypoints_only_scene_equals_instances_json(dataset):
    """Every category has keypoints: COCO's keypoint file then holds exactly what instances.json does."""
    inst = json.loads((dataset / "annotations" / "instances.json").read_text())
    kp = json.loads((dataset / "annotations" / "person_keypoints.json").read_text())
    assert kp == inst and kp["annotations"][0]["num_keypoints"] == 2

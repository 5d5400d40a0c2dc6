"""Keypoints end to end: a posed Rigify metarig with a simple mesh body, marked "person" with the
"coco17" preset, rendered through blender_coco.blender.pipeline.render_dataset (96x72, 2 samples,
2 animated frames) and exported: pycocotools loads it and COCOeval(keypoints) of GT vs itself is 1.0."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cocotools import decode, import_datumaro, load_coco, self_eval

from blender_coco.keypoint_presets import COCO17_NAMES, COCO17_SKELETON

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.blender,
    pytest.mark.skipif(importlib.util.find_spec("bpy") is None, reason="bpy (Blender as a Python module) not installed"),
]

SCRIPT = r'''
import math, sys
import bpy
import addon_utils
from mathutils import Matrix, Vector
from blender_coco.blender import pipeline
from blender_coco.config import RenderConfig

out = sys.argv[1]
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
addon_utils.enable("rigify", default_set=True)
bpy.ops.object.armature_human_metarig_add()
arm = bpy.context.object
bpy.ops.object.mode_set(mode="OBJECT")
bpy.context.view_layer.update()

def limb(bone_name, radius, start=None, end=None):
    """A cylinder along the bone (rest pose), parented to the bone with its rest placement kept."""
    bone = arm.data.bones[bone_name]
    a = arm.matrix_world @ (Vector(start) if start else bone.head_local)
    b = arm.matrix_world @ (Vector(end) if end else bone.tail_local)
    d = b - a
    bpy.ops.mesh.primitive_cylinder_add(radius=radius, depth=d.length, vertices=12, location=(a + b) / 2,
                                        rotation=d.to_track_quat("Z", "Y").to_euler())
    obj = bpy.context.object
    obj.parent, obj.parent_type, obj.parent_bone = arm, "BONE", bone_name
    obj.matrix_parent_inverse = (arm.matrix_world @ bone.matrix_local @ Matrix.Translation((0, bone.length, 0))).inverted()
    return obj

limb("spine.001", 0.16, (0, 0.02, 0.95), (0, 0.02, 1.62))        # torso
limb("spine.004", 0.05)                                          # neck
bpy.ops.mesh.primitive_uv_sphere_add(radius=0.12, location=(0, -0.04, 1.87), segments=16, ring_count=8)
head = bpy.context.object
bone = arm.data.bones["spine.006"]
head.parent, head.parent_type, head.parent_bone = arm, "BONE", "spine.006"
head.matrix_parent_inverse = (arm.matrix_world @ bone.matrix_local @ Matrix.Translation((0, bone.length, 0))).inverted()
for side in "LR":
    for name, r in (("upper_arm", 0.055), ("forearm", 0.045), ("hand", 0.04), ("thigh", 0.08), ("shin", 0.06),
                    ("foot", 0.045)):
        limb(f"{name}.{side}", r)

arm["coco_category"] = "person"
arm["coco_keypoints"] = "coco17"
# a marked box in front of the left knee: another instance occludes it (v=1)
knee = arm.matrix_world @ arm.data.bones["shin.L"].head_local
bpy.ops.mesh.primitive_cube_add(size=0.22, location=(knee.x, knee.y - 0.6, knee.z))
bpy.context.object["coco_category"] = "box"

# two frames, two poses of the left arm
scene.frame_start, scene.frame_end = 1, 2
ua = arm.pose.bones["upper_arm.L"]
ua.rotation_mode = "XYZ"
for frame, angle in ((1, 0.0), (2, -1.0)):
    ua.rotation_euler = (0.0, 0.0, angle)
    ua.keyframe_insert("rotation_euler", frame=frame)
arm.pose.bones["thigh.R"].rotation_mode = "XYZ"
arm.pose.bones["thigh.R"].rotation_euler = (-0.4, 0.0, 0.0)

cam_data = bpy.data.cameras.new("Camera")
cam = bpy.data.objects.new("Camera", cam_data)
scene.collection.objects.link(cam)
scene.camera = cam
cam.location = (0.0, -5.0, 1.0)
cam.rotation_euler = (math.pi / 2, 0.0, 0.0)
cam_data.lens = 35.0
scene.render.resolution_percentage = 100
pipeline.render_dataset(RenderConfig(out=out, frames=2, resolution=(96, 72), samples=2), scene)
'''


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("kp_e2e") / "ds"
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(out)], capture_output=True, text=True, cwd=ROOT,
                       timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr[-4000:]
    return out


def test_person_category_annotations_and_self_evaluation(dataset):
    path = dataset / "annotations" / "instances.json"
    coco = load_coco(path)
    person = next(c for c in coco.dataset["categories"] if c["name"] == "person")
    assert person["keypoints"] == list(COCO17_NAMES)
    assert person["skeleton"] == [list(p) for p in COCO17_SKELETON]
    box = next(c for c in coco.dataset["categories"] if c["name"] == "box")
    assert "keypoints" not in box or not box["keypoints"]
    anns = coco.loadAnns(coco.getAnnIds(catIds=[person["id"]]))
    assert len(anns) == 2 and len(coco.dataset["images"]) == 2
    for ann in anns:
        kps = ann["keypoints"]
        assert len(kps) == 51
        vis = kps[2::3]
        assert ann["num_keypoints"] == sum(v > 0 for v in vis) == 17  # the whole person is in frame
        assert vis[COCO17_NAMES.index("left_knee")] == 1                # behind the box
        assert vis[COCO17_NAMES.index("right_knee")] == 2
        assert sum(v == 2 for v in vis) >= 14
        img = coco.imgs[ann["image_id"]]
        mask = decode(ann["segmentation"], img["height"], img["width"])
        on_body = sum(bool(mask[int(round(y)), int(round(x))]) for x, y, v in zip(kps[0::3], kps[1::3], vis) if v == 2)
        assert on_body >= 12  # visible joints lie on the person's own pixels (the nose tip may stick out)
    assert self_eval(coco.dataset, "keypoints", cat_ids=[person["id"]]) == pytest.approx(1.0)
    # the animated arm moved the left wrist between the frames; the right one stayed
    a, b = (np.array(ann["keypoints"], float).reshape(17, 3) for ann in sorted(anns, key=lambda a: a["image_id"]))
    lw, rw = COCO17_NAMES.index("left_wrist"), COCO17_NAMES.index("right_wrist")
    assert np.abs(a[lw, :2] - b[lw, :2]).max() > 3 and np.abs(a[rw, :2] - b[rw, :2]).max() < 0.01


def test_annotation_keypoints_are_the_record_points_minus_half_a_pixel(dataset):
    coco = load_coco(dataset / "annotations" / "instances.json")
    person_id = next(c["id"] for c in coco.dataset["categories"] if c["name"] == "person")
    for sidecar in sorted((dataset / "records").glob("*.json")):
        rec = json.loads(sidecar.read_text())
        inst = next(i for i in rec["instances"] if i["category"] == "person")
        assert len(inst["keypoints"]) == 17 and all(d is not None and d > 0 for _, _, d in inst["keypoints"])
        cat = next(c for c in rec["categories"] if c["name"] == "person")
        assert cat["keypoints"] == list(COCO17_NAMES)
        ann = next(a for a in coco.loadAnns(coco.getAnnIds(imgIds=[rec["index"] + 1], catIds=[person_id])))
        for (x, y, _), (ax, ay) in zip(inst["keypoints"], zip(ann["keypoints"][0::3], ann["keypoints"][1::3])):
            assert (ax, ay) == (round(x - 0.5, 2), round(y - 0.5, 2))


def test_person_keypoints_json_is_cocos_keypoint_file(dataset):
    """person_keypoints.json holds the keypoint category and its annotations only, with
    instances.json's ids, images, info and licenses; instances.json stays complete."""
    inst = json.loads((dataset / "annotations" / "instances.json").read_text())
    kp = json.loads((dataset / "annotations" / "person_keypoints.json").read_text())
    person = next(c for c in inst["categories"] if c["name"] == "person")
    assert kp["categories"] == [person]
    assert kp["annotations"] == [a for a in inst["annotations"] if a["category_id"] == person["id"]]
    assert len(kp["annotations"]) == 2 and all("num_keypoints" in a for a in kp["annotations"])
    assert {c["name"] for c in inst["categories"]} == {"person", "box"}
    assert any(a["category_id"] != person["id"] for a in inst["annotations"])  # the box stays in instances.json
    assert (kp["images"], kp["info"], kp["licenses"]) == (inst["images"], inst["info"], inst["licenses"])


def _keypoint_eval_without_cat_ids(path: Path) -> float:
    """COCOeval(iouType="keypoints") of the file against itself, as COCO's own examples run it:
    no params.catIds."""
    import contextlib
    import io

    from pycocotools.cocoeval import COCOeval

    gt = load_coco(path)
    dets = [{"image_id": a["image_id"], "category_id": a["category_id"], "keypoints": a["keypoints"],
             "bbox": a["bbox"], "score": 1.0} for a in gt.dataset["annotations"]]
    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(gt, gt.loadRes(dets), "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0])


def test_keypoint_cocoeval_runs_on_person_keypoints_json_without_cat_ids(dataset):
    assert _keypoint_eval_without_cat_ids(dataset / "annotations" / "person_keypoints.json") == pytest.approx(1.0)
    with pytest.raises(KeyError):  # why the file exists: the box annotation has no num_keypoints
        _keypoint_eval_without_cat_ids(dataset / "annotations" / "instances.json")


def test_datumaro_imports_person_keypoints_json(dataset):
    datumaro = import_datumaro()
    path = dataset / "annotations" / "person_keypoints.json"
    kp = json.loads(path.read_text())
    imported = datumaro.Dataset.import_from(str(path), "coco_person_keypoints")
    assert len(imported) == len(kp["images"]) == 2
    labels = imported.categories()[datumaro.AnnotationType.label]
    assert [c.name for c in labels.items] == ["person"]
    by_id = {a["id"]: a for a in kp["annotations"]}
    for item in imported:
        (points,) = [a for a in item.annotations if a.type == datumaro.AnnotationType.points]
        ann = by_id[points.id]
        assert np.allclose(points.points, [v for k, v in enumerate(ann["keypoints"]) if k % 3 != 2], atol=1e-3)
        assert [int(v) for v in points.visibility] == ann["keypoints"][2::3]

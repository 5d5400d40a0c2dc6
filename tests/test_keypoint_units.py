"""``--keypoint-tolerance`` is in metres whatever the scene's unit scale (issue 10, item 4).

The same scene is built twice with bpy: in metres (unit scale 1) and in centimetres
(unit scale 0.01, every length x100, as a glTF imported in cm is). A marked armature
owns a slab 0.5 m deep; its joints sit 0.05 m under the slab's front face (visible
with the default 0.15 m tolerance), 0.30 m under it (occluded by its own body), in
front of it (visible) and outside the picture (v = 0). Both scenes are rendered by the
real pipeline and exported: the answers are known from the geometry, and the two
scenes must give the same keypoints. The sidecar records each scene's unit scale.
"""

from __future__ import annotations

import json

import pytest
from cocotools import load_coco

SCRIPT = r'''
import json, math, sys
from pathlib import Path
import bpy
from blender_coco.blender import pipeline
from blender_coco.config import RenderConfig

out = Path(sys.argv[1])
for name, s, unit in (("metres", 1.0, 1.0), ("centimetres", 100.0, 0.01)):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.unit_settings.system = "METRIC"
    scene.unit_settings.scale_length = unit
    scene.render.resolution_x, scene.render.resolution_y = 64, 48
    scene.cycles.samples = 1
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    cam.location = (0, -5 * s, 0); cam.rotation_euler = (math.pi / 2, 0, 0)
    cam.data.clip_start, cam.data.clip_end = 0.1 * s, 100 * s
    scene.collection.objects.link(cam); scene.camera = cam
    arm = bpy.data.objects.new("Body", bpy.data.armatures.new("Body"))
    scene.collection.objects.link(arm)
    bpy.context.view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="EDIT")
    heads = [(-0.5, 0.05, 0.0), (0.5, 0.30, 0.0), (0.0, -0.2, 0.2), (100.0, 0.0, 0.0)]
    for i, (x, y, z) in enumerate(heads):
        bone = arm.data.edit_bones.new(f"b{i}")
        bone.head = (x * s, y * s, z * s)
        bone.tail = (x * s, y * s, (z + 0.1) * s)
    bpy.ops.object.mode_set(mode="OBJECT")
    arm["coco_category"] = "body"
    arm["coco_keypoints"] = json.dumps([[f"k{i}", f"b{i}"] for i in range(len(heads))])
    # the slab: x -1..1, y 0..0.5 (front face at y = 0, facing the camera), z -0.5..0.5
    me = bpy.data.meshes.new("Slab")
    v = [(x * s, y * s, z * s) for x in (-1, 1) for y in (0, 0.5) for z in (-0.5, 0.5)]
    me.from_pydata(v, [], [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)])
    slab = bpy.data.objects.new("Slab", me)
    scene.collection.objects.link(slab)
    slab.parent = arm
    pipeline.render_dataset(RenderConfig(out=str(out / name), frames=1, samples=1), scene)
'''


@pytest.fixture(scope="module")
def scenes(tmp_path_factory, run_bpy):
    out = tmp_path_factory.mktemp("units")
    run_bpy(SCRIPT, str(out), what="metre and centimetre scenes")
    res = {}
    for name in ("metres", "centimetres"):
        coco = load_coco(out / name / "annotations" / "instances.json")
        (ann,) = coco.dataset["annotations"]
        sidecar = json.loads((out / name / "records" / "000000.json").read_text())
        res[name] = (ann["keypoints"], sidecar)
    return res


def test_the_centimetre_scene_gives_the_visibility_of_the_metre_scene(scenes):
    metres, _ = scenes["metres"]
    centimetres, _ = scenes["centimetres"]
    assert metres[2::3] == [2, 1, 2, 0]  # 5 cm under the skin, 30 cm under it, in front, outside the picture
    assert centimetres[2::3] == metres[2::3]
    assert centimetres == pytest.approx(metres, abs=0.02)  # the same pixels too


def test_the_sidecar_records_the_unit_scale(scenes):
    assert scenes["metres"][1]["unit_scale"] == 1.0
    assert scenes["centimetres"][1]["unit_scale"] == pytest.approx(0.01)

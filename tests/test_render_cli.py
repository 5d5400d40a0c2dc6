"""``blender-coco render`` end to end (the bpy module), and its one-line errors.

Without SCENE the command builds the demo scene (blender_coco.blender.demo_scene);
as built (``--no-randomize``): five categories, a moving ball, a fence split by a
post, a five-mesh table under one empty, a box cut by the frame border.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from cocotools import load_coco, self_eval
from PIL import Image

CLI = [sys.executable, "-m", "blender_coco"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory, run):
    out = tmp_path_factory.mktemp("cli") / "ds"
    run(CLI + ["render", "--out", out, "--resolution", "128x96", "--resolution-percentage", "75",
               "--samples", "1", "--frames", "3", "--no-randomize"], "blender-coco render (demo scene as built)")
    return out


def _one_error_line(proc) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1, proc.stderr
    return errors[0]


def test_demo_scene_renders_to_a_dataset_pycocotools_loads(demo):
    coco = load_coco(demo / "annotations" / "instances.json")
    assert [c["name"] for c in coco.dataset["categories"]] == ["ball", "box", "cone", "fence", "table"]
    assert [(i["file_name"], i["width"], i["height"]) for i in coco.dataset["images"]] == [
        (f"{i:06d}.png", 96, 72) for i in range(3)]  # 128x96 at 75 %
    for image in coco.dataset["images"]:
        with Image.open(demo / "images" / image["file_name"]) as im:
            assert im.size == (96, 72)
        names = sorted(coco.cats[a["category_id"]]["name"] for a in coco.imgToAnns[image["id"]])
        assert names == ["ball", "ball", "box", "box", "cone", "fence", "table"]
    assert self_eval(demo / "annotations" / "instances.json", "bbox") == 1.0
    assert self_eval(demo / "annotations" / "instances.json", "segm") == 1.0


def test_demo_covers_clipping_split_and_multi_mesh_instances(demo):
    coco = load_coco(demo / "annotations" / "instances.json")
    record = json.loads((demo / "records" / "000000.json").read_text())
    label = {i["object"]: i["pass_index"] for i in record["instances"]}
    anns = coco.imgToAnns[1]  # annotations follow pass index order
    by_object = dict(zip(sorted(label, key=label.get), anns))
    x, y, w, h = by_object["Box.002"]["bbox"]
    assert x + w == 96  # cut by the right border
    assert len(by_object["Fence"]["segmentation"]) >= 2  # split in parts by the unmarked post
    assert sum(1 for a in anns if coco.cats[a["category_id"]]["name"] == "table") == 1  # five meshes, one instance


def test_frames_play_the_animation(demo):
    coco = load_coco(demo / "annotations" / "instances.json")
    records = [json.loads((demo / "records" / f"{i:06d}.json").read_text()) for i in range(3)]
    assert [r["scene_frame"] for r in records] == [1, 2, 3]
    ball = [a["bbox"] for a in coco.dataset["annotations"] if a["category_id"] == 1 and a["area"] > 50]
    assert len(ball) == 3 and ball[0][0] < ball[1][0] < ball[2][0]  # the ball rolls to the right


def test_scene_without_camera_is_one_line_error(tmp_path, run, run_bpy):
    blend = tmp_path / "nocam.blend"
    run_bpy("import sys, bpy; bpy.ops.wm.read_factory_settings(use_empty=True); "
            "bpy.ops.wm.save_as_mainfile(filepath=sys.argv[1])", str(blend), what="saving a scene without camera")
    proc = run(CLI + ["render", blend, "--out", tmp_path / "ds"], "render without camera", ok=False)
    assert _one_error_line(proc) == "blender-coco: error: scene 'Scene' has no camera; add one or set scene.camera"
    assert proc.returncode == 2


def test_unwritable_out_is_one_line_error(tmp_path, run):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    proc = run(CLI + ["render", "--out", blocker / "ds", "--resolution", "32x24"], "render to a bad --out", ok=False)
    line = _one_error_line(proc)
    assert str(blocker / "ds") in line and "--out" in line


def test_missing_scene_file_and_bad_resolution_are_one_line_errors(tmp_path, run):
    proc = run(CLI + ["render", tmp_path / "nope.blend", "--out", tmp_path / "ds"], "missing scene", ok=False)
    assert "nope.blend does not exist" in _one_error_line(proc)
    proc = run(CLI + ["render", "--out", tmp_path / "ds", "--resolution", "640by480"], "bad resolution", ok=False)
    assert "resolution must look like 640x480" in _one_error_line(proc)


def test_without_the_bpy_module_render_says_what_to_install(tmp_path, run):
    code = ("import sys; sys.modules['bpy'] = None; from blender_coco.cli import main; "
            "sys.exit(main(['render', '--out', sys.argv[1]]))")
    proc = run([sys.executable, "-c", code, tmp_path / "ds"], "render without bpy", ok=False)
    line = _one_error_line(proc)
    assert "pip install 'blender-coco[bpy]'" in line and "scripts/render_coco.py" in line


def test_rgb_image_is_color_managed_exactly_like_blenders_own_render(tmp_path, run_bpy):
    code = r"""
import sys
import bpy
from blender_coco.blender import demo_scene, pipeline
from blender_coco.config import RenderConfig
scene = demo_scene.new_scene()
r = scene.render
r.resolution_x, r.resolution_y, scene.cycles.samples = 64, 48, 2
scene.view_settings.exposure = 1.5      # a non-default look: the saved image must follow the scene
r.image_settings.color_mode = "RGB"
r.filepath = sys.argv[1] + "/bare.png"
bpy.ops.render.render(write_still=True)
pipeline.render_dataset(RenderConfig(out=sys.argv[1] + "/ds", randomize="off"), scene)  # the demo's own randomization off
"""
    run_bpy(code, str(tmp_path), what="bare render vs pipeline")
    bare = np.asarray(Image.open(tmp_path / "bare.png"))
    ours = np.asarray(Image.open(tmp_path / "ds" / "images" / "000000.png"))
    assert ours.shape == (48, 64, 3)
    assert np.array_equal(ours, bare)
    assert ours.mean() > 100  # exposure +1.5 applied, not a dark linear dump

"""Render stage on a scene whose answer is known exactly (scenes/analytic.py).

One bpy-module process builds the scene, renders it through ``render_dataset`` and
exports RLE; the tests then judge the dataset with pycocotools and the EXR passes
with OpenEXR, against masks computed from the rectangles' coordinates alone:
occlusion, border clipping, a two-mesh instance under an empty, a marked child on
a marked parent, hidden and fully occluded objects. The same process records the
scene's settings before and after the run: the run must leave the scene as it was.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import OpenEXR
import pytest
from cocotools import decode, load_coco, self_eval
from PIL import Image

_spec = importlib.util.spec_from_file_location(
    "scene_analytic", Path(__file__).resolve().parents[1] / "scenes" / "analytic.py")
analytic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(analytic)

SCRIPT = r"""
import json, sys
import bpy
import analytic
from blender_coco.blender import pipeline
from blender_coco.config import ExportConfig, RenderConfig

out = sys.argv[1]
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
analytic.build(scene)
scene.render.engine = "BLENDER_WORKBENCH"           # the run must switch to Cycles and back
bpy.data.objects["blocker"].pass_index = 42          # ... and give pass indices back
bpy.data.objects["tile_a"].pass_index = 7

def settings():
    r, layer, ims = scene.render, bpy.context.view_layer, scene.render.image_settings
    return {
        "engine": r.engine, "samples": scene.cycles.samples, "res": [r.resolution_x, r.resolution_y],
        "index_pass": layer.use_pass_object_index, "z_pass": layer.use_pass_z, "frame": scene.frame_current,
        "format": [ims.file_format, ims.color_mode, ims.color_depth], "denoise": scene.cycles.use_denoising,
        "pass_index": {o.name: o.pass_index for o in scene.objects},
        "props": {o.name: sorted(o.keys()) for o in scene.objects},
    }

before = settings()
path = pipeline.render_dataset(RenderConfig(out=out, export=ExportConfig(segmentation="rle")), scene)
json.dump({"before": before, "after": settings(), "path": str(path.files["instances"]),
           "filepath": bpy.data.filepath}, open(out + "/state.json", "w"))
"""


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, run_bpy):
    out = tmp_path_factory.mktemp("analytic") / "ds"
    out.mkdir()
    run_bpy(SCRIPT, str(out), what="analytic render")
    return out


@pytest.fixture(scope="module")
def coco(dataset):
    return load_coco(dataset / "annotations" / "instances.json")


@pytest.fixture(scope="module")
def sidecar(dataset):
    return json.loads((dataset / "records" / "000000.json").read_text())


def _annotations_by_object(coco, sidecar):
    """Annotations keyed by the marked object they come from (matched through the exact mask)."""
    expected = analytic.expected_masks()
    out = {}
    for ann in coco.dataset["annotations"]:
        mask = decode(ann["segmentation"], analytic.HEIGHT, analytic.WIDTH)
        names = [n for n, m in expected.items() if m.any() and np.array_equal(m, mask)]
        assert len(names) == 1, f"annotation {ann['id']} ({ann['bbox']}) matches no analytic mask exactly"
        out[names[0]] = ann
    return out


def test_every_visible_instance_has_its_exact_mask_box_and_area(coco, sidecar):
    expected = analytic.expected_masks()
    anns = _annotations_by_object(coco, sidecar)
    visible = {n for n, m in expected.items() if m.any()}
    assert set(anns) == visible
    for name, ann in anns.items():
        rows, cols = np.nonzero(expected[name])
        assert ann["bbox"] == [cols.min(), rows.min(), cols.max() - cols.min() + 1, rows.max() - rows.min() + 1], name
        assert ann["area"] == int(expected[name].sum()), name
        assert coco.cats[ann["category_id"]]["name"] == analytic.RECTS[name][0]
        assert ann["iscrowd"] == 0


def test_hand_computed_boxes_for_the_hard_cases(coco, sidecar):
    anns = _annotations_by_object(coco, sidecar)
    # 0.1 world units per pixel; x = -4.8 is column 0, y = 3.6 is row 0
    assert anns["tile_a"]["bbox"] == [8, 6, 20, 20] and anns["tile_a"]["area"] == 400
    assert anns["tile_b"]["bbox"] == [38, 6, 20, 20] and anns["tile_b"]["area"] == 400 - 100  # blocker covers 10x10
    assert anns["edge_right"]["bbox"] == [88, 26, 8, 20] and anns["edge_right"]["area"] == 160  # cut at x = 4.8
    assert anns["edge_top"]["bbox"] == [2, 0, 4, 11] and anns["edge_top"]["area"] == 44  # cut at y = 3.6
    assert anns["pair"]["bbox"] == [8, 56, 25, 10] and anns["pair"]["area"] == 200  # two meshes, one annotation
    assert anns["rail"]["bbox"] == [38, 61, 40, 5] and anns["rail"]["area"] == 200 - 25  # split by the post
    assert anns["tray.cup"]["bbox"] == [13, 43, 10, 6] and anns["tray.cup"]["area"] == 60
    assert anns["tray"]["bbox"] == [8, 41, 30, 10] and anns["tray"]["area"] == 250 - 60 + 20  # minus cup, plus handle


def test_hidden_and_fully_occluded_objects_get_no_annotation(coco, sidecar):
    listed = {i["object"] for i in sidecar["instances"]}
    assert not listed & {"ghost", "ghost_hidden", "ghost_excluded"}  # hidden from render: not annotated
    assert "buried" in listed  # rendered but covered by the blocker: zero pixels
    assert len(coco.dataset["annotations"]) == len(listed) - 1
    assert {c["name"] for c in coco.dataset["categories"]} == {"tile", "edge", "pair", "rail", "tray", "cup"}


def test_sidecar_follows_the_record_contract(dataset, sidecar):
    marked = sorted(n for n, v in analytic.RECTS.items() if v[0] is not None)
    expected_index = {n: i for i, n in enumerate(marked, start=1)}  # all marked objects, hidden ones too
    assert {i["object"]: i["pass_index"] for i in sidecar["instances"]} == {
        i["object"]: expected_index[i["object"]] for i in sidecar["instances"]}
    assert sidecar["format"] == "blender-coco-record" and sidecar["version"] == 1
    assert (sidecar["index"], sidecar["scene_frame"], sidecar["seed"]) == (0, 1, 0)
    assert (sidecar["width"], sidecar["height"]) == (analytic.WIDTH, analytic.HEIGHT)
    assert sidecar["image"] == "000000.png" and sidecar["passes"] == "000000.exr"
    assert sidecar["camera"]["name"] == "Camera" and sidecar["camera"]["type"] == "ORTHO"
    assert sidecar["camera"]["matrix_world"][2][3] == pytest.approx(10.0)
    assert [c["name"] for c in sidecar["categories"]] == sorted(c["name"] for c in sidecar["categories"])
    assert {"name": "tile", "supercategory": "shape"} in sidecar["categories"]
    assert not list(dataset.rglob("*.tmp")), "temp files left behind"


def test_exr_index_and_depth_passes_read_back(dataset, sidecar):
    exr = OpenEXR.File(str(dataset / "records" / "000000.exr"), separate_channels=True)
    channels = {name: ch.pixels for part in exr.parts for name, ch in part.channels.items()}
    index = next(v for k, v in channels.items() if k.endswith((".IndexOB.X", ".Object Index.X")))
    depth = next(v for k, v in channels.items() if k.endswith(".Depth.Z"))
    assert index.dtype == np.float32 and index.shape == (analytic.HEIGHT, analytic.WIDTH)
    by_name = {i["object"]: i["pass_index"] for i in sidecar["instances"]}
    want = np.zeros(index.shape, np.int64)
    for name, mask in analytic.expected_masks().items():
        want[mask] = by_name.get(name, 0)
    assert np.array_equal(index.astype(np.int64), want)  # rows top to bottom, unmarked objects 0
    tile_a = analytic.expected_masks()["tile_a"]
    assert np.allclose(depth[tile_a], 10.0)  # camera at z = 10, tile at z = 0


def test_rgb_image_is_an_rgb_png_of_the_render_size(dataset):
    with Image.open(dataset / "images" / "000000.png") as im:
        assert (im.format, im.mode, im.size) == ("PNG", "RGB", (analytic.WIDTH, analytic.HEIGHT))


def test_cocoeval_of_the_dataset_against_itself_is_perfect(dataset):
    path = dataset / "annotations" / "instances.json"
    assert self_eval(path, "bbox") == 1.0
    assert self_eval(path, "segm") == 1.0


def test_the_run_leaves_the_scene_as_it_found_it(dataset):
    state = json.loads((dataset / "state.json").read_text())
    assert state["after"] == state["before"]
    assert state["before"]["engine"] == "BLENDER_WORKBENCH" and state["before"]["pass_index"]["blocker"] == 42
    assert state["filepath"] == ""  # nothing saved

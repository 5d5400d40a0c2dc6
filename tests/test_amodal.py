"""Amodal masks, visible fraction and truncation, end to end with real renders.

Two bpy-module processes:

* an analytic scene (orthographic camera straight down, one pixel = 0.1 x 0.1 world
  units over 64x48): a box half behind an unmarked wall, a box cut in half by the
  right image border, a box in plain view. Every answer follows from the coordinates.
* a randomized perspective frame (spheres, cubes, a monkey, a cone, overlapping at
  random) plus the rigged glTF tube (armature-deformed, posed), partly behind an
  unmarked wall. The independent truth of each amodal mask is a plain bpy render of
  that object alone (every other object hidden from render), object-index pass.

pycocotools judges the exported JSON; the export filters are checked against the
values in the JSON.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from cocotools import load_coco
from pycocotools import mask as mask_utils

from blender_coco.coco.export import export_dataset
from blender_coco.config import ExportConfig
from blender_coco.records.passes import read_passes

ANALYTIC = r"""
import sys, math
import bpy
from blender_coco.blender import marking, pipeline
from blender_coco.config import ExportConfig, RenderConfig

out = sys.argv[1]
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 64, 48, 100
scene.render.engine = "CYCLES"
scene.cycles.samples = 1
scene.frame_start = scene.frame_end = 1
cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
cam.data.type = "ORTHO"; cam.data.ortho_scale = 6.4
cam.location = (0.0, 0.0, 10.0)
scene.collection.objects.link(cam); scene.camera = cam

def box(name, x0, y0, x1, y1, z, category=None):
    bpy.ops.mesh.primitive_cube_add(size=1.0, location=((x0 + x1) / 2, (y0 + y1) / 2, z))
    obj = bpy.context.object
    obj.name = name
    obj.scale = (x1 - x0, y1 - y0, 0.2)
    if category:
        marking.mark(obj, category)
    return obj

box("half_hidden", -2.8, 0.4, -1.2, 2.0, 0.0, "box")     # 16 x 16 px at column 4, row 4
box("wall", -3.0, -1.0, -1.0, 1.2, 1.0)                  # unmarked: hides rows 12..19 of it
box("cut", 2.4, -1.0, 4.0, 0.6, 0.0, "box")              # 16 px wide, 8 inside the image
box("plain", -0.5, -2.0, 0.5, -1.0, 0.0, "box")          # 10 x 10 px in plain view
box("eye", 0.5, 0.8, 1.5, 1.8, 0.0, "box").hide_set(True)   # hidden in the viewport only: renders
box("monitor", -0.8, 0.8, 0.2, 1.8, 0.0, "box")
hidden = bpy.data.collections.new("viewport hidden"); scene.collection.children.link(hidden)
hidden.objects.link(bpy.data.objects["monitor"]); scene.collection.objects.unlink(bpy.data.objects["monitor"])
hidden.hide_viewport = True
pipeline.render_dataset(RenderConfig(out=out, export=ExportConfig(segmentation="rle")), scene)
with open(out + "/hidden.json", "w") as fh:
    fh.write(__import__("json").dumps([bpy.data.objects["eye"].hide_get(), hidden.hide_viewport]))
"""


@pytest.fixture(scope="module")
def analytic(tmp_path_factory, run_bpy):
    out = tmp_path_factory.mktemp("amodal_analytic")
    run_bpy(ANALYTIC, str(out), what="analytic amodal render")
    coco = load_coco(out / "annotations" / "instances.json")
    sidecar = json.loads((out / "records" / "000000.json").read_text())
    names = {i["pass_index"]: i["object"] for i in sidecar["instances"]}
    mask, _ = read_passes(out / "records" / "000000.exr", 64, 48)
    by_name = {}
    for ann in coco.dataset["annotations"]:
        label = int(np.bincount(mask[coco.annToMask(ann).astype(bool)]).argmax())
        by_name[names[label]] = ann
    return out, coco, by_name


def test_box_half_behind_a_wall_has_its_whole_box_and_half_visibility(analytic):
    _, _, anns = analytic
    ann = anns["half_hidden"]
    assert ann["amodal_bbox"] == [4, 4, 16, 16]
    assert ann["bbox"] == [4, 4, 16, 8]
    assert ann["amodal_area"] == 256
    assert abs(ann["visible_fraction"] - 0.5) <= 16 / 256  # within one pixel row
    assert ann["truncation"] == 0.0


def test_box_cut_by_the_border_has_the_analytic_truncation(analytic):
    _, _, anns = analytic
    ann = anns["cut"]
    # x from 2.4 to 4.0 (16 px), the image ends at 3.2 (8 px in); y from -1.0 to 0.6 (16 rows)
    assert ann["amodal_bbox"] == [56, 18, 8, 16]
    assert ann["truncation"] == 0.5
    assert ann["visible_fraction"] == 1.0


def test_object_in_plain_view_is_fully_visible_and_amodal_equals_visible(analytic):
    _, coco, anns = analytic
    ann = anns["plain"]
    assert ann["visible_fraction"] == 1.0 and ann["truncation"] == 0.0
    assert ann["amodal_area"] == ann["area"] == 100
    assert np.array_equal(mask_utils.decode(ann["amodal_segmentation"]).astype(bool), coco.annToMask(ann).astype(bool))


def test_objects_hidden_only_in_the_viewport_get_their_amodal_masks(analytic):
    out, coco, anns = analytic
    assert json.loads((out / "hidden.json").read_text()) == [True, True]  # hidden again after the run
    for name in ("eye", "monitor"):
        ann = anns[name]
        assert ann["area"] == ann["amodal_area"] == 100 and ann["visible_fraction"] == 1.0
        assert np.array_equal(mask_utils.decode(ann["amodal_segmentation"]).astype(bool),
                              coco.annToMask(ann).astype(bool))


def test_export_filters_remove_exactly_the_annotations_beyond_the_cut(analytic, tmp_path):
    out, coco, _ = analytic
    full = coco.dataset["annotations"]
    for cfg in (ExportConfig(min_visibility=0.75), ExportConfig(max_truncation=0.25),
                ExportConfig(min_visibility=0.5, max_truncation=0.5)):
        path = tmp_path / "filtered.json"
        export_dataset(out, cfg, out=path)
        kept = load_coco(path).dataset["annotations"]
        want = [a["amodal_bbox"] for a in full
                if a["visible_fraction"] >= cfg.min_visibility and a["truncation"] <= cfg.max_truncation]
        assert sorted(a["amodal_bbox"] for a in kept) == sorted(want)
        assert 0 < len(want) < len(full) or cfg.min_visibility == 0.5


RANDOM = r"""
import json, math, random, sys
import bpy
from blender_coco.blender import marking, pipeline
from blender_coco.config import ExportConfig, RenderConfig

out, glb = sys.argv[1], sys.argv[2]
W, H = 160, 120
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = W, H, 100
scene.render.engine = "CYCLES"
scene.cycles.samples = 1
scene.cycles.use_denoising = False
rng = random.Random(7)
adders = [lambda **k: bpy.ops.mesh.primitive_uv_sphere_add(radius=0.6, **k),
          lambda **k: bpy.ops.mesh.primitive_cube_add(size=1.0, **k),
          lambda **k: bpy.ops.mesh.primitive_monkey_add(size=1.2, **k),
          lambda **k: bpy.ops.mesh.primitive_cone_add(radius1=0.6, depth=1.2, **k)]
for i in range(8):
    adders[i % 4](location=(rng.uniform(-2.5, 2.5), rng.uniform(-1.5, 1.5), rng.uniform(-1, 1)),
                  rotation=(rng.uniform(0, 3), rng.uniform(0, 3), rng.uniform(0, 3)))
    obj = bpy.context.object
    obj.name = f"thing{i}"
    marking.mark(obj, ["ball", "cube", "monkey", "cone"][i % 4])
bpy.ops.mesh.primitive_uv_sphere_add(radius=0.6, location=(-3.9, 0.0, 1.0))  # cut by the left border
bpy.context.object.name = "edge"
marking.mark(bpy.context.object, "ball")
bpy.ops.import_scene.gltf(filepath=glb)
for obj in list(scene.objects):
    if obj.type == "MESH" and obj.parent is None and not obj.name.startswith(("thing", "edge")):
        bpy.data.objects.remove(obj)  # the importer's bone-shape icosphere
arm = next(o for o in scene.objects if o.type == "ARMATURE")
arm.name = "tube"
arm.scale = (0.25, 0.25, 0.25)
arm.location = (2.0, 1.0, 0.5)
marking.mark(arm, "tube")
arm["coco_keypoints"] = '[["base", "Bone"], ["mid", "Bone.001"]]'
arm.pose.bones["Bone.001"].rotation_mode = "XYZ"
arm.pose.bones["Bone.001"].rotation_euler = (0.0, 0.0, 0.9)  # posed: the mesh bends
if arm.animation_data:
    arm.animation_data.action = None
cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
cam.location = (0.3, -9.0, 1.0); cam.rotation_euler = (math.radians(85), 0.0, 0.0)
cam.data.lens = 35; cam.data.shift_x = 0.05
scene.collection.objects.link(cam); scene.camera = cam
scene.frame_start = scene.frame_end = 1
scene.frame_set(1)
bpy.context.view_layer.update()
# an unmarked wall hiding the tube's bent bone head ("mid") from the camera
mid = arm.matrix_world @ arm.pose.bones["Bone.001"].head
bpy.ops.mesh.primitive_plane_add(size=0.3, location=cam.location.lerp(mid, 0.7), rotation=(math.pi / 2, 0, 0))
bpy.context.object.name = "wall"
pipeline.render_dataset(RenderConfig(out=out, export=ExportConfig(segmentation="rle")), scene)

# independent truth: each marked object alone, plain Cycles render, object-index pass
layer = bpy.context.view_layer
layer.use_pass_object_index = True
settings = scene.render.image_settings
settings.media_type = "MULTI_LAYER_IMAGE" if hasattr(settings, "media_type") else None
settings.file_format = "OPEN_EXR_MULTILAYER"
roots = [o for o in scene.objects if "coco_category" in o]
def family(root):
    return {root.name} | {c.name for c in root.children_recursive}
for root in roots:
    keep = family(root) | {cam.name}
    for o in scene.objects:
        o.hide_render = o.name not in keep
        o.pass_index = 1
    bpy.ops.render.render(write_still=False)
    bpy.data.images["Render Result"].save_render(filepath=f"{out}/alone_{root.name}.exr", scene=scene)
# the object cut by the border, alone, through a camera seeing 3x as wide at 3x the resolution: the
# middle third is the frame's own pixel grid, the rest its silhouette beyond the border
for o in scene.objects:
    o.hide_render = o.name not in ("edge", cam.name)
cam.data.lens /= 3; cam.data.shift_x /= 3
scene.render.resolution_x, scene.render.resolution_y = 3 * W, 3 * H
bpy.ops.render.render(write_still=False)
bpy.data.images["Render Result"].save_render(filepath=f"{out}/wide_edge.exr", scene=scene)
"""


@pytest.fixture(scope="module")
def randomized(tmp_path_factory, run_bpy, assets):
    out = tmp_path_factory.mktemp("amodal_random")
    run_bpy(RANDOM, str(out), str(assets / "models" / "RiggedSimple.glb"), what="randomized amodal render")
    coco = load_coco(out / "annotations" / "instances.json")
    sidecar = json.loads((out / "records" / "000000.json").read_text())
    mask, _ = read_passes(out / "records" / "000000.exr", 160, 120)
    names = {i["pass_index"]: i["object"] for i in sidecar["instances"]}
    anns = {}
    for ann in coco.dataset["annotations"]:
        label = int(np.bincount(mask[coco.annToMask(ann).astype(bool)]).argmax())
        anns[names[label]] = ann
    return out, coco, anns, sidecar


def _edge(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` or next to it (4-neighbourhood) that have a neighbour of the other value."""
    p = np.pad(mask, 1, mode="edge")
    diff = np.zeros_like(mask)
    for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
        diff |= p[dy:dy + mask.shape[0], dx:dx + mask.shape[1]] != mask
    return diff


def test_amodal_masks_match_each_object_rendered_alone(randomized):
    out, coco, anns, sidecar = randomized
    assert len(anns) >= 6
    occluded = 0
    for name, ann in anns.items():
        alone, _ = read_passes(out / f"alone_{name}.exr", 160, 120)
        truth = alone > 0
        amodal = mask_utils.decode(ann["amodal_segmentation"]).astype(bool)
        wrong = amodal != truth
        assert not (wrong & ~_edge(truth)).any(), f"{name}: {int((wrong & ~_edge(truth)).sum())} non-edge pixels differ"
        assert wrong.sum() <= 0.1 * _edge(truth).sum() + 2, f"{name}: {int(wrong.sum())} edge pixels differ"
        assert ann["amodal_area"] >= ann["area"]
        visible = coco.annToMask(ann).astype(bool)
        assert not (visible & ~amodal).any()  # the visible mask lies inside the amodal one
        occluded += ann["visible_fraction"] < 0.95
    assert occluded >= 2  # the frame does test occlusion


def test_truncation_of_an_object_cut_by_the_border_matches_a_wide_render(randomized):
    out, _, anns, _ = randomized
    wide, _ = read_passes(out / "wide_edge.exr", 480, 360)
    whole = wide > 0
    inside = int(whole[120:240, 160:320].sum())
    truth = 1 - inside / int(whole.sum())
    ann = anns["edge"]
    assert 0.2 < truth < 0.8  # the test does cut the object
    assert abs(ann["truncation"] - truth) <= 0.01, (ann["truncation"], truth)
    assert abs(ann["amodal_area"] - inside) <= 2


def test_keypoint_hidden_by_another_object_is_inside_amodal_and_outside_visible(randomized):
    out, coco, anns, sidecar = randomized
    ann = anns["tube"]
    label = next(i["pass_index"] for i in sidecar["instances"] if i["object"] == "tube")
    index, _ = read_passes(out / "records" / "000000.exr", 160, 120)
    kp = np.array(ann["keypoints"]).reshape(-1, 3)
    amodal = mask_utils.decode(ann["amodal_segmentation"]).astype(bool)
    visible = coco.annToMask(ann).astype(bool)
    by_other = 0
    for x, y, v in kp:  # COCO keypoints: pixel index = continuous - 0.5
        col, row = int(round(x)), int(round(y))
        if v == 1 and index[row, col] != label:  # hidden, and another surface shows there
            by_other += 1
            assert amodal[row, col] and not visible[row, col]
    assert by_other >= 1, f"the wall should hide a keypoint: {kp.tolist()}"


def test_every_annotation_carries_the_amodal_fields_in_range(randomized):
    _, coco, anns, _ = randomized
    for ann in coco.dataset["annotations"]:
        assert 0 < ann["visible_fraction"] <= 1 and 0 <= ann["truncation"] < 1
        assert ann["amodal_area"] == int(mask_utils.area(ann["amodal_segmentation"]))
        assert ann["amodal_bbox"] == [int(v) for v in mask_utils.toBbox(ann["amodal_segmentation"])]


def test_exported_files_validate_clean(analytic, randomized):
    from blender_coco.coco.validate import validate_coco

    for ds in (analytic[0], randomized[0]):
        data = json.loads((ds / "annotations" / "instances.json").read_text())
        assert [str(p) for p in validate_coco(data)] == []


def test_cli_export_filters_and_says_in_one_line_when_records_have_no_amodal_masks(analytic, run, tmp_path):
    import shutil
    import sys

    out, coco, _ = analytic
    target = tmp_path / "f.json"
    run([sys.executable, "-m", "blender_coco", "export", out, "--min-visibility", "0.75", "--output", target],
        "export --min-visibility")
    kept = load_coco(target).dataset["annotations"]
    assert len(kept) == sum(a["visible_fraction"] >= 0.75 for a in coco.dataset["annotations"]) == 4
    bare = tmp_path / "bare"
    shutil.copytree(out / "records", bare / "records")
    for path in (bare / "records").glob("*.json"):
        data = json.loads(path.read_text())
        for inst in data["instances"]:
            inst.pop("amodal", None)
        path.write_text(json.dumps(data))
    proc = run([sys.executable, "-m", "blender_coco", "export", bare, "--max-truncation", "0.3"], "export", ok=False)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no amodal mask" in lines[0] and "--max-truncation" in lines[0], proc.stderr
    assert not (bare / "annotations" / "instances.json").exists()
    run([sys.executable, "-m", "blender_coco", "export", bare], "export without filters")  # fine without them
    assert "amodal_area" not in json.loads((bare / "annotations" / "instances.json").read_text())["annotations"][0]


def _strip_amodal(data: dict) -> dict:
    data = json.loads(json.dumps(data))
    for ann in data["annotations"]:
        for key in ("amodal_segmentation", "amodal_bbox", "amodal_area", "visible_fraction", "truncation"):
            ann.pop(key, None)
    return data


def test_preview_dashes_the_hidden_amodal_outline_only(analytic):
    from blender_coco.coco.preview import render_preview

    out, coco, anns = analytic
    data = json.loads((out / "annotations" / "instances.json").read_text())
    with_amodal = np.asarray(render_preview(data, 1, out / "images"))
    without = np.asarray(render_preview(_strip_amodal(data), 1, out / "images"))
    changed = (with_amodal != without).any(axis=2)
    hidden = np.zeros(changed.shape, bool)
    for ann in anns.values():
        hidden |= mask_utils.decode(ann["amodal_segmentation"]).astype(bool) & ~coco.annToMask(ann).astype(bool)
    assert changed.any() and not (changed & ~hidden).any()


def test_gallery_has_an_amodal_layer_and_toggle_off_by_default(analytic, tmp_path):
    from blender_coco.coco.gallery import write_gallery

    out, _, _ = analytic
    data = json.loads((out / "annotations" / "instances.json").read_text())
    page = write_gallery(data, tmp_path / "g", out / "images").read_text()
    assert 'data-key="amodal">' in page and 'class="layer amo' in page
    assert list((tmp_path / "g" / "layers").glob("*.a*.png"))
    plain = write_gallery(_strip_amodal(data), tmp_path / "g2", out / "images").read_text()
    assert 'data-key="amodal"' not in plain


def test_stats_summarize_visibility_and_truncation(analytic):
    from blender_coco.coco.stats import dataset_stats, format_table

    out, _, _ = analytic
    s = dataset_stats(json.loads((out / "annotations" / "instances.json").read_text()))
    am = s["amodal"]
    assert am["annotations"] == 5 and am["truncated"] == 1 and am["truncation_mean"] == 0.5
    assert am["visible_fraction"]["1"] == 4 and am["visible_fraction"]["0.5-0.75"] == 1
    assert "visible fraction mean" in format_table(s)


def test_merge_keeps_the_amodal_fields_and_records(analytic, tmp_path):
    import shutil

    from blender_coco.coco.merge import merge_datasets

    out, coco, _ = analytic
    twin = tmp_path / "twin"
    shutil.copytree(out, twin)
    merged = merge_datasets([out, twin], tmp_path / "merged", renumber=True)
    anns = load_coco(merged).dataset["annotations"]
    assert len(anns) == 2 * len(coco.dataset["annotations"])
    assert all("amodal_segmentation" in a and "truncation" in a for a in anns)
    again = export_dataset(tmp_path / "merged", ExportConfig(segmentation="rle"), out=tmp_path / "re.json")
    re_anns = load_coco(again.files["instances"]).dataset["annotations"]
    assert sorted(a["amodal_area"] for a in re_anns) == sorted(a["amodal_area"] for a in anns)


def test_blender_34_without_numpy_gives_the_same_amodal_records(analytic, run, blender_binary, tmp_path):
    """Debian's Blender 3.4 has no numpy: the pure-Python rasterizer must write the very same records."""
    import os
    import sys
    from pathlib import Path

    script = tmp_path / "analytic.py"
    script.write_text(ANALYTIC.replace("out = sys.argv[1]", "out = sys.argv[sys.argv.index('--') + 1]"))
    repo = Path(__file__).resolve().parents[1]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(repo),
           "BLENDER_COCO_PYTHON": sys.executable, **({"CI": os.environ["CI"]} if "CI" in os.environ else {})}
    proc = run([blender_binary, "-b", "--factory-startup", "--python-exit-code", "1", "-P", script, "--", tmp_path],
               "analytic amodal render in Blender 3.4", env=env)
    assert "amodal" not in proc.stderr.lower()  # no warning: amodal masks work without numpy
    ours = json.loads((tmp_path / "records" / "000000.json").read_text())["instances"]
    module = json.loads((analytic[0] / "records" / "000000.json").read_text())["instances"]
    assert [i["amodal"] for i in ours] == [i["amodal"] for i in module]
    assert ours[0]["amodal"]["counts"] and len(ours) == 5

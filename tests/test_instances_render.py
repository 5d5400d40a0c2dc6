"""Every instance is an instance, and masks follow the picture (issue 10), on real renders.

scenes/instances.py builds each set-up the way users build it (geometry-nodes
scatter of a marked library object, a marked particle emitter, nested collection
instances, an excluded-collection asset library). One bpy process per test module
renders each scene three ways: plain bpy (the RGB oracle), ``render_dataset``, and the
truth: the same scene with every copy made a real object with its own pass index,
rendered with the plain object-index pass. Then:

* one annotation per visible copy, each matching one truth copy with IoU >= 0.98;
* the RGB is the plain render's (per-copy Object Info > Random colours unchanged);
* under motion blur and out of focus, the single object's mask is one piece and has
  IoU >= 0.95 against alpha >= 0.5 of a film-transparent 256-sample render of it alone;
* a 30%-opaque square is not annotated by majority, and whole with --mask-threshold 0.25;
* Blender 3.4 (binary) and bpy 5.0 agree, and Cryptomatte ids survive the EXR codec;
* 33,000 copies in one frame are 33,000 annotations;
* marked instancers: an empty instancing a collection is one instance, a marked scatter
  object makes each copy one.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import OpenEXR
import pytest
from cocotools import load_coco
from pixels import index_pass, iou
from PIL import Image

SCRIPT = r"""
import json, sys
import bpy
import instances as scenes
from blender_coco.blender import pipeline
from blender_coco.config import ExportConfig, RenderConfig

out = sys.argv[1]
facts = {}
for kind in scenes.KINDS:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scenes.build(scene, kind)
    r = scene.render
    r.image_settings.file_format, r.image_settings.color_mode, r.image_settings.color_depth = "PNG", "RGB", "8"
    r.filepath = f"{out}/{kind}_plain.png"
    bpy.ops.render.render(write_still=True)
    before = {m.name: len(m.node_tree.nodes) for m in bpy.data.materials}
    pipeline.render_dataset(RenderConfig(out=f"{out}/{kind}", export=ExportConfig(segmentation="rle")), scene)
    facts[kind] = {"nodes_before": before, "nodes_after": {m.name: len(m.node_tree.nodes) for m in bpy.data.materials},
                   "aovs_after": len(scene.view_layers[0].aovs),
                   "crypto_after": scene.view_layers[0].use_pass_cryptomatte_object}
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scenes.build(scene, kind)
    facts[kind]["groups"] = scenes.make_real(scene, kind)
    scenes.render_truth(scene, f"{out}/{kind}_truth.exr")
json.dump(facts, open(f"{out}/facts.json", "w"))
"""


EXPECTED = {"geometry_nodes": 6, "particles": 3, "nested": 6, "asset_library": 6}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, run_bpy):
    out = tmp_path_factory.mktemp("instances")
    run_bpy(SCRIPT, str(out), what="instance scenes")
    return out


@pytest.mark.parametrize("kind", ["geometry_nodes", "particles", "nested", "asset_library"])
def test_one_annotation_per_copy_matching_the_truth(rendered, kind):
    coco = load_coco(rendered / kind / "annotations" / "instances.json")
    truth = index_pass(rendered / f"{kind}_truth.exr")
    labels = [v for v in np.unique(truth) if v]
    assert len(labels) == EXPECTED[kind]  # visible copies (hair 0 of the particle scene has zero length)
    anns = coco.loadAnns(coco.getAnnIds())
    assert len(anns) == len(labels), f"{kind}: {len(anns)} annotations for {len(labels)} copies"
    masks = [coco.annToMask(a).astype(bool) for a in anns]
    for v in labels:
        best = max(iou(truth == v, m) for m in masks)
        assert best >= 0.98, f"{kind}: copy {v} best IoU {best:.3f}"
    record = json.loads((rendered / kind / "records" / "000000.json").read_text())
    copies = [i for i in record["instances"] if "instancer" in i]
    assert len(copies) >= EXPECTED[kind] and all(i.get("source") for i in copies)


@pytest.mark.parametrize("kind", ["geometry_nodes", "particles", "nested", "asset_library"])
def test_rgb_and_scene_unchanged(rendered, kind):
    plain = np.asarray(Image.open(rendered / f"{kind}_plain.png").convert("RGB"), dtype=int)
    ours = np.asarray(Image.open(rendered / kind / "images" / "000000.png").convert("RGB"), dtype=int)
    assert np.abs(plain - ours).max() == 0, f"{kind}: RGB differs from the plain render"
    assert len({tuple(p) for p in plain.reshape(-1, 3)}) > 6  # per-copy colours are there to compare
    facts = json.loads((rendered / "facts.json").read_text())[kind]
    assert facts["nodes_after"] == facts["nodes_before"]
    assert facts["aovs_after"] == 0 and facts["crypto_after"] is False


SINGLE = r"""
import sys
import bpy
import instances as scenes
from blender_coco.blender import pipeline
from blender_coco.config import ExportConfig, RenderConfig

out = sys.argv[1]
for kind in ("motion", "focus", "transparent"):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scenes.single(scene, kind)
    pipeline.render_dataset(RenderConfig(out=f"{out}/{kind}", export=ExportConfig(segmentation="rle")), scene)
    if kind == "transparent":
        continue
    scene.render.film_transparent = True  # the truth: alpha >= 0.5 of the object alone, many samples
    scene.cycles.samples = 256
    ims = scene.render.image_settings
    ims.file_format, ims.color_mode, ims.color_depth = "PNG", "RGBA", "8"
    scene.render.filepath = f"{out}/{kind}_alpha.png"
    bpy.ops.render.render(write_still=True)
"""


@pytest.fixture(scope="module")
def single(tmp_path_factory, run_bpy):
    out = tmp_path_factory.mktemp("single")
    run_bpy(SINGLE, str(out), what="motion blur and focus scenes")
    return out


@pytest.mark.parametrize("kind", ["motion", "focus"])
def test_blurred_object_mask_is_whole_and_matches_alpha(single, kind):
    from skimage.measure import label

    coco = load_coco(single / kind / "annotations" / "instances.json")
    anns = coco.loadAnns(coco.getAnnIds())
    assert len(anns) == 1
    mask = coco.annToMask(anns[0]).astype(bool)
    alpha = np.asarray(Image.open(single / f"{kind}_alpha.png"), dtype=float)[..., 3] / 255.0
    truth = alpha >= 0.5
    assert truth.sum() > 200 and (truth != (alpha > 0.01)).sum() > 50  # really blurred
    assert label(mask, connectivity=2).max() == 1, f"{kind}: mask in pieces"
    assert label(~mask, connectivity=1).max() == 1, f"{kind}: mask has holes"
    assert iou(mask, truth) >= 0.95, f"{kind}: IoU {iou(mask, truth):.3f}"


BINARY = r"""
import sys
sys.path[:0] = [sys.argv[-3], sys.argv[-3] + "/scenes"]
import bpy
import instances as scenes
from blender_coco.blender import pipeline
from blender_coco.config import ExportConfig, RenderConfig
out, python = sys.argv[-2], sys.argv[-1]
for kind in ("geometry_nodes", "nested"):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scenes.build(scene, kind)
    pipeline.render_dataset(RenderConfig(out=f"{out}/{kind}", python=python, export=ExportConfig(segmentation="rle")),
                            scene)
"""


def _crypto_ids_are_manifest_hashes(exr_path) -> None:
    """Every Cryptomatte id in the (DWAB or ZIP) EXR is a manifest hash or 0: the codec kept the bits."""
    f = OpenEXR.File(str(exr_path), separate_channels=True)
    manifest = next(json.loads(v) for p in f.parts for k, v in p.header.items() if k.endswith("/manifest"))
    from blender_coco.records.coverage import crypto_manifest

    hashes = set(crypto_manifest({"cryptomatte/x/name": "CryptoObject", "cryptomatte/x/manifest": json.dumps(manifest)}))
    hashes.add(0)
    for part in f.parts:
        for name, ch in part.channels.items():
            if "CryptoObject" in name and name[-1] in "rb":
                assert set(np.unique(ch.pixels.view(np.uint32)).tolist()) <= hashes, name


def test_blender_34_binary_agrees_with_the_bpy_module(rendered, tmp_path, run, blender_binary):
    from shared_assets import REPO

    script = tmp_path / "render.py"
    script.write_text(BINARY)
    run([blender_binary, "-b", "--factory-startup", "--python-exit-code", "1", "-P", script, "--", REPO,
         tmp_path / "ds", sys.executable], "instance scenes in blender -b (3.4)")
    for kind in ("geometry_nodes", "nested"):
        _crypto_ids_are_manifest_hashes(tmp_path / "ds" / kind / "records" / "000000.exr")
        _crypto_ids_are_manifest_hashes(rendered / kind / "records" / "000000.exr")
        old = load_coco(tmp_path / "ds" / kind / "annotations" / "instances.json")
        new = load_coco(rendered / kind / "annotations" / "instances.json")
        masks_old = [old.annToMask(a).astype(bool) for a in old.loadAnns(old.getAnnIds())]
        masks_new = [new.annToMask(a).astype(bool) for a in new.loadAnns(new.getAnnIds())]
        assert len(masks_old) == len(masks_new) == EXPECTED[kind]
        for m in masks_old:
            assert max(iou(m, n) for n in masks_new) >= 0.98


def test_transparent_surface_follows_the_threshold(single, run):
    """30% opaque: not the majority of any pixel (no annotation); with --mask-threshold 0.25
    the whole square in one piece (only its 4 corner pixels, which the pixel filter covers
    less, may fall below 0.25)."""
    ds = single / "transparent"
    assert load_coco(ds / "annotations" / "instances.json").getAnnIds() == []
    run([sys.executable, "-m", "blender_coco", "export", ds, "--segmentation", "rle", "--mask-threshold", "0.25"],
        "export --mask-threshold 0.25")
    coco = load_coco(ds / "annotations" / "instances.json")
    anns = coco.loadAnns(coco.getAnnIds())
    assert len(anns) == 1
    truth = np.zeros((96, 128), bool)
    truth[32:64, 48:80] = True
    from skimage.measure import label

    mask = coco.annToMask(anns[0]).astype(bool)
    assert iou(mask, truth) >= 0.99 and (mask & ~truth).sum() == 0
    assert label(mask, connectivity=2).max() == 1 and label(~mask, connectivity=1).max() == 1


MANY = r"""
import sys
import bpy
import instances as scenes
from blender_coco.blender import pipeline
from blender_coco.config import ExportConfig, RenderConfig

bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
scenes.build(scene, "geometry_nodes")
nx, ny = 200, 165  # 33,000 copies: 2x2-pixel tiles on a 3-pixel grid
scene.render.resolution_x, scene.render.resolution_y = 3 * nx, 3 * ny
scene.camera.data.ortho_scale = 3.0 * nx
pts = bpy.data.objects["Scatter"].data
pts.clear_geometry()
pts.from_pydata([(3 * i - 1.5 * nx + 1.5, 3 * j - 1.5 * ny + 1.5, 0) for i in range(nx) for j in range(ny)], [], [])
scene.cycles.samples = 1
pipeline.render_dataset(RenderConfig(out=sys.argv[1], export=ExportConfig(segmentation="rle", tasks=("instances",))), scene)
"""


def test_more_than_32767_instances_in_one_frame(tmp_path, run_bpy):
    """33,000 scattered copies: one annotation each, every one its own 2x2 tile (no two merged,
    although float32 makes some random ids equal: the copy's position tells them apart)."""
    run_bpy(MANY, str(tmp_path / "ds"), what="33,000 instances")
    data = json.loads((tmp_path / "ds" / "annotations" / "instances.json").read_text())
    assert len(data["annotations"]) == 33000
    assert {a["area"] for a in data["annotations"]} == {4}
    assert len({tuple(a["bbox"]) for a in data["annotations"]}) == 33000


INSTANCER_MARKED = r"""
import json, sys
import bpy
import instances as scenes
from blender_coco.blender import pipeline
from blender_coco.config import ExportConfig, RenderConfig

areas = {}
for kind in ("asset_library", "nested", "geometry_nodes"):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scenes.build(scene, kind)
    for obj in list(bpy.data.objects):  # the mark moves from the instanced object to the instancers
        if "coco_category" in obj:
            del obj["coco_category"]
    for obj in scene.objects:
        if (obj.type == "EMPTY" and obj.parent is None) or obj.name == "Scatter":
            obj["coco_category"] = "group"
    result = pipeline.render_dataset(RenderConfig(out=f"{sys.argv[1]}/{kind}", export=ExportConfig(segmentation="rle")),
                                     scene)
    areas[kind] = sorted(a["area"] for a in json.load(open(result.files["instances"]))["annotations"])
json.dump(areas, open(f"{sys.argv[1]}/areas.json", "w"))
"""


def test_marked_instancers(tmp_path, run_bpy):
    """A marked empty instancing a collection is one instance (a pair of crates: 512 px);
    a marked geometry-nodes scatter object makes each copy an instance (256 px each)."""
    run_bpy(INSTANCER_MARKED, str(tmp_path), what="marked instancers")
    areas = json.loads((tmp_path / "areas.json").read_text())
    assert areas == {"asset_library": [256] * 6, "nested": [512] * 3, "geometry_nodes": [256] * 6}


def test_numpy_exr_reader_gives_the_same_coverage_mask(rendered, tmp_path):
    """records/exr.py (the reader used inside Blender) reads the Cryptomatte channels and the
    manifest of a ZIP file exactly as OpenEXR does: the same label mask."""
    from blender_coco.records import coverage, exr
    from blender_coco.records.sidecar import load_record

    rec = load_record(rendered / "nested" / "records" / "000000.json")
    f = OpenEXR.File(str(rec.exr_path), separate_channels=True)
    header = {k: v for p in f.parts for k, v in p.header.items() if isinstance(v, str)}
    header.update(compression=OpenEXR.ZIP_COMPRESSION, type=OpenEXR.scanlineimage)
    zipped = tmp_path / "zip.exr"
    OpenEXR.File(header, {n: c.pixels for p in f.parts for n, c in p.channels.items()}).write(str(zipped))
    mask = coverage.label_mask(exr.read_channels(zipped), coverage.crypto_manifest(exr.header_strings(zipped)),
                               rec.sidecar.coverage)
    expected, _ = rec.read_passes()
    assert np.array_equal(mask, expected) and len(np.unique(mask)) == 7


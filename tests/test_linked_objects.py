"""Objects that share a name across libraries are separate instances (issue 15, item 1).

Two library files each hold an object ``Thing`` (one marked apple, one pear); a scene
links both and has a local ``Thing`` (plum) and a library override of a third linked
``Thing`` (cherry). Rendered by the real pipeline (bpy, orthographic camera at 0.1
units per pixel, squares on pixel edges), each square must come out as its own
annotation with its own category, and its mask must equal the analytic square
(IoU 1.0), judged by pycocotools. Sidecars name linked objects ``"Thing [lib1.blend]"``.
Run in the bpy module (5.0) and in Debian's Blender 3.4 binary.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from cocotools import decode, iou, load_coco

SCRIPT = r'''
import json, logging, sys
from pathlib import Path
import bpy
from blender_coco.blender import marking, pipeline
from blender_coco.config import RenderConfig

args = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]   # blender -b ... -- OUT PYTHON
out = Path(args[0])
python = args[1] if len(args) > 1 else None
logs = []
class Collect(logging.Handler):
    def emit(self, record):
        logs.append((record.levelname, record.getMessage()))
logging.getLogger("blender_coco").addHandler(Collect())
logging.getLogger("blender_coco").setLevel(logging.INFO)

def square(name, x0, y0, size=0.8):
    me = bpy.data.meshes.new(name)
    me.from_pydata([(x0, y0, 0), (x0 + size, y0, 0), (x0 + size, y0 + size, 0), (x0, y0 + size, 0)], [], [(0, 1, 2, 3)])
    ob = bpy.data.objects.new(name, me)
    bpy.context.scene.collection.objects.link(ob)
    return ob

# three library files, each with an object called Thing (a square at its own place, its own category)
for i, (cat, x0) in enumerate([("apple", -2.8), ("pear", -1.4), ("cherry", 0.0)]):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    ob = square("Thing", x0, -0.4)
    ob["coco_category"] = cat
    bpy.data.libraries.write(str(out / f"lib{i}.blend"), {ob}, fake_user=True)

bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
linked = []
for i in range(3):
    with bpy.data.libraries.load(str(out / f"lib{i}.blend"), link=True) as (src, dst):
        dst.objects = ["Thing"]
    for ob in dst.objects:
        scene.collection.objects.link(ob)
        linked.append(ob)
override = linked[2].override_create(remap_local_usages=True)   # a library override of lib2's Thing
local = square("Thing", 1.4, -0.4)                               # a local Thing too
local["coco_category"] = "plum"
cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
cam.data.type = "ORTHO"; cam.data.ortho_scale = 6.4; cam.location = (0, 0, 10)
scene.collection.objects.link(cam); scene.camera = cam
scene.render.resolution_x, scene.render.resolution_y = 64, 48
scene.cycles.samples = 1
names = sorted(marking.object_key(o) for o in scene.objects if o.type == "MESH")
pipeline.render_dataset(RenderConfig(out=str(out / "ds"), frames=1, samples=1, python=python), scene)
sidecar = json.loads((out / "ds" / "records" / "000000.json").read_text())
(out / "result.json").write_text(json.dumps({"names": names, "sidecar": sidecar, "logs": logs,
                                             "override": [override.name_full, override.library is None]}))
'''

# x0 of each square in scene units -> its columns; every square spans y -0.4..0.4 (rows 20..27)
SQUARES = {"apple": -2.8, "pear": -1.4, "cherry": 0.0, "plum": 1.4}


def truth(x0: float) -> np.ndarray:
    mask = np.zeros((48, 64), bool)
    col = round((x0 + 3.2) / 0.1)
    mask[20:28, col:col + 8] = True
    return mask


@pytest.fixture(scope="module", params=["bpy", "blender-3.4"])
def linked(request, tmp_path_factory, run_bpy, run):
    out = tmp_path_factory.mktemp("linked")
    if request.param == "bpy":
        run_bpy(SCRIPT, str(out), what="linked objects scene")
    else:
        blender = request.getfixturevalue("blender_binary")
        script = out / "linked.py"
        script.write_text(SCRIPT)
        run([blender, "-b", "--factory-startup", "--python-exit-code", "1", "-P", script, "--", out, sys.executable],
            "linked objects scene in blender -b")
    res = json.loads((out / "result.json").read_text())
    res["coco"] = load_coco(out / "ds" / "annotations" / "instances.json")
    return res


def test_objects_sharing_a_name_are_keyed_by_name_and_library(linked):
    assert linked["override"] == ["Thing", True]  # the override is local (the local Thing made later is Thing.001)
    assert linked["names"] == ["Thing", "Thing [lib0.blend]", "Thing [lib1.blend]", "Thing.001"]
    objects = {i["object"]: i["category"] for i in linked["sidecar"]["instances"]}
    assert objects == {"Thing": "cherry", "Thing [lib0.blend]": "apple", "Thing [lib1.blend]": "pear",
                       "Thing.001": "plum"}
    assert len({i["pass_index"] for i in linked["sidecar"]["instances"]}) == 4


def test_each_same_named_object_is_its_own_annotation_with_an_exact_mask(linked):
    coco = linked["coco"]
    cats = {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())}
    anns = coco.loadAnns(coco.getAnnIds())
    assert sorted(cats[a["category_id"]] for a in anns) == sorted(SQUARES)
    for ann in anns:
        name = cats[ann["category_id"]]
        assert iou(decode(ann["segmentation"], 48, 64), truth(SQUARES[name])) == 1.0, name

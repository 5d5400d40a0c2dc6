"""One render of a scene with things and stuff yields every COCO task, all consistent.

The demo scene marks a stuff floor (``coco_stuff``) and a world background
(``coco_background = "sky"``) beside five thing categories. Real Blender (bpy module).
"""

from __future__ import annotations

import json
import sys

import pytest
from cocotools import load_coco, self_eval
from test_captions import PLURALS, check_caption, truth
from test_panoptic import panoptic_to_detection, panopticapi_checks, same_annotations

CLI = [sys.executable, "-m", "blender_coco"]


@pytest.fixture(scope="module")
def ds(tmp_path_factory, run):
    out = tmp_path_factory.mktemp("tasks") / "ds"
    run(CLI + ["render", "--out", out, "--resolution", "96x72", "--samples", "1", "--frames", "2"],
        "blender-coco render (demo scene with stuff)")
    return out


def test_every_task_file_is_written_and_validates(ds, run):
    names = sorted(p.name for p in (ds / "annotations").iterdir())
    assert names == ["captions.json", "instances.json", "panoptic", "panoptic.json", "stuff.json"]
    for name in ("instances.json", "stuff.json", "panoptic.json", "captions.json"):
        proc = run(CLI + ["validate", ds / "annotations" / name, "--images", ds / "images"], f"validate {name}")
        assert "no problems" in proc.stdout


def test_stuff_is_kept_out_of_instances_and_ids_agree(ds):
    inst = json.loads((ds / "annotations" / "instances.json").read_text())
    stuff = json.loads((ds / "annotations" / "stuff.json").read_text())
    pan = json.loads((ds / "annotations" / "panoptic.json").read_text())
    assert [c["name"] for c in inst["categories"]] == ["ball", "box", "cone", "fence", "table"]
    assert sorted(c["name"] for c in stuff["categories"]) == ["floor", "sky"]
    ids = {c["name"]: c["id"] for c in pan["categories"]}
    assert ids == {c["name"]: c["id"] for c in inst["categories"] + stuff["categories"]}
    assert {c["name"]: c["isthing"] for c in pan["categories"]} == {
        "ball": 1, "box": 1, "cone": 1, "fence": 1, "table": 1, "floor": 0, "sky": 0}
    per_image = {}
    for a in stuff["annotations"]:
        per_image.setdefault(a["image_id"], []).append(a["category_id"])
    assert all(sorted(v) == sorted(set(v)) for v in per_image.values())  # one region per stuff category
    assert ids["floor"] in per_image[1]  # the floor fills the lower half of the demo view
    assert self_eval(ds / "annotations" / "stuff.json", "segm") == pytest.approx(1.0)


def test_panoptic_passes_panopticapi_checks_and_converts_back_exactly(ds):
    pan = json.loads((ds / "annotations" / "panoptic.json").read_text())
    panopticapi_checks(pan, ds / "annotations" / "panoptic")
    inst = load_coco(ds / "annotations" / "instances.json")
    stuff = load_coco(ds / "annotations" / "stuff.json")
    for image_id, anns in panoptic_to_detection(pan, ds / "annotations" / "panoptic").items():
        same_annotations([a for a in anns if a["isthing"]], inst, image_id)
        same_annotations([a for a in anns if not a["isthing"]], stuff, image_id)


def test_captions_are_true_of_the_rendered_images(ds, monkeypatch):
    for noun, plural in (("ball", "balls"), ("cone", "cones"), ("fence", "fences"), ("table", "tables")):
        monkeypatch.setitem(PLURALS, noun, plural)
    seen = 0
    for _, img, counts, present, boxes, texts in truth(ds):
        assert len(texts) == 5
        for text in texts:
            check_caption(text, counts, present, boxes, (img["width"], img["height"]))
            seen += 1
    assert seen == 10


CONFLICT = """
import sys, bpy
from blender_coco.blender.demo_scene import new_scene
from blender_coco.blender.pipeline import RenderJob
from blender_coco.config import RenderConfig
from blender_coco.errors import UserError
scene = new_scene()
if sys.argv[2] == "stuff-and-thing":
    bpy.data.objects["Box.001"]["coco_stuff"] = True
else:
    scene["coco_background"] = "box"
job = RenderJob(RenderConfig(out=sys.argv[1], resolution=(32, 24), samples=1), scene)
try:
    job.start(); job.render_next()
except UserError as exc:
    print(exc); sys.exit(3)
"""


@pytest.mark.parametrize("case,text", [
    ("stuff-and-thing", "category 'box' is stuff on object 'Box.001' (coco_stuff set) but a thing on object 'Box.002'"),
    ("background-is-thing", "coco_background 'box' names a thing category"),
])
def test_mixing_stuff_and_things_in_one_category_is_a_clear_error(tmp_path, run_bpy, case, text):
    proc = run_bpy(CONFLICT, tmp_path / "ds", case, ok=False)
    assert proc.returncode == 3 and text in proc.stdout

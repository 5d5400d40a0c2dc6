"""The Blender-side API the add-on and the randomization layer build on.

marking (mark/unmark/instance_of/marked_roots/category_counts and what counts as
rendered) and RenderJob (start / render_next / finish / abort, frame hooks, frame
looping, restoring the scene, early one-line errors). Everything runs in one
bpy-module process on a 32x24 scene; the tests assert on what it reports and on
the files it wrote.
"""

from __future__ import annotations

import json

import pytest
from cocotools import load_coco
from PIL import Image

SCRIPT = r'''
import json, logging, sys
from pathlib import Path
import bpy
from blender_coco.blender import hooks, marking, pipeline
from blender_coco.commands._common import flag
from blender_coco.config import RenderConfig
from blender_coco.errors import UserError

out = Path(sys.argv[1])
res = {}
logs = []
class Collect(logging.Handler):
    def emit(self, record):
        logs.append((record.levelname, record.getMessage()))
logging.getLogger("blender_coco").addHandler(Collect())
logging.getLogger("blender_coco").setLevel(logging.INFO)

def error(func):
    try:
        func()
    except UserError as exc:
        return exc.render(flag)  # as the CLI says it
    return None

def plane(name, x0, y0, x1, y1, z=0.0, collection=None):
    me = bpy.data.meshes.new(name)
    me.from_pydata([(x0, y0, z), (x1, y0, z), (x1, y1, z), (x0, y1, z)], [], [(0, 1, 2, 3)])
    ob = bpy.data.objects.new(name, me)
    (collection or bpy.context.scene.collection).objects.link(ob)
    return ob

bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene

# ---- marking -----------------------------------------------------------------------------
parent = bpy.data.objects.new("Parent", None); scene.collection.objects.link(parent)
child = plane("Child", -1, -1, 0, 0); child.parent = parent
marked_child = plane("MarkedChild", 0, 0, 1, 1); marked_child.parent = parent
loose = plane("Loose", 1, 1, 2, 2)
marking.mark(parent, "robot", "machine")
res["super_set"] = [marking.category_of(parent), marking.supercategory_of(parent)]
marking.mark(parent, "robot")
res["super_cleared"] = marking.supercategory_of(parent)
marking.mark(marked_child, "arm")
res["instance_of"] = {o.name: getattr(marking.instance_of(o), "name", None) for o in (parent, child, marked_child, loose)}
res["roots"] = [o.name for o in marking.marked_roots(scene)]
res["counts"] = marking.category_counts(scene)
res["pass_indices"] = marking.pass_indices(scene)
loose["coco_keypoints"] = "coco17"
marking.mark(loose, "robot")
marking.unmark(loose)
res["unmark_keeps_keypoints"] = sorted(loose.keys())
res["empty_name"] = error(lambda: marking.mark(loose, "  "))
loose["coco_category"] = 3
res["bad_value"] = error(lambda: marking.check_marks(scene))
loose["coco_category"] = "robot"; loose["coco_supercategory"] = "toy"
marking.mark(parent, "robot", "machine")
res["super_conflict"] = error(lambda: marking.check_marks(scene))
hidden = bpy.data.collections.new("Hidden"); hidden.hide_render = True; scene.collection.children.link(hidden)
excluded = bpy.data.collections.new("Excluded"); scene.collection.children.link(excluded)
bpy.context.view_layer.layer_collection.children["Excluded"].exclude = True
plane("InHidden", 0, 0, 1, 1, collection=hidden); plane("InExcluded", 0, 0, 1, 1, collection=excluded)
loose.hide_render = True
res["rendered"] = sorted(marking.rendered_objects(bpy.context.view_layer))

# ---- RenderJob on a 32x24 scene -----------------------------------------------------------------
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
cam.data.type = "ORTHO"; cam.data.ortho_scale = 3.2; cam.location = (0, 0, 10)
scene.collection.objects.link(cam)
scene.camera = cam
scene.render.resolution_x, scene.render.resolution_y = 32, 24
scene.cycles.samples = 1
scene.frame_start, scene.frame_end = 1, 2
mover = plane("Mover", -1.0, -0.5, -0.5, 0.0)      # 5x5 pixels at 0.1 units per pixel
marking.mark(mover, "thing")

class Shift(hooks.FrameHook):
    """Moves the object by 0.1 (one pixel) per run frame, from (seed, index) alone."""
    def start(self, scene):
        self.x = bpy.data.objects["Mover"].location.x
        res.setdefault("hook", []).append("start")
    def before_frame(self, scene, index, seed):
        bpy.data.objects["Mover"].location.x = self.x + 0.1 * index + seed
        res["hook"].append(["frame", index, seed])
    def record(self, scene, index, seed):
        return {"randomize": {"shift_px": index}}
    def finish(self, scene):
        bpy.data.objects["Mover"].location.x = self.x
        res["hook"].append("finish")

job = pipeline.RenderJob(RenderConfig(out=str(out / "job"), frames=3, samples=1), scene, hooks=[Shift()])
res["before_start"] = [job.total, job.done]
job.start()
res["steps"] = [job.render_next() for _ in range(4)]
res["done"] = job.done
res["mover_pass_index_during"] = bpy.data.objects["Mover"].pass_index
res["finish"] = str(job.finish().files["instances"])
res["mover_after"] = [bpy.data.objects["Mover"].location.x, bpy.data.objects["Mover"].pass_index]

job = pipeline.RenderJob(RenderConfig(out=str(out / "aborted"), frames=3), scene)
job.render_next()
job.abort()
res["after_abort"] = [bpy.data.objects["Mover"].pass_index, scene.render.engine]

# plain callables work as before_frame hooks; percentage and JPEG; stale frames of a longer run go
pipeline.render_dataset(RenderConfig(out=str(out / "small"), frames=3), scene)
calls = []
pipeline.render_dataset(RenderConfig(out=str(out / "small"), frames=1, resolution=(40, 30), resolution_percentage=50,
                                     image_format="JPEG", overwrite=True), scene, hooks=[lambda s, i, seed: calls.append(i)])
res["callable_hook"] = calls

# early errors leave the scene untouched
engine = scene.render.engine
res["gpu"] = error(lambda: pipeline.RenderJob(RenderConfig(out=str(out / "gpu"), device="GPU"), scene).start())
scene.camera = None
res["no_camera"] = error(lambda: pipeline.RenderJob(RenderConfig(out=str(out / "nocam")), scene).start())
scene.camera = cam
res["no_camera_wrote"] = (out / "nocam").exists()

# collection instances: the copies take the instancer's index; one source copied by two instances cannot
assets = bpy.data.collections.new("Assets"); scene.collection.children.link(assets)
bpy.context.view_layer.layer_collection.children["Assets"].exclude = True    # the usual asset set-up
plane("Asset", 0.0, 0.0, 0.4, 0.3, collection=assets)                          # 4x3 pixels at the origin
def instancer(name, x):
    e = bpy.data.objects.new(name, None); e.instance_type = "COLLECTION"; e.instance_collection = assets
    e.location = (x, 0.0, 0.0); scene.collection.objects.link(e); return e
first = instancer("CopyA", 0.5)
marking.mark(first, "asset")
res["instanced"] = str(pipeline.render_dataset(RenderConfig(out=str(out / "instanced")), scene).files["instances"])
res["asset_pass_index_after"] = bpy.data.objects["Asset"].pass_index
second = instancer("CopyB", -1.5)
marking.mark(second, "asset")
res["instanced_twice"] = str(pipeline.render_dataset(RenderConfig(out=str(out / "instanced_twice")), scene).files["instances"])
bpy.data.objects.remove(first); bpy.data.objects.remove(second)

# no marked object: a warning naming the property, and an empty dataset
marking.unmark(bpy.data.objects["Mover"])
res["unmarked_path"] = str(pipeline.render_dataset(RenderConfig(out=str(out / "unmarked")), scene).files["instances"])

# beyond 32767 instances (last: removing 32767 objects takes seconds)
marking.mark(bpy.data.objects["Mover"], "thing")
extra = [bpy.data.objects.new(f"e{i:05d}", None) for i in range(32767)]  # + Mover = 32768 marked objects
for e in extra:
    scene.collection.objects.link(e); e["coco_category"] = "x"
res["too_many"] = error(lambda: pipeline.RenderJob(RenderConfig(out=str(out / "many")), scene).start())
res["engine_unchanged"] = scene.render.engine == engine and bpy.data.objects["Mover"].pass_index == 0
res["logs"] = logs
(out / "result.json").write_text(json.dumps(res))
'''


@pytest.fixture(scope="module")
def result(tmp_path_factory, run_bpy):
    out = tmp_path_factory.mktemp("api")
    run_bpy(SCRIPT, str(out), what="RenderJob API script")
    res = json.loads((out / "result.json").read_text())
    res["out"] = out
    return res


def test_mark_and_unmark_edit_the_custom_properties(result):
    assert result["super_set"] == ["robot", "machine"]
    assert result["super_cleared"] is None  # mark() without supercategory removes an old one
    assert result["unmark_keeps_keypoints"] == ["coco_keypoints"]
    assert result["empty_name"] == "object 'Loose': category must be a non-empty name, got '  '"


def test_nearest_marked_ancestor_decides_the_instance(result):
    assert result["instance_of"] == {"Parent": "Parent", "Child": "Parent", "MarkedChild": "MarkedChild", "Loose": None}
    assert result["roots"] == ["MarkedChild", "Parent"]
    assert result["counts"] == {"arm": 1, "robot": 1}
    assert result["pass_indices"] == {"MarkedChild": 1, "Parent": 2, "Child": 2, "Loose": 0}


def test_malformed_marks_are_one_line_errors_naming_the_objects(result):
    assert result["bad_value"].startswith("object 'Loose': coco_category must be a non-empty text")
    assert "'Loose'" in result["super_conflict"] and "'Parent'" in result["super_conflict"]
    assert "\n" not in result["bad_value"] + result["super_conflict"]


def test_hidden_excluded_and_hide_render_objects_do_not_render(result):
    assert result["rendered"] == ["Child", "MarkedChild", "Parent"]


def test_render_next_renders_one_frame_per_call_then_reports_done(result):
    assert result["before_start"] == [3, 0]
    assert result["steps"] == [True, True, True, False]
    assert result["done"] == 3
    assert result["hook"] == ["start", ["frame", 0, 0], ["frame", 1, 0], ["frame", 2, 0], "finish"]


def test_frames_loop_over_the_scene_range_and_hooks_change_each_frame(result):
    records = [json.loads((result["out"] / "job" / "records" / f"{i:06d}.json").read_text()) for i in range(3)]
    assert [r["scene_frame"] for r in records] == [1, 2, 1]
    assert [r["randomize"] for r in records] == [{"shift_px": 0}, {"shift_px": 1}, {"shift_px": 2}]  # hook.record
    coco = load_coco(result["finish"])
    boxes = [a["bbox"] for a in coco.dataset["annotations"]]
    assert boxes == [[6, 12, 5, 5], [7, 12, 5, 5], [8, 12, 5, 5]]  # the hook moved it one pixel per frame


def test_finish_and_abort_restore_the_scene(result):
    assert result["mover_pass_index_during"] == 1
    assert result["mover_after"] == [pytest.approx(0.0), 0]  # the hook's finish ran, pass index restored
    assert result["after_abort"][0] == 0 and result["after_abort"][1] != "CYCLES"
    aborted = result["out"] / "aborted"
    assert (aborted / "records" / "000000.json").is_file()  # completed frames stay
    assert not (aborted / "records" / "000001.json").exists() and not (aborted / "annotations").exists()


def test_percentage_jpeg_and_stale_frames(result):
    small = result["out"] / "small"
    assert sorted(p.name for p in (small / "images").iterdir()) == ["000000.jpg"]
    assert sorted(p.name for p in (small / "records").iterdir()) == ["000000.exr", "000000.json"]
    with Image.open(small / "images" / "000000.jpg") as im:
        assert (im.format, im.size) == ("JPEG", (20, 15))
    record = json.loads((small / "records" / "000000.json").read_text())
    assert (record["width"], record["height"], record["image"]) == (20, 15, "000000.jpg")
    assert load_coco(small / "annotations" / "instances.json").dataset["images"][0]["file_name"] == "000000.jpg"
    assert result["callable_hook"] == [0]
    assert any("removing 2 frame file" in m or "removing" in m for _, m in result["logs"])


def test_early_errors_are_one_line_and_change_nothing(result):
    assert result["no_camera"] == "scene 'Scene' has no camera; add one or set scene.camera"
    assert result["no_camera_wrote"] is False
    assert result["too_many"].startswith("scene 'Scene' has 32768 marked objects")
    assert "32767" in result["too_many"]
    assert result["engine_unchanged"] is True
    if result["gpu"] is not None:  # None: this machine has a GPU Cycles can use
        assert "--device CPU" in result["gpu"] and "\n" not in result["gpu"]


def test_no_marked_object_warns_and_writes_an_empty_dataset(result):
    warnings = [m for level, m in result["logs"] if level == "WARNING"]
    assert any("no object marked" in m and "'coco_category'" in m for m in warnings)
    coco = load_coco(result["unmarked_path"])
    assert len(coco.dataset["images"]) == 1 and coco.dataset["annotations"] == []


def test_collection_instances_are_annotated_as_their_instancer(result):
    coco = load_coco(result["instanced"])
    boxes = {coco.cats[a["category_id"]]["name"]: a["bbox"] for a in coco.dataset["annotations"]}
    assert boxes == {"thing": [6, 12, 5, 5], "asset": [21, 9, 4, 3]}  # copy at x = 0.5: column 16 + 5
    assert result["asset_pass_index_after"] == 0


def test_one_source_copied_by_two_marked_instances_gives_two_annotations(result):
    """Each marked collection instance is its own annotation even when both copy one object
    (issue 10); CopyB sits 2 units = 20 px left. 'Asset' has no material, so no instance id:
    the copies are told apart by position, and one warning says so."""
    coco = load_coco(result["instanced_twice"])
    boxes = sorted(a["bbox"] for a in coco.dataset["annotations"] if coco.cats[a["category_id"]]["name"] == "asset")
    assert boxes == [[1, 9, 4, 3], [21, 9, 4, 3]]
    warnings = [m for level, m in result["logs"] if level == "WARNING" and "'Asset'" in m]
    assert len(warnings) == 1 and "no material" in warnings[0]

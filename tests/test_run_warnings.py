"""Say what the run changes or cannot annotate: one warning line each (issue 10 item 3, issue 15 item 7).

One bpy-module process builds small scenes and runs the real RenderJob on them
(32x24, one sample), collecting what blender-coco logs; the add-on's render operator
runs on one of them and must report the same lines. Each test asserts that a warning
appears exactly once, names the object or setting and the fix, and that the silent
cases (an excluded asset collection shown through a collection instance, the scene
camera alone) stay silent.
"""

from __future__ import annotations

import json
import sys

import pytest
from cocotools import load_coco

SCRIPT = r'''
import json, logging, sys
from pathlib import Path
import bpy
from blender_coco.blender import marking, pipeline
from blender_coco.config import RenderConfig
from blender_coco.errors import UserError

out = Path(sys.argv[1])
res = {}
logs = []
class Collect(logging.Handler):
    def emit(self, record):
        if record.levelno >= logging.WARNING:
            logs.append(record.getMessage())
logging.getLogger("blender_coco").addHandler(Collect())

def plane(name, x0, y0, x1, y1, collection=None):
    me = bpy.data.meshes.new(name)
    me.from_pydata([(x0, y0, 0), (x1, y0, 0), (x1, y1, 0), (x0, y1, 0)], [], [(0, 1, 2, 3)])
    ob = bpy.data.objects.new(name, me)
    (collection or bpy.context.scene.collection).objects.link(ob)
    return ob

def base():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    cam.data.type = "ORTHO"; cam.data.ortho_scale = 3.2; cam.location = (0, 0, 10)
    scene.collection.objects.link(cam); scene.camera = cam
    scene.render.resolution_x, scene.render.resolution_y = 32, 24
    scene.render.engine = "CYCLES"
    scene.cycles.samples = 1
    scene.cycles.use_denoising = False
    return scene

def run(name, scene, render=False):
    """Start a job (or render one frame) and return the warnings it logged."""
    del logs[:]
    config = RenderConfig(out=str(out / name), frames=1, samples=1)
    if render:
        pipeline.render_dataset(config, scene)
    else:
        job = pipeline.RenderJob(config, scene)
        job.start()
        job.abort()
    return list(logs)

# a clean scene: one marked plane, Cycles, one camera -> no warning
scene = base()
marking.mark(plane("Box", -0.5, -0.5, 0.5, 0.5), "box")
res["clean"] = run("clean", scene, render=True)

# engines
for engine in ("BLENDER_EEVEE", "BLENDER_WORKBENCH"):
    scene.render.engine = engine
    res[engine] = [run(engine, scene), scene.render.engine]
scene.render.engine = "CYCLES"

# a second and third camera (and one bound to a marker, which renders on its frames)
for name in ("Side", "Top", "Marked"):
    o = bpy.data.objects.new(name, bpy.data.cameras.new(name)); scene.collection.objects.link(o)
res["cameras"] = run("cameras", scene)
scene.timeline_markers.new("F50", frame=50).camera = bpy.data.objects["Marked"]   # now the markers decide
res["marker_cameras"] = run("marker_cameras", scene)
scene.timeline_markers.clear()
scene.camera = bpy.data.objects["Cam"]
for name in ("Side", "Top", "Marked"):
    bpy.data.objects.remove(bpy.data.objects[name])

# marked objects that render nowhere, and one that renders through a collection instance
assets = bpy.data.collections.new("Assets"); scene.collection.children.link(assets)
hidden = bpy.data.collections.new("HiddenColl"); scene.collection.children.link(hidden); hidden.hide_render = True
nested = bpy.data.collections.new("Nested"); assets.children.link(nested)
layer = bpy.context.view_layer
layer.layer_collection.children["Assets"].exclude = True
marking.mark(plane("Lamp", 0.6, 0.6, 0.9, 0.9, collection=assets), "lamp")        # shown by the instance below
marking.mark(plane("Chair", 0.6, 0.6, 0.9, 0.9, collection=nested), "chair")      # shown by the instance too
marking.mark(plane("Ghost", 0.6, 0.6, 0.9, 0.9), "ghost"); bpy.data.objects["Ghost"].hide_render = True
marking.mark(plane("Vase", 0.6, 0.6, 0.9, 0.9, collection=hidden), "vase")
shelf = bpy.data.collections.new("Shelf"); scene.collection.children.link(shelf)
layer.layer_collection.children["Shelf"].exclude = True
marking.mark(plane("Book", 0.6, 0.6, 0.9, 0.9, collection=shelf), "book")          # its instancer is hidden
inst = bpy.data.objects.new("LampInstance", None); inst.instance_type = "COLLECTION"; inst.instance_collection = assets
scene.collection.objects.link(inst)
dead = bpy.data.objects.new("ShelfInstance", None); dead.instance_type = "COLLECTION"; dead.instance_collection = shelf
scene.collection.objects.link(dead); dead.hide_render = True
# geometry nodes and particles copying marked objects of an excluded collection (the one disabled for render: warned)
props = bpy.data.collections.new("Props"); scene.collection.children.link(props)
layer.layer_collection.children["Props"].exclude = True
def scatter(name, source, show_render=True):
    host = plane(name, -1.0, -1.0, -0.5, -0.5)
    tree = bpy.data.node_groups.new(name, "GeometryNodeTree")
    tree.interface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
    tree.interface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    n = tree.nodes
    gin, gout = n.new("NodeGroupInput"), n.new("NodeGroupOutput")
    points, inst, info = n.new("GeometryNodeMeshToPoints"), n.new("GeometryNodeInstanceOnPoints"), n.new("GeometryNodeObjectInfo")
    info.inputs["Object"].default_value = source
    tree.links.new(gin.outputs[0], points.inputs["Mesh"])
    tree.links.new(points.outputs["Points"], inst.inputs["Points"])
    tree.links.new(info.outputs["Geometry"], inst.inputs["Instance"])
    tree.links.new(inst.outputs["Instances"], gout.inputs[0])
    mod = host.modifiers.new("Scatter", "NODES"); mod.node_group = tree; mod.show_render = show_render
    return host
marking.mark(plane("Pebble", 0, 0, 0.1, 0.1, collection=props), "pebble")
marking.mark(plane("Rock", 0, 0, 0.1, 0.1, collection=props), "rock")
scatter("PebbleScatter", bpy.data.objects["Pebble"])
scatter("RockScatter", bpy.data.objects["Rock"], show_render=False)
marking.mark(plane("Seed", 0, 0, 0.1, 0.1, collection=props), "seed")
emitter = plane("Emitter", 0.5, -1.0, 1.0, -0.5)
emitter.modifiers.new("Particles", "PARTICLE_SYSTEM")
settings = emitter.particle_systems[0].settings
settings.count = 4; settings.render_type = "OBJECT"; settings.instance_object = bpy.data.objects["Seed"]
res["nowhere"] = run("nowhere", scene)
res["nowhere_render"] = run("nowhere_render", scene, render=True)  # the same scene renders (warnings once per run)
for name in ("Pebble", "Rock", "Seed", "PebbleScatter", "RockScatter", "Emitter"):
    bpy.data.objects.remove(bpy.data.objects[name])

# category names with spaces, a supercategory that is not text
for name in ("Lamp", "Chair", "Ghost", "Vase", "Book"):
    bpy.data.objects.remove(bpy.data.objects[name])
bpy.data.objects.remove(inst); bpy.data.objects.remove(dead)
a = plane("BoxA", -1.5, -1.0, -1.0, -0.5); a["coco_category"] = " box"
b = plane("BoxB", 1.0, 0.5, 1.5, 1.0); b["coco_category"] = "box "
res["spaces"] = run("spaces", scene, render=True)
res["spaces_sidecar"] = json.loads((out / "spaces" / "records" / "000000.json").read_text())
b["coco_supercategory"] = 7
try:
    run("super7", scene)
    res["super7"] = None
except UserError as exc:
    res["super7"] = str(exc)
del b["coco_supercategory"]

# the add-on's operator reports the same warnings
import blender_coco
blender_coco.register()
scene.render.engine = "BLENDER_WORKBENCH"
scene.blender_coco.output_dir = str(out / "addon")
scene.blender_coco.frames = 1
del logs[:]
res["addon_result"] = sorted(bpy.ops.blender_coco.render())
res["addon_logs"] = list(logs)
from blender_coco.blender import addon_render
w = addon_render.WarningLog()
with w:
    logging.getLogger("blender_coco.blender.pipeline").warning("probe %s", 1)
res["warning_log"] = [w.take(), w.take()]
(out / "result.json").write_text(json.dumps(res))
'''


@pytest.fixture(scope="module")
def res(tmp_path_factory, run_bpy):
    out = tmp_path_factory.mktemp("warnings")
    proc = run_bpy(SCRIPT, str(out), what="run warnings script")
    data = json.loads((out / "result.json").read_text())
    data["out"], data["stdout"] = out, proc.stdout
    return data


def test_a_clean_scene_renders_without_a_warning(res):
    assert res["clean"] == []


@pytest.mark.parametrize("engine, shown", [("BLENDER_EEVEE", "Eevee"), ("BLENDER_WORKBENCH", "Workbench")])
def test_switching_the_engine_to_cycles_is_said_once(res, engine, shown):
    warnings, after = res[engine]
    assert len(warnings) == 1 and after == engine  # the scene's own setting is put back
    assert f"set to render with {shown}" in warnings[0] and "Render Engine to Cycles" in warnings[0]


BINARY_SCRIPT = r'''
import json, logging, sys
import bpy
from blender_coco.blender import pipeline
from blender_coco.config import RenderConfig
logs = []
class Collect(logging.Handler):
    def emit(self, record):
        logs.append(record.getMessage())
logging.getLogger("blender_coco").addHandler(Collect())
scene = bpy.context.scene
scene.render.engine = "CYCLES"
scene.cycles.use_denoising = True
job = pipeline.RenderJob(RenderConfig(out=sys.argv[-2], frames=1, samples=1, python=sys.argv[-1]), scene)
job.start()
during = scene.cycles.use_denoising
job.abort()
print("RESULT " + json.dumps({"logs": [m for m in logs if "enois" in m], "during": during,
                              "after": scene.cycles.use_denoising}))
'''


def test_turning_the_denoiser_off_is_said_once_naming_the_setting(tmp_path, run, blender_binary):
    """Debian's Blender 3.4 has no OpenImageDenoise: the run renders without denoising and says so."""
    script = tmp_path / "denoise.py"
    script.write_text(BINARY_SCRIPT)
    proc = run([blender_binary, "-b", "--factory-startup", "--python-exit-code", "1", "-P", script, "--",
                tmp_path / "ds", sys.executable], "blender -b denoiser script")
    facts = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1][7:])
    assert facts["during"] is False and facts["after"] is True  # off for the run, put back after
    assert len(facts["logs"]) == 1
    assert "denoising is turned off for this run (Render Properties > Sampling > Render > Denoise)" in facts["logs"][0]
    assert "raise the samples" in facts["logs"][0]


def test_cameras_that_do_not_render_are_named(res):
    assert len(res["cameras"]) == 1
    line = res["cameras"][0]
    assert "3 camera(s) that do not render ('Marked', 'Side', 'Top'); only the scene camera 'Cam' renders" in line
    assert "--cameras" in line and "the scene camera" in line
    (line,) = res["marker_cameras"]  # a marker binding a camera decides every frame's camera
    assert "3 camera(s) that do not render ('Cam', 'Side', 'Top'); only the cameras its timeline markers bind " \
           "('Marked') renders" in line


def test_a_marked_object_that_renders_nowhere_is_named_with_its_reason(res):
    lines = res["nowhere"]
    by_object = {name: [l for l in lines if f"marked object {name!r}" in l] for name in
                 ("Ghost", "Vase", "Book", "Lamp", "Chair", "Pebble", "Rock", "Seed")}
    assert len(lines) == 4
    assert "collection 'Props' is excluded from view layer" in by_object["Rock"][0]  # its scatter is off for render
    assert by_object["Pebble"] == by_object["Seed"] == []  # copied by geometry nodes, by a particle system
    assert [l for l in res["nowhere_render"] if l.startswith("marked object")] == lines
    assert "hidden from render (hide_render)" in by_object["Ghost"][0]
    assert "collection 'HiddenColl' is hidden from render" in by_object["Vase"][0]
    assert "collection 'Shelf' is excluded from view layer" in by_object["Book"][0]  # its only instancer is hidden
    assert by_object["Lamp"] == by_object["Chair"] == []  # rendered through the visible collection instance


def test_category_names_with_spaces_are_stripped_with_one_warning_naming_the_objects(res):
    assert len(res["spaces"]) == 1
    assert "'BoxA', 'BoxB'" in res["spaces"][0] and "'box'" in res["spaces"][0]
    side = res["spaces_sidecar"]
    assert [c["name"] for c in side["categories"]] == ["box"]
    assert sorted(i["category"] for i in side["instances"]) == ["box", "box", "box"]
    coco = load_coco(res["out"] / "spaces" / "annotations" / "instances.json")
    assert [c["name"] for c in coco.dataset["categories"]] == ["box"] and len(coco.dataset["annotations"]) == 3


def test_a_supercategory_that_is_not_text_is_an_error_naming_the_object(res):
    assert res["super7"].startswith("object 'BoxB': coco_supercategory must be a text")
    assert "got 7" in res["super7"]


def test_the_addon_reports_the_same_warnings(res):
    assert res["addon_result"] == ["FINISHED"]
    (engine,) = [line for line in res["addon_logs"] if "set to render with Workbench" in line]
    assert f"Warning: {engine}" in res["stdout"].splitlines()  # the operator's WARNING report, as Blender prints it
    assert res["warning_log"] == [["probe 1"], []]

"""Annotations follow the render's settings where the viewport's differ (blender/render_match.py).

One bpy-module process builds four small scenes (orthographic camera straight down) and
renders each with the pipeline:

* particles: an emitter with one particle on each of 12 grid vertices, instancing a
  marked cube, Viewport Display Amount 10% and display "Point": the truth is the same
  scene rendered at 100% display as rendered (12 copies, all in frame by construction);
* a cube whose Subdivision Surface has viewport level 0 and render level 2, and a cube
  whose Array modifier renders but is off in the viewport: fully visible objects, so the
  amodal mask must equal the visible one (before, the silhouette was the level-0 cube /
  the single cube);
* a scene where every matched viewport setting differs from its render value: each is
  back to its value after a finished run and after a cancelled one (``abort``), and
  matched while the run is on;
* geometry nodes reading Is Viewport (inside a nested group), a marked object whose material
  displaces its surface at render time: one warning line each;
* an animated armature hidden in the viewport (its collection's monitor icon off): its
  keypoints are those of the rendered frame, by the analytic projection. (This one held
  before render_match too: Blender evaluates the hidden rig's animation; it guards the claim.)

The first scenes (and the rig) run again in Debian's Blender 3.4 binary: same records.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from cocotools import load_coco
from pixels import iou
from pycocotools import mask as mask_utils

SCRIPT = r"""
import json, logging, sys
import bpy
from blender_coco.blender import marking, pipeline
from blender_coco.config import ExportConfig, RenderConfig

out = sys.argv[sys.argv.index("--") + 1] if "--" in sys.argv else sys.argv[1]  # bpy module or blender -b
result = {}

def save():
    with open(out + "/result.json", "w") as fh:
        json.dump(result, fh)

def fresh(width=64, height=48, ortho=6.4, samples=16):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = width, height, 100
    scene.render.engine = "CYCLES"
    scene.cycles.samples = samples
    scene.frame_start = scene.frame_end = 1
    cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    cam.data.type = "ORTHO"; cam.data.ortho_scale = ortho
    cam.location = (0.0, 0.0, 10.0)
    scene.collection.objects.link(cam); scene.camera = cam
    return scene

def render(scene, name):
    pipeline.render_dataset(RenderConfig(out=f"{out}/{name}", export=ExportConfig(segmentation="rle")), scene)

def particles(percentage, method):
    scene = fresh()
    mesh = bpy.data.meshes.new("grid")
    mesh.from_pydata([(-1.8 + 1.2 * i, -1.2 + 1.2 * j, 0.0) for i in range(4) for j in range(3)], [], [])
    emitter = bpy.data.objects.new("emitter", mesh); scene.collection.objects.link(emitter)
    bpy.ops.mesh.primitive_cube_add(size=0.6, location=(40.0, 0.0, 0.0))  # edges on pixel edges
    cube = bpy.context.object; cube.name = "pebble"
    stone = bpy.data.materials.new("stone"); stone.use_nodes = True  # copies write their instance id through it
    cube.data.materials.append(stone)
    marking.mark(cube, "pebble")
    ps = emitter.modifiers.new("scatter", "PARTICLE_SYSTEM").particle_system.settings
    ps.count, ps.emit_from, ps.use_emit_random = 12, "VERT", False
    ps.frame_start = ps.frame_end = 1; ps.lifetime = 100; ps.physics_type = "NO"
    ps.render_type, ps.instance_object, ps.particle_size = "OBJECT", cube, 1.0
    ps.use_rotations, ps.rotation_mode = True, "NONE"  # copies axis-aligned: every edge on a pixel edge
    ps.display_percentage, ps.display_method = percentage, method
    dg = bpy.context.evaluated_depsgraph_get()
    viewport = sum(1 for i in dg.object_instances if i.is_instance)
    render(scene, f"particles{percentage}")
    return {"viewport_before": viewport, "after": [ps.display_percentage, ps.display_method]}

result["p10"] = particles(10, "DOT")
result["p100"] = particles(100, "RENDER")

scene = fresh(128, 96, 6.4)
bpy.ops.mesh.primitive_cube_add(size=3.0, location=(-1.3, 0.0, 0.0))
soft = bpy.context.object; soft.name = "soft"; marking.mark(soft, "soft")
sub = soft.modifiers.new("subdivide", "SUBSURF"); sub.levels, sub.render_levels = 0, 2
bpy.ops.mesh.primitive_cube_add(size=0.5, location=(1.0, -1.5, 0.0))
row = bpy.context.object; row.name = "row"; marking.mark(row, "row")
arr = row.modifiers.new("array", "ARRAY"); arr.count = 3; arr.relative_offset_displace = (0.0, 2.0, 0.0)
arr.show_viewport = False
render(scene, "modifiers")
result["modifiers_after"] = [sub.levels, arr.show_viewport]

# an armature animated from x = 0 (frame 1) to x = 2 (frame 5), hidden in the viewport with its mesh
# (a collection with the monitor icon off); the run renders frame 5 from a scene left at frame 1
scene = fresh()
rig = bpy.data.objects.new("rig", bpy.data.armatures.new("rig")); scene.collection.objects.link(rig)
bpy.context.view_layer.objects.active = rig
bpy.ops.object.mode_set(mode="EDIT")
bone = rig.data.edit_bones.new("Bone"); bone.head, bone.tail = (0.0, 0.0, 0.0), (0.0, 1.0, 0.0)
bpy.ops.object.mode_set(mode="OBJECT")
pose = rig.pose.bones["Bone"]
pose.location = (0.0, 0.0, 0.0); pose.keyframe_insert("location", frame=1)
pose.location = (2.0, 0.0, 0.0); pose.keyframe_insert("location", frame=5)
bpy.ops.mesh.primitive_cube_add(size=0.5)
body = bpy.context.object; body.parent = rig
marking.mark(rig, "rig"); rig["coco_keypoints"] = '[["root", "Bone"]]'
hidden = bpy.data.collections.new("hidden"); scene.collection.children.link(hidden)
for obj in (rig, body):
    hidden.objects.link(obj); scene.collection.objects.unlink(obj)
hidden.hide_viewport = True
scene.frame_start = scene.frame_end = 5
scene.frame_set(1)
render(scene, "rig")
save()

"""

SCRIPT_5 = r"""
def settings_scene():
    scene = fresh(32, 24, samples=1)
    scene.render.use_simplify = True
    scene.render.simplify_subdivision, scene.render.simplify_subdivision_render = 0, 3
    scene.render.simplify_child_particles, scene.render.simplify_child_particles_render = 0.2, 1.0
    bpy.ops.mesh.primitive_cube_add(size=0.5)
    cube = bpy.context.object; cube.name = "cube"; marking.mark(cube, "cube")
    sub = cube.modifiers.new("sub", "SUBSURF"); sub.levels, sub.render_levels = 1, 2
    multi = cube.modifiers.new("multi", "MULTIRES")
    bpy.context.view_layer.objects.active = cube
    bpy.ops.object.multires_subdivide(modifier="multi", mode="CATMULL_CLARK")
    multi.levels, multi.render_levels = 0, 1
    off = cube.modifiers.new("bevel", "BEVEL"); off.show_viewport = False
    bpy.ops.mesh.primitive_plane_add(size=1.0, location=(0.0, 0.0, -1.0))
    em = bpy.context.object; em.name = "emitter"
    em.show_instancer_for_viewport = False
    ps = em.modifiers.new("ps", "PARTICLE_SYSTEM").particle_system.settings
    ps.count = 5; ps.render_type, ps.instance_object = "OBJECT", cube
    ps.display_percentage, ps.display_method, ps.display_step, ps.render_step = 10, "NONE", 2, 4
    ps.child_type, ps.child_percent, ps.rendered_child_count = "SIMPLE", 3, 20
    bpy.ops.curve.primitive_bezier_circle_add(location=(0.0, 0.0, -2.0))
    curve = bpy.context.object; curve.name = "curve"
    curve.data.resolution_u, curve.data.render_resolution_u = 2, 24
    bpy.ops.object.metaball_add(location=(0.0, 0.0, -3.0))
    ball = bpy.context.object; ball.name = "ball"
    ball.data.resolution, ball.data.render_resolution = 0.4, 0.1
    bpy.ops.mesh.primitive_cube_add(size=0.2, location=(1.0, 0.0, 0.0))
    eye = bpy.context.object; eye.name = "eye"
    bpy.ops.mesh.primitive_cube_add(size=0.2, location=(-1.0, 0.0, 0.0))
    monitor = bpy.context.object; monitor.name = "monitor"; monitor.hide_viewport = True
    coll = bpy.data.collections.new("hidden"); scene.collection.children.link(coll)
    bpy.ops.mesh.primitive_cube_add(size=0.2, location=(0.0, 1.0, 0.0))
    inner = bpy.context.object; inner.name = "inner"
    coll.objects.link(inner); scene.collection.objects.unlink(inner)
    coll.hide_viewport = True
    coll2 = bpy.data.collections.new("eyeless"); scene.collection.children.link(coll2)
    bpy.ops.mesh.primitive_cube_add(size=0.2, location=(0.0, -1.0, 0.0))
    inner2 = bpy.context.object; inner2.name = "inner2"
    coll2.objects.link(inner2); scene.collection.objects.unlink(inner2)
    bpy.context.view_layer.layer_collection.children["eyeless"].hide_viewport = True
    eye.hide_set(True)
    return scene

def state(scene):
    o = bpy.data.objects
    ps = o["emitter"].particle_systems[0].settings
    lc = bpy.context.view_layer.layer_collection.children["eyeless"]
    return {
        "simplify_subdivision": scene.render.simplify_subdivision,
        "simplify_child_particles": round(scene.render.simplify_child_particles, 4),
        "subsurf_levels": o["cube"].modifiers["sub"].levels,
        "multires_levels": o["cube"].modifiers["multi"].levels,
        "bevel_show_viewport": o["cube"].modifiers["bevel"].show_viewport,
        "show_instancer_for_viewport": o["emitter"].show_instancer_for_viewport,
        "display_percentage": ps.display_percentage, "display_method": ps.display_method,
        "display_step": ps.display_step, "child_percent": ps.child_percent,
        "curve_resolution_u": o["curve"].data.resolution_u,
        "metaball_resolution": round(o["ball"].data.resolution, 4),
        "eye_hidden": o["eye"].hide_get(), "monitor_hidden": o["monitor"].hide_viewport,
        "collection_hidden": bpy.data.collections["hidden"].hide_viewport,
        "layer_collection_hidden": lc.hide_viewport,
    }

scene = settings_scene()
result["settings_before"] = state(scene)
job = pipeline.RenderJob(RenderConfig(out=f"{out}/settings", frames=1, export=ExportConfig(segmentation="rle")), scene)
job.start()
result["settings_during"] = state(scene)
while job.render_next():
    pass
job.finish()
result["settings_after"] = state(scene)
scene = settings_scene()
job = pipeline.RenderJob(RenderConfig(out=f"{out}/cancelled", frames=3), scene)
job.start()
job.render_next()
job.abort()
result["settings_cancelled"] = state(scene)

scene = fresh(32, 24, samples=1)
bpy.ops.mesh.primitive_cube_add(size=1.0)
cube = bpy.context.object; cube.name = "scattered"; marking.mark(cube, "thing")
inner = bpy.data.node_groups.new("inner", "GeometryNodeTree")
inner.nodes.new("GeometryNodeIsViewport")
outer = bpy.data.node_groups.new("outer", "GeometryNodeTree")
outer.interface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
outer.interface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
gin, gout = outer.nodes.new("NodeGroupInput"), outer.nodes.new("NodeGroupOutput")
outer.links.new(gin.outputs[0], gout.inputs[0])
outer.nodes.new("GeometryNodeGroup").node_tree = inner
mod = cube.modifiers.new("scatter", "NODES"); mod.node_group = outer
plain = bpy.data.node_groups.new("plain", "GeometryNodeTree")
bpy.ops.mesh.primitive_cube_add(size=0.5, location=(1.0, 0.0, 0.0))
bpy.context.object.modifiers.new("plain", "NODES").node_group = plain
def displaced(name, method, category):
    bpy.ops.mesh.primitive_cube_add(size=0.3, location=(-1.0, 0.0, 0.0))
    obj = bpy.context.object; obj.name = name
    mat = bpy.data.materials.new(name); mat.use_nodes = True; mat.displacement_method = method
    tree = mat.node_tree
    tree.links.new(tree.nodes.new("ShaderNodeDisplacement").outputs[0],
                   tree.nodes["Material Output"].inputs["Displacement"])
    obj.data.materials.append(mat)
    if category:
        marking.mark(obj, category)

displaced("bumpy", "BUMP", "thing")           # bump only: the surface stays where the mesh is
displaced("unmarked", "DISPLACEMENT", None)   # not annotated: no amodal mask to get wrong
displaced("shifted", "BOTH", "thing")
lines = []
class Catch(logging.Handler):
    def emit(self, record):
        lines.append(record.getMessage())
logging.getLogger("blender_coco").addHandler(Catch(logging.WARNING))
job = pipeline.RenderJob(RenderConfig(out=f"{out}/isviewport", frames=1), scene)
job.start()
job.abort()
result["warnings"] = lines
save()
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory, run_bpy):
    out = tmp_path_factory.mktemp("render_match")
    run_bpy(SCRIPT + SCRIPT_5, str(out), what="render-match scenes")
    return out, json.loads((out / "result.json").read_text())


def _masks(folder) -> list[np.ndarray]:
    coco = load_coco(folder / "annotations" / "instances.json")
    return [coco.annToMask(a).astype(bool) for a in coco.dataset["annotations"]]


def test_particles_at_10_percent_viewport_display_give_every_rendered_copy(runs):
    out, result = runs
    assert result["p10"]["viewport_before"] == 0  # the viewport lists none of them (display "Point")
    assert result["p100"]["viewport_before"] == 12
    low, truth = _masks(out / "particles10"), _masks(out / "particles100")
    assert len(truth) == 12 and len(low) == 12
    for mask in truth:  # each copy's mask is the same as in the 100% scene
        assert max(iou(mask, m) for m in low) == 1.0
    assert result["p10"]["after"] == [10, "DOT"]  # the user's setting is back


def _by_category(folder) -> dict:
    coco = load_coco(folder / "annotations" / "instances.json")
    names = {c["id"]: c["name"] for c in coco.dataset["categories"]}
    return {names[a["category_id"]]: (coco.annToMask(a).astype(bool),
                                     mask_utils.decode(a["amodal_segmentation"]).astype(bool))
            for a in coco.dataset["annotations"]}


def test_amodal_mask_of_a_fully_visible_subdivided_object_is_its_visible_mask(runs):
    out, result = runs
    visible, amodal = _by_category(out / "modifiers")["soft"]
    assert visible.sum() > 1000
    assert iou(visible, amodal) >= 0.99
    assert result["modifiers_after"] == [0, False]


def test_silhouette_follows_a_modifier_enabled_for_render_only(runs):
    out, _ = runs
    visible, _ = _by_category(out / "modifiers")["row"]
    # the sidecar's silhouette itself (the export adds the visible mask to it, which would hide a short one)
    sidecar = json.loads((out / "modifiers" / "records" / "000000.json").read_text())
    entry = next(i for i in sidecar["instances"] if i["object"] == "row")
    silhouette = mask_utils.decode({"size": list(visible.shape), "counts": entry["amodal"]["counts"]}).astype(bool)
    assert iou(visible, silhouette) >= 0.97
    rows = np.flatnonzero(visible.any(axis=1))
    assert rows.max() - rows.min() + 1 >= 40  # three cubes 1 unit apart: 50 rows, one cube 10


def test_every_matched_setting_is_back_after_a_run_and_after_a_cancelled_one(runs):
    _, result = runs
    before, during = result["settings_before"], result["settings_during"]
    assert result["settings_after"] == before
    assert result["settings_cancelled"] == before
    changed = {k for k in before if before[k] != during[k]}
    assert changed == set(before)  # every one differed from the render's value and was matched
    assert during["display_percentage"] == 100 and during["subsurf_levels"] == 2 and during["child_percent"] == 20
    assert during["curve_resolution_u"] == 24 and during["metaball_resolution"] == 0.1
    assert not during["eye_hidden"] and not during["collection_hidden"] and not during["layer_collection_hidden"]


def test_geometry_nodes_reading_is_viewport_get_one_warning_line(runs):
    _, result = runs
    lines = [w for w in result["warnings"] if "Is Viewport" in w]
    assert len(lines) == 1, result["warnings"]
    assert "'scattered'" in lines[0] and "'scatter'" in lines[0] and "Boolean input" in lines[0]


def test_keypoints_of_an_armature_hidden_in_the_viewport_follow_the_rendered_frame(runs):
    """Frame 5 puts the bone's head at x = 2: pixel column (2 + 3.2) / 6.4 * 64 = 52, row 24, depth 10."""
    out, _ = runs
    sidecar = json.loads((out / "rig" / "records" / "000000.json").read_text())
    (rig,) = [i for i in sidecar["instances"] if i["object"] == "rig"]
    assert rig["keypoints"] == [pytest.approx([52.0, 24.0, 10.0], abs=1e-3)]


def test_blender_34_gives_the_same_annotations(runs, run, blender_binary, tmp_path):
    """Debian's Blender 3.4 (its ParticleSettings says child_nbr, not child_percent): the same copies,
    masks and silhouettes as bpy 5.0."""
    import os
    import sys
    from pathlib import Path

    out, _ = runs
    script = tmp_path / "match.py"
    script.write_text(SCRIPT)
    repo = Path(__file__).resolve().parents[1]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(repo),
           "BLENDER_COCO_PYTHON": sys.executable, **({"CI": os.environ["CI"]} if "CI" in os.environ else {})}
    run([blender_binary, "-b", "--factory-startup", "--python-exit-code", "1", "-P", script, "--", tmp_path],
        "render-match scenes in Blender 3.4", env=env)
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["p10"]["viewport_before"] == 0 and result["p10"]["after"] == [10, "DOT"]
    for name in ("particles10", "modifiers"):
        ours, module = _masks(tmp_path / name), _masks(out / name)
        assert len(ours) == len(module) >= 2
        for mask in module:
            assert max(iou(mask, m) for m in ours) >= 0.98
    for name in ("modifiers", "rig"):
        ours = json.loads((tmp_path / name / "records" / "000000.json").read_text())["instances"]
        module = json.loads((out / name / "records" / "000000.json").read_text())["instances"]
        assert [i["amodal"] for i in ours] == [i["amodal"] for i in module]
        for a, b in zip(ours, module):
            points = [v for k in a.get("keypoints") or () for v in k]
            assert points == pytest.approx([v for k in b.get("keypoints") or () for v in k], abs=1e-3)


def test_render_time_displacement_of_a_marked_object_gets_one_warning_line(runs):
    _, result = runs
    lines = [w for w in result["warnings"] if "displaces" in w]
    assert len(lines) == 1, result["warnings"]
    assert lines[0].startswith("object 'shifted': material 'shifted' displaces it") and "--no-amodal" in lines[0]

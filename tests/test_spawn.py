"""``[[spawn]]``: copies from asset libraries, settled with physics, varied per copy (the bpy module).

- A folder of generated assets (scenes/kitchen_assets.py: .glb, .gltf, .obj, .fbx,
  .ply, .stl, .blend) spawns 20 copies per frame onto the tabletop; every annotation
  is checked against an index pass rendered by a plain script that numbers the
  copies itself (the oracle), categories against the file each copy came from; the
  same seed gives byte-identical annotations.
- 15 boxes dropped on a table come to rest: no two intersect (BVH overlap of their
  meshes), each is supported, each is on the table or on the floor; a frame gives
  the same poses whenever it is drawn.
- Per-copy materials differ between copies of one material, and the user's
  materials are exactly as before after the run.
- 200 frames of spawning with physics leave no datablock behind and keep memory flat;
  adding a [[spawn]] group changes nothing the other randomizers draw.
- Bad assets and names are one-line errors.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from cocotools import decode, load_coco
from pixels import index_pass

CLI = [sys.executable, "-m", "blender_coco"]
CONFIG = {
    "camera": {"target": [0.0, 0.0, 0.8], "distance": [1.5, 1.9], "azimuth": [-30, 30], "elevation": [45, 60]},
    "spawn": [{"assets": "ASSETS", "category": "{stem}", "count": 20, "surface": "TableTop",
               "rotation": {"x": [0, 360], "y": [0, 360], "z": [0, 360]},
               "physics": {"colliders": ["Floor"], "max_time": 2.0},
               "material": {"hue": [-0.1, 0.1], "roughness": [0.2, 0.8]}}],
}
FRAMES = 3


@pytest.fixture(scope="module")
def library(tmp_path_factory, run_bpy):
    """The generated asset folder and the tabletop scene."""
    tmp = tmp_path_factory.mktemp("spawn")
    run_bpy("import sys, kitchen_assets; kitchen_assets.build(__import__('pathlib').Path(sys.argv[1]))",
            str(tmp / "assets"), what="building the asset library")
    run_bpy("import sys, tabletop; from blender_coco.blender.scene_builder import main; "
            "sys.exit(main(tabletop.build, ['x', '--save', sys.argv[1]]))", str(tmp / "tabletop.blend"),
            what="building the tabletop scene")
    config = json.loads(json.dumps(CONFIG).replace("ASSETS", str(tmp / "assets")))
    (tmp / "spawn.json").write_text(json.dumps(config))
    return tmp


def _render(run, library, out, seed=4):
    run(CLI + ["render", library / "tabletop.blend", "--out", out, "--resolution", "96x72", "--samples", "1",
               "--frames", str(FRAMES), "--seed", str(seed), "--config", library / "spawn.json"],
        "blender-coco render with [[spawn]]")
    return out


@pytest.fixture(scope="module")
def rendered(library, run):
    return _render(run, library, library / "ds")


ORACLE = r'''
import json, sys
import bpy
from blender_coco import randomize as rc
from blender_coco.blender import randomizers
blend, config, out, seed, frames = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
bpy.ops.wm.open_mainfile(filepath=blend)
scene = bpy.context.scene
scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 96, 72, 100
scene.cycles.samples = 1
layer = bpy.context.view_layer
layer.use_pass_object_index = True
settings = scene.render.image_settings
if hasattr(settings, "media_type"):
    settings.media_type = "MULTI_LAYER_IMAGE"
settings.file_format = "OPEN_EXR_MULTILAYER"
hook = randomizers.Randomizer(rc.load(config))
hook.start(scene)
part = hook.parts[0]
truth = []
for i in range(frames):
    scene.frame_set(scene.frame_start)
    hook.before_frame(scene, i, seed)
    for o in scene.objects:
        o.pass_index = 0
    copies = []  # the oracle numbers the copies itself: k + 1 for the k-th copy, its whole tree
    for index in sorted(part.copies):
        asset = part.library.assets[index]
        for objects in part.copies[index]:
            copies.append((objects, asset.source))
    for k, (objects, source) in enumerate(copies):
        for o in objects:
            o.pass_index = k + 1
    bpy.ops.render.render(write_still=False)
    bpy.data.images["Render Result"].save_render(filepath=f"{out}/{i:06d}.exr", scene=scene)
    truth.append([[k + 1, objects[0].name, source] for k, (objects, source) in enumerate(copies)])
hook.finish(scene)
json.dump(truth, open(f"{out}/truth.json", "w"))
'''


@pytest.fixture(scope="module")
def oracle(library, run_bpy):
    out = library / "oracle"
    out.mkdir()
    run_bpy(ORACLE, str(library / "tabletop.blend"), str(library / "spawn.json"), str(out), "4", str(FRAMES),
            what="the oracle's own index pass")
    return out


def test_every_visible_copy_has_its_exact_mask_and_its_files_category(rendered, oracle):
    coco = load_coco(rendered / "annotations" / "instances.json")
    truth = json.loads((oracle / "truth.json").read_text())
    seen_formats = set()
    for i, copies in enumerate(truth):
        assert len(copies) >= 15  # 20 asked; a few may roll off the floor's edge
        index = index_pass(oracle / f"{i:06d}.exr")
        anns = coco.imgToAnns[i + 1]
        h, w = index.shape
        masks = [decode(a["segmentation"], h, w) for a in anns]
        matched = 0
        for k, name, source in copies:
            truth_mask = index == k
            if not truth_mask.any():
                continue
            hits = [a for a, m in zip(anns, masks) if np.array_equal(m, truth_mask)]
            assert len(hits) == 1, f"frame {i}: copy {name} ({truth_mask.sum()} px) has no annotation with its mask"
            stem = source.rsplit("/", 1)[-1].rsplit(".", 1)[0]
            assert coco.cats[hits[0]["category_id"]]["name"] == stem, name
            assert hits[0]["area"] == int(truth_mask.sum())
            seen_formats.add(source.rsplit(".", 1)[-1])
            matched += 1
        assert matched == len(anns) >= 10  # nothing annotated that the oracle does not see
    assert len(seen_formats) >= 5, seen_formats  # the copies come from files of many formats


def test_copies_are_instances_of_their_own_in_the_records(rendered):
    record = json.loads((rendered / "records" / "000000.json").read_text())
    spawned = [i for i in record["instances"] if i["object"].startswith("spawn[0].")]
    assert len(spawned) >= 15 and len({i["pass_index"] for i in spawned}) == len(spawned)
    assert record["randomize"]["spawn"][0]["category"] == "{stem}"


def test_the_same_seed_gives_byte_identical_annotations(library, rendered, run):
    again = _render(run, library, library / "again")
    assert (again / "annotations" / "instances.json").read_bytes() == \
        (rendered / "annotations" / "instances.json").read_bytes()
    other = _render(run, library, library / "other", seed=5)
    assert (other / "annotations" / "instances.json").read_bytes() != \
        (rendered / "annotations" / "instances.json").read_bytes()


SCRIPT = r'''
import json, resource, sys
import bpy, bmesh
from mathutils import Matrix, Vector
from mathutils.bvhtree import BVHTree
import tabletop
from blender_coco import randomize as rc
from blender_coco.blender import randomizers
from blender_coco.blender.marking import mark

assets, out = sys.argv[1], sys.argv[2]
res = {}

def hook(data, scene):
    h = randomizers.Randomizer(rc.from_dict(data))
    h.start(scene)
    return h

def world_mesh(obj):
    dg = bpy.context.evaluated_depsgraph_get()
    ev = obj.evaluated_get(dg)
    return [ev.matrix_world @ v.co for v in ev.data.vertices], [tuple(p.vertices) for p in ev.data.polygons]

def rss_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

def counts():
    return {k: len(getattr(bpy.data, k)) for k in ("objects", "meshes", "materials", "images", "collections",
                                                     "scenes", "node_groups", "lights", "worlds", "actions")}

# ---- 15 boxes dropped on a table -------------------------------------------------------------------------
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
def box(name, size, loc, coll):
    me = bpy.data.meshes.new(name); bm = bmesh.new()
    bmesh.ops.create_cube(bm, size=1.0, matrix=Matrix.Diagonal((*size, 1.0))); bm.to_mesh(me); bm.free()
    o = bpy.data.objects.new(name, me); coll.objects.link(o); o.location = loc
    return o
box("Table", (0.8, 0.5, 0.04), (0, 0, 0.78), scene.collection)
box("Floor", (6, 6, 0.02), (0, 0, -0.01), scene.collection)
lib = bpy.data.collections.new("Boxes"); scene.collection.children.link(lib)
mark(box("Carton", (0.12, 0.08, 0.06), (0, 0, 0), lib), "carton")
bpy.context.view_layer.layer_collection.children["Boxes"].exclude = True
h = hook({"spawn": [{"collection": "Boxes", "count": 15, "surface": "Table",
                     "rotation": {"x": [0, 360], "y": [0, 360], "z": [0, 360]},
                     "physics": {"colliders": ["Floor"], "drop_height": [0.02, 0.4]}}]}, scene)
frames = []
poses = {}
for i in (0, 1, 2, 0):
    h.before_frame(scene, i, 7)
    copies = [objs[0] for pool in h.parts[0].copies.values() for objs in pool]
    meshes = {o.name: world_mesh(o) for o in copies}
    trees = {n: BVHTree.FromPolygons(v, f) for n, (v, f) in meshes.items()}
    fixed = {n: world_mesh(bpy.data.objects[n]) for n in ("Table", "Floor")}
    fixed_trees = {n: BVHTree.FromPolygons(v, f) for n, (v, f) in fixed.items()}
    names = sorted(meshes)
    overlaps = [[a, b] for k, a in enumerate(names) for b in names[k + 1:] if trees[a].overlap(trees[b])]
    overlaps += [[a, n] for a in names for n, t in fixed_trees.items() if trees[a].overlap(t)]
    boxes = []
    for n in names:
        verts = meshes[n][0]
        low = min(v.z for v in verts)
        others = [t for m, t in list(trees.items()) + list(fixed_trees.items()) if m != n]
        gap = min(t.find_nearest(v)[3] for v in verts if v.z < low + 0.003 for t in others)
        c = sum(verts, Vector()) / len(verts)
        boxes.append({"name": n, "low": low, "gap": gap, "center": list(c)})
    pose = {o.name: [list(r) for r in o.matrix_world] for o in copies}
    if i in poses:
        res["again"] = poses[i] == pose
    poses[i] = pose
    frames.append({"overlaps": overlaps, "boxes": boxes, "asked": 15})
res["physics"] = frames
res["detail"] = h.detail()
h.finish(scene)

# ---- per-copy materials, user's materials restored ---------------------------------------------------------
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
tabletop.build(scene)
def material_state():
    out = {}
    for m in bpy.data.materials:
        nodes = {n.name: [n.bl_idname] + [[s.name, list(s.default_value) if hasattr(s.default_value, "__len__")
                                           else s.default_value] for s in n.inputs if hasattr(s, "default_value")]
                 for n in m.node_tree.nodes} if m.node_tree else {}
        links = sorted([l.from_node.name, l.from_socket.name, l.to_node.name, l.to_socket.name]
                       for l in m.node_tree.links) if m.node_tree else []
        out[m.name] = [list(m.diffuse_color), m.roughness, m.metallic, nodes, links, m.users]
    return json.loads(json.dumps(out, default=str))
before_mats = material_state()
before_slots = {o.name: [[s.link, s.material.name if s.material else None] for s in o.material_slots]
                for o in bpy.data.objects}
h = hook({"spawn": [{"collection": "Props", "count": 12, "surface": "TableTop", "rotation": {"z": [0, 360]},
                     "material": {"hue": [-0.3, 0.3], "value": [0.6, 1.2], "roughness": [0.1, 0.9]}}]}, scene)
h.before_frame(scene, 0, 1)
by_source = {}
for pool in h.parts[0].copies.values():
    for objs in pool:
        root = objs[0]
        for slot, source in zip(root.material_slots, root.data.materials):
            bsdf = next(n for n in slot.material.node_tree.nodes if n.type == "BSDF_PRINCIPLED")
            by_source.setdefault(source.name, []).append([slot.material.name, slot.link,
                                                          [round(v, 5) for v in bsdf.inputs["Base Color"].default_value],
                                                          round(bsdf.inputs["Roughness"].default_value, 5)])
res["variants"] = by_source
res["sources_during"] = {k: v for k, v in material_state().items() if k in before_mats} == before_mats
h.finish(scene)
res["materials_after"] = material_state() == before_mats
res["slots_after"] = {o.name: [[s.link, s.material.name if s.material else None] for s in o.material_slots]
                      for o in bpy.data.objects} == before_slots

# ---- 200 frames: nothing left behind, memory flat; other randomizers draw the same -------------------------
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
tabletop.build(scene)
start = counts()
base = {"camera": {"target": [0, 0, 0.8], "distance": [2, 3], "azimuth": [-40, 40]},
        "lights": {"count": [1, 3], "types": ["POINT", "SUN"]},
        "objects": [{"collection": "Clutter", "count": [0, 2], "surface": "TableTop"}]}
with_spawn = dict(base, spawn=[{"assets": assets, "category": "{stem}", "count": 20, "surface": "TableTop",
                                "rotation": {"x": [0, 360], "y": [0, 360], "z": [0, 360]},
                                "physics": {"colliders": ["Floor"], "max_time": 1.0},
                                "material": {"hue": [-0.2, 0.2], "textures": assets + "/../textures"}}])
h = hook(base, scene)
plain = []
for i in range(5):
    h.before_frame(scene, i, 3)
    plain.append({k: v for k, v in h.values.items()})
h.finish(scene)
h = hook(with_spawn, scene)
samples = {}
same = True
for i in range(200):
    h.before_frame(scene, i, 3)
    if i < 5:
        same = same and all(h.values[k] == plain[i][k] for k in plain[i])
    if i in (19, 199):
        part = next(p for p in h.parts if p.section == "spawn")
        copy_objects = sum(len(objs) for pool in part.copies.values() for objs in pool)
        variants = sum(len(v) for v in part.pool.variants.values())
        samples[i] = [counts(), rss_mib(), len(h.values["spawn[0]"]), copy_objects, variants, len(part.pool.variants)]
h.finish(scene)
res["same_draws"] = same
res["memory"] = samples
res["start"], res["end"] = start, counts()
json.dump(res, open(out, "w"))
'''


@pytest.fixture(scope="module")
def results(library, run_bpy):
    from PIL import Image

    textures = library / "textures"
    textures.mkdir()
    for k, color in enumerate(((200, 30, 30), (30, 200, 90))):
        Image.new("RGB", (16, 16), color).save(textures / f"t{k}.png")
    out = library / "results.json"
    run_bpy(SCRIPT, str(library / "assets"), str(out), what="spawn without rendering")
    return json.loads(out.read_text())


def test_dropped_boxes_rest_apart_supported_on_the_table_or_the_floor(results):
    for frame in results["physics"]:
        assert frame["overlaps"] == []
        assert len(frame["boxes"]) >= 13  # 15 dropped; one may be left out if it does not come to rest
        on_table = 0
        for b in frame["boxes"]:
            assert b["gap"] <= 0.005, b  # its lowest points touch something: no box floats
            x, y, z = b["center"]
            if z > 0.8:  # above the table top: over the table (the box's reach of its edge at most)
                assert abs(x) <= 0.4 + 0.08 and abs(y) <= 0.25 + 0.08, b
                on_table += 1
            else:  # on the floor
                assert b["low"] <= 0.06, b
        assert on_table >= 8
    assert results["again"] is True  # frame 0 drawn again after frames 1 and 2: the same poses
    assert "spawn[0] physics" in results["detail"] and "s/frame" in results["detail"]


def test_copies_of_one_material_get_their_own_variants_and_the_users_stay_as_they_were(results):
    variants = results["variants"]
    assert sum(len(v) for v in variants.values()) == 12
    for source, copies in variants.items():
        names = [c[0] for c in copies]
        assert len(set(names)) == len(names) and source not in names  # one variant per copy, never the source
        assert all(c[1] == "OBJECT" for c in copies)  # object-linked: the shared mesh keeps its materials
        if len(copies) > 1:
            assert len({json.dumps(c[2:]) for c in copies}) == len(copies)  # colours and roughness differ
    assert results["sources_during"] is True  # the source materials are never edited
    assert results["materials_after"] is True and results["slots_after"] is True


def test_two_hundred_frames_leave_nothing_behind_and_memory_flat(results):
    (c20, rss20, n20, o20, v20, _), (c200, rss200, n200, o200, v200, s200) = \
        results["memory"]["19"], results["memory"]["199"]
    assert n20 >= 10 and n200 >= 10
    # beside this frame's copies and the material variants, as many objects, meshes, materials, images,
    # collections, scenes ... after 20 frames as after 200
    assert c20["objects"] - o20 == c200["objects"] - o200
    assert c20["materials"] - v20 == c200["materials"] - v200
    assert {k: v for k, v in c20.items() if k not in ("objects", "materials")} == \
        {k: v for k, v in c200.items() if k not in ("objects", "materials")}
    assert v200 <= 20 * s200  # the variant pool is bounded: at most one per copy of each source material
    assert rss200 <= 1.05 * rss20, (rss20, rss200)
    assert results["end"] == results["start"]  # finish removes everything spawning made
    assert results["same_draws"] is True  # a [[spawn]] group changes nothing the others draw


ERRORS = r'''
import json, sys
import bpy, tabletop
from blender_coco import randomize as rc
from blender_coco.blender import randomizers
from blender_coco.errors import UserError
folder = sys.argv[1]
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
tabletop.build(scene)
before = {k: len(getattr(bpy.data, k)) for k in ("objects", "meshes", "materials", "collections", "scenes")}
out = []
for data in ({"spawn": [{"collection": "Propz", "surface": "TableTop"}]},
             {"spawn": [{"collection": "Props", "surface": "Nope"}]},
             {"spawn": [{"collection": "Props", "surface": "Camera"}]},
             {"spawn": [{"assets": folder + "/bad", "surface": "TableTop", "category": "x"}]},
             {"spawn": [{"assets": folder + "/plain", "surface": "TableTop"}]},
             {"spawn": [{"collection": "Props", "surface": "TableTop", "physics": {"colliders": ["Nope"]}}]}):
    h = randomizers.Randomizer(rc.from_dict(data))
    try:
        h.start(scene)
        out.append(None)
    except UserError as exc:
        out.append(str(exc))
    h.finish(scene)
after = {k: len(getattr(bpy.data, k)) for k in ("objects", "meshes", "materials", "collections", "scenes")}
print(json.dumps({"errors": out, "clean": before == after}))
'''


def test_bad_assets_and_names_are_one_line_errors_that_leave_nothing_behind(library, tmp_path, run_bpy):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "broken.glb").write_bytes(b"not a glb file")
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "can.obj").write_text((library / "assets" / "can.obj").read_text())
    proc = run_bpy(ERRORS, str(tmp_path), what="spawn errors")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    errors = res["errors"]
    assert all(e is not None and "\n" not in e for e in errors), errors
    assert errors[0].startswith("spawn[0].collection: no collection 'Propz' in this file (collections: ")
    assert errors[1] == "spawn[0].surface: no object 'Nope' in scene 'Scene'; fix the name"
    assert errors[2] == "spawn[0].surface: object 'Camera' is a camera, not a mesh; name a mesh"
    assert errors[3].startswith(f"spawn[0].assets: {tmp_path}/bad/broken.glb: Blender ") and "cannot import" in errors[3]
    assert errors[4].startswith("spawn[0]: asset 'can' (") and "has no coco_category; set category" in errors[4]
    assert errors[5] == "spawn[0].physics.colliders: no object 'Nope' in scene 'Scene'; fix the name"
    assert res["clean"] is True


def test_a_bad_spawn_config_stops_the_cli_with_one_line(library, tmp_path, run):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[spawn]]\ncollection = "Props"\nassets = "x"\nsurface = "TableTop"\n')
    proc = run(CLI + ["render", library / "tabletop.blend", "--out", tmp_path / "ds", "--config", bad], "bad spawn",
               ok=False)
    lines = [ln for ln in proc.stderr.splitlines() if "error" in ln.lower()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "spawn[0].assets folder \"x\" does not exist" in lines[0]

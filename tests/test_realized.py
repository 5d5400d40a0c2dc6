"""Realized geometry-node instances: each copy its own annotation (issue 10), on real renders.

scenes/instances.py ``realized`` scatters six copies of a Tile with geometry nodes and
joins them into one mesh with Realize Instances; each copy is coloured by an instance
attribute. Variants: the Tile marked (scatter turned 7 degrees, so copy edges cross
pixels; two frames), the scatter object marked, a Set Position after the realize with
a square of the scatter's own geometry joined to it (Tile or scatter marked), touching
copies welded by a Merge by Distance after the realize, two sources picked per point
(marked Tile, unmarked Plate), a Realize Instances Selection that leaves three copies
instances, two scatters each realized by its own node and joined, and a Convex Hull
after the realize. One bpy process renders each three ways: plain bpy (the RGB
oracle), ``render_dataset``, and the truth: the unrealized scatter's copies made real
objects with their own pass indices (moved as Set Position moves them), read from the
plain object-index pass (one sample at each pixel centre). Then:

* one annotation per copy, each matching one truth copy with IoU >= 0.98 (touching
  copies too), and its amodal mask too (nothing occludes them);
* categories follow the marking contract (the copied object's mark, else the
  scatter's), and the record names each copy's instancer, source and instance index;
* the RGB is the plain render's, and the node trees (a Join's input order included)
  and materials are as before the run; the second frame gives the same masks;
* Convex Hull after the realize keeps the old single annotation with one warning line
  naming the object and why;
* Blender 3.4 (binary) and bpy 5.0 give the same annotations and amodal masks;
  pycocotools loads every output.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from cocotools import load_coco
from pixels import index_pass, iou
from PIL import Image
from pycocotools import mask as mask_utils

SCRIPT = r"""
import json, math, sys
kinds, repo, python, out = sys.argv[-4:]  # python: the export's ("-": in this process)
sys.path[:0] = [repo, repo + "/scenes"]
import bpy
import instances as scenes
from blender_coco.blender import pipeline
from blender_coco.config import ExportConfig, RenderConfig

VARIANTS = {"source": (False, "source", 7.0, False), "scatter": (False, "scatter", 7.0, False),
            "after": (True, "source", 0.0, False), "mixed": (False, "source", 0.0, True),
            "partial": (False, "source", 0.0, False), "scatter_after": (True, "scatter", 0.0, False),
            "weld": (False, "source", 0.0, False)}
python = None if python == "-" else python


def tree_state():
    group = bpy.data.node_groups["Scatter"]
    return {"nodes": sorted(n.name for n in group.nodes),
            "links": sorted(f"{l.from_node.name}.{l.from_socket.identifier}>{l.to_node.name}.{l.to_socket.identifier}"
                            for l in group.links),
            "materials": {m.name: len(m.node_tree.nodes) for m in bpy.data.materials},
            "joined": [[l.from_node.name for l in sorted(sock.links, key=lambda l: getattr(l, "multi_input_sort_id", 0))]
                       for n in group.nodes for sock in n.inputs if getattr(sock, "is_multi_input", False)]}


facts = {}
for kind in kinds.split(","):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    if kind == "two":  # two scatters, each realized by its own node, joined (truth: unrealized, made real)
        scenes.two_scatters(scene, realize=True)
        before = tree_state()
        pipeline.render_dataset(RenderConfig(out=f"{out}/{kind}", python=python,
                                             export=ExportConfig(segmentation="rle")), scene)
        facts[kind] = {"before": before, "after": tree_state()}
        bpy.ops.wm.read_factory_settings(use_empty=True)
        scene = bpy.context.scene
        scenes.two_scatters(scene, realize=False)
        scenes.make_real(scene, "geometry_nodes")
        scenes.render_truth(scene, f"{out}/{kind}_truth.exr")
        continue
    if kind == "hull":  # a node after the realize that drops every attribute
        scenes.realized(scene, marked="scatter")
        group = bpy.data.node_groups["Scatter"]
        out_node = next(n for n in group.nodes if n.bl_idname == "NodeGroupOutput")
        hull = group.nodes.new("GeometryNodeConvexHull")
        group.links.new(out_node.inputs[0].links[0].from_socket, hull.inputs[0])
        group.links.new(hull.outputs[0], out_node.inputs[0])
        pipeline.render_dataset(RenderConfig(out=f"{out}/{kind}", python=python,
                                             export=ExportConfig(segmentation="rle")), scene)
        continue
    after, marked, turn, mixed = VARIANTS[kind]
    scenes.realized(scene, after=after, marked=marked, mixed=mixed, weld=kind == "weld")
    if kind == "partial":  # Realize Instances' Selection (5.0): copies 0-2 realized, 3-5 stay instances
        group = bpy.data.node_groups["Scatter"]
        realize = next(n for n in group.nodes if n.bl_idname == "GeometryNodeRealizeInstances")
        less = group.nodes.new("FunctionNodeCompare")
        less.data_type, less.operation = "INT", "LESS_THAN"
        group.links.new(group.nodes.new("GeometryNodeInputIndex").outputs[0], less.inputs[2])
        less.inputs[3].default_value = 3
        group.links.new(less.outputs[0], realize.inputs["Selection"])
    bpy.data.objects["Scatter"].rotation_euler[2] = math.radians(turn)
    r = scene.render
    r.image_settings.file_format, r.image_settings.color_mode, r.image_settings.color_depth = "PNG", "RGB", "8"
    r.filepath = f"{out}/{kind}_plain.png"
    bpy.ops.render.render(write_still=True)
    before = tree_state()
    frames = 2 if kind == "source" else 1  # the second frame: Cycles' kept scene, the probe run again
    pipeline.render_dataset(RenderConfig(out=f"{out}/{kind}", python=python, frames=frames,
                                         export=ExportConfig(segmentation="rle")), scene)
    facts[kind] = {"before": before, "after": tree_state()}
    if python is not None:
        continue  # the binary run: annotations only
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scenes.build(scene, "geometry_nodes")
    if mixed:
        scenes.two_sources(scene)
    if kind == "weld":
        scenes.touching(scene)
    bpy.data.objects["Scatter"].rotation_euler[2] = math.radians(turn)
    scenes.make_real_realized(scene, after, base_index=100 if marked == "scatter" else 0)
    facts[kind]["truth"] = {o.pass_index: o.data.name for o in scene.objects if o.name.startswith("real.")}
    scenes.render_truth(scene, f"{out}/{kind}_truth.exr")
json.dump(facts, open(f"{out}/facts.json", "w"))
"""

KINDS = ("source", "scatter", "after", "weld")
CATEGORY = {"source": "tile", "scatter": "pattern", "after": "tile", "weld": "tile"}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    from conftest import _run
    from shared_assets import REPO

    out = tmp_path_factory.mktemp("realized")
    proc = _run([sys.executable, "-c", SCRIPT, ",".join((*KINDS, "mixed", "partial", "scatter_after", "two", "hull")), REPO, "-", out], "realized scenes (bpy)")
    (out / "stderr.txt").write_text(proc.stderr)
    return out


def _copies(coco, image: int | None = None) -> list:
    """(annotation, mask) of every annotation (of the first image, or of ``image``)."""
    image = min(coco.getImgIds()) if image is None else image
    return [(a, coco.annToMask(a).astype(bool)) for a in coco.loadAnns(coco.getAnnIds(imgIds=[image]))]


@pytest.mark.parametrize("kind", KINDS)
def test_each_realized_copy_is_an_instance_matching_the_truth(rendered, kind):
    coco = load_coco(rendered / kind / "annotations" / "instances.json")
    truth = index_pass(rendered / f"{kind}_truth.exr")
    labels = [v for v in np.unique(truth) if v]
    assert len(labels) == 6
    record = json.loads((rendered / kind / "records" / "000000.json").read_text())
    copies = [i for i in record["instances"] if "instancer" in i]
    assert sorted(i["instance_index"] for i in copies) == list(range(6))
    assert all(i["instancer"] == "Scatter" and i["source"] == "Tile" for i in copies)
    assert {i["category"] for i in copies} == {CATEGORY[kind]}
    anns = _copies(coco)
    assert len(anns) == 6  # "after": the square joined after the realize is the unmarked scatter's own
    masks = [m for _, m in anns]
    # touching copies of one Cryptomatte name ("weld"): a pixel two copies share goes to the copy with the
    # larger share of it, unmixed from AOV / coverage (records/coverage.py): IoU 1.0 (0.95-0.97 when it
    # went to the first identified neighbour)
    bar = 0.98
    for v in labels:
        ious = sorted(iou(truth == v, m) for m in masks)
        assert ious[-1] >= bar, f"{kind}: copy {v} best IoU {ious[-1]:.3f}"
        assert ious[-2] < 0.5  # one annotation per copy, not one for all
    for ann, mask in anns:  # nothing occludes a copy: its amodal mask (which takes in the visible one) is the copy
        amodal = mask_utils.decode(ann["amodal_segmentation"]).astype(bool)
        assert max(iou(truth == v, amodal) for v in labels) >= bar
    names = {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())}
    assert {names[a["category_id"]] for a, _ in anns} == {CATEGORY[kind]}


def test_a_second_frame_gives_the_same_copies(rendered):
    """Frame 2 of the static scene (Cycles keeps its scene; the probe mutes and unmutes the realize
    again): the same six masks and the same record."""
    coco = load_coco(rendered / "source" / "annotations" / "instances.json")
    first, second = sorted(coco.getImgIds())
    masks = [m for _, m in _copies(coco, first)]
    again = [m for _, m in _copies(coco, second)]
    assert len(masks) == len(again) == 6
    assert all(any(np.array_equal(m, n) for n in again) for m in masks)


def test_copies_of_two_sources_follow_their_own_marks(rendered):
    """Collection Info picks the marked Tile or the unmarked Plate per point: the Tile copies are
    annotated (source Tile), the Plate copies are not, although all are one realized mesh."""
    truth = index_pass(rendered / "mixed_truth.exr")
    meshes = {int(k): v for k, v in json.loads((rendered / "facts.json").read_text())["mixed"]["truth"].items()}
    tiles = [v for v, name in meshes.items() if name == "Tile"]
    plates = [v for v, name in meshes.items() if name == "Plate"]
    assert len(tiles) == len(plates) == 3
    coco = load_coco(rendered / "mixed" / "annotations" / "instances.json")
    masks = [m for _, m in _copies(coco)]
    assert len(masks) == 3
    for v in tiles:
        assert max(iou(truth == v, m) for m in masks) >= 0.98
    for m in masks:
        assert not (m & np.isin(truth, plates)).any()
    record = json.loads((rendered / "mixed" / "records" / "000000.json").read_text())
    copies = [i for i in record["instances"] if "instancer" in i]
    assert [i["source"] for i in copies] == ["Tile"] * 3 and {i["category"] for i in copies} == {"tile"}


def test_copies_left_unrealized_by_a_selection_are_instances_too(rendered):
    """Realize Instances with a Selection: three copies in the mesh, three still instances; all
    six are annotations matching the truth (the tags are reset on what stays an instance, and
    the mesh's own-geometry tag is written on the mesh component only)."""
    truth = index_pass(rendered / "partial_truth.exr")
    coco = load_coco(rendered / "partial" / "annotations" / "instances.json")
    masks = [m for _, m in _copies(coco)]
    assert len(masks) == 6
    for v in [v for v in np.unique(truth) if v]:
        assert max(iou(truth == v, m) for m in masks) >= 0.98


def test_two_realize_nodes_in_one_object_keep_their_copies_apart(rendered):
    """Two scatters, each realized by its own node, joined into one mesh: 9 copies, 9 annotations
    (each node's tags are its own; instance indices 0-5 and 0-2)."""
    truth = index_pass(rendered / "two_truth.exr")
    labels = [v for v in np.unique(truth) if v]
    coco = load_coco(rendered / "two" / "annotations" / "instances.json")
    masks = [m for _, m in _copies(coco)]
    assert len(labels) == len(masks) == 9
    for v in labels:
        assert max(iou(truth == v, m) for m in masks) >= 0.98
    record = json.loads((rendered / "two" / "records" / "000000.json").read_text())
    assert sorted(i["instance_index"] for i in record["instances"]) == [0, 0, 1, 1, 2, 2, 3, 4, 5]
    facts = json.loads((rendered / "facts.json").read_text())["two"]
    assert facts["after"] == facts["before"] and facts["before"]["joined"]  # the Join's inputs in their order


def test_a_marked_scatter_keeps_its_own_geometry_as_its_instance(rendered):
    """The scatter marked, a square of its own joined after the realize: the six copies and the
    square (the scatter object itself, no instancer) are seven instances of its category."""
    truth = index_pass(rendered / "scatter_after_truth.exr")
    coco = load_coco(rendered / "scatter_after" / "annotations" / "instances.json")
    masks = [m for _, m in _copies(coco)]
    assert len(masks) == 7
    for v in [v for v in np.unique(truth) if v]:
        assert max(iou(truth == v, m) for m in masks) >= 0.98, v
    record = json.loads((rendered / "scatter_after" / "records" / "000000.json").read_text())
    own = [i for i in record["instances"] if "instancer" not in i]
    assert [(i["object"], i["category"]) for i in own] == [("Scatter", "pattern")]


@pytest.mark.parametrize("kind", KINDS)
def test_rgb_and_node_trees_unchanged(rendered, kind):
    plain = np.asarray(Image.open(rendered / f"{kind}_plain.png").convert("RGB"), dtype=int)
    ours = np.asarray(Image.open(rendered / kind / "images" / "000000.png").convert("RGB"), dtype=int)
    assert np.abs(plain - ours).max() == 0, f"{kind}: RGB differs from the plain render"
    assert len({tuple(p) for p in plain.reshape(-1, 3)}) > 6  # per-copy colours are there to compare
    facts = json.loads((rendered / "facts.json").read_text())[kind]
    assert facts["after"] == facts["before"]


def test_what_cannot_be_split_is_said(rendered):
    """Convex Hull after the realize drops the copies' tags: the marked scatter stays one instance,
    and one warning line names the object and why."""
    lines = [line for line in (rendered / "stderr.txt").read_text().splitlines() if "realizes instances" in line]
    assert len(lines) == 1 and "'Scatter'" in lines[0] and "do not reach its evaluated mesh" in lines[0]
    coco = load_coco(rendered / "hull" / "annotations" / "instances.json")
    assert len(coco.getAnnIds()) == 1


def test_blender_34_binary_agrees_with_the_bpy_module(rendered, tmp_path, run, blender_binary):
    from shared_assets import REPO

    script = tmp_path / "render.py"
    script.write_text(SCRIPT)
    run([blender_binary, "-b", "--factory-startup", "--python-exit-code", "1", "-P", script, "--",
         ",".join((*KINDS, "mixed")), REPO, sys.executable, tmp_path], "realized scenes in blender -b (3.4)")
    for kind in (*KINDS, "mixed"):
        old = load_coco(tmp_path / kind / "annotations" / "instances.json")
        new = load_coco(rendered / kind / "annotations" / "instances.json")
        masks_old, masks_new = [m for _, m in _copies(old)], [m for _, m in _copies(new)]
        assert len(masks_old) == len(masks_new) >= (3 if kind == "mixed" else 6)
        for m in masks_old:  # "weld" too: where touching copies meet, both unmix the same shares
            assert max(iou(m, n) for n in masks_new) >= 0.98
        if kind != "weld":  # amodal masks split per copy by 3.4's pure-Python rasterizer too
            amodal_old = [mask_utils.decode(a["amodal_segmentation"]).astype(bool) for a, _ in _copies(old)]
            amodal_new = [mask_utils.decode(a["amodal_segmentation"]).astype(bool) for a, _ in _copies(new)]
            for m in amodal_old:
                assert max(iou(m, n) for n in amodal_new) >= 0.98

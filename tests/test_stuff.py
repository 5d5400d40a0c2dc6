"""Stuff (COCO-Stuff) export on synthetic frame records: one region per (image, stuff category),
pixel-exact through pycocotools, the world background, ``other``, category ids shared by every file.

:func:`make_stuff_ds` builds the synthetic scenes that test_panoptic, test_captions and test_gallery
also use: a floor (two objects of one stuff category), a wall, the world as "sky", unmarked
surfaces, and random things (boxes, apples, people, ...) drawn back to front with their depth.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from blender_coco.config import ExportConfig
from blender_coco.errors import UserError
from blender_coco.coco.export import export_dataset
from blender_coco.records.passes import read_passes
from blender_coco.coco.stuff import WORLD_DEPTH
from cocotools import decode, load_coco
from test_export import write_exr

REPO = Path(__file__).resolve().parents[1]
H, W = 48, 64
THINGS = ("box", "apple", "person", "mouse", "knife", "sheep", "umbrella", "glass", "traffic light")
STUFF = ("floor", "wall")  # plus the background "sky"
FLOOR, FLOOR2, WALL = 20, 21, 22  # pass indices of the stuff objects
NAMES = sorted(THINGS + STUFF + ("sky",))
IDS = {n: i for i, n in enumerate(NAMES, start=1)}  # ids 1..n by name over all categories


def stuff_frame(rng: np.random.Generator, *, h: int = H, w: int = W, max_things: int = 5,
                things: tuple[str, ...] = THINGS) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """(ID mask, depth, instances) of one random frame.

    Rows 30.. are floor (left half pass FLOOR, right half FLOOR2, both "floor"), a wall
    covers rows 6..30 of the right part, an unmarked surface (pass 0, finite depth)
    the top-left corner, the world (pass 0, depth 1e10) the rest. Things are random
    rectangles in front, drawn far to near, so nearer things hide farther ones.
    """
    mask = np.zeros((h, w), np.uint16)
    depth = np.full((h, w), 1e10, np.float32)
    rows = np.arange(h, dtype=np.float32)[:, None]
    mask[30:, : w // 2], mask[30:, w // 2:] = FLOOR, FLOOR2
    depth[30:, :] = 12.0 - (rows[30:] - 30) * 0.3  # nearer towards the bottom
    mask[6:30, 40:], depth[6:30, 40:] = WALL, 14.0
    mask[0:8, 0:14], depth[0:8, 0:14] = 0, 16.0   # unmarked surface (e.g. a prop without coco_category)
    instances = [{"pass_index": FLOOR, "object": "Floor", "category": "floor"},
                 {"pass_index": FLOOR2, "object": "Floor.001", "category": "floor"},
                 {"pass_index": WALL, "object": "Wall", "category": "wall"}]
    n = int(rng.integers(0, max_things + 1))
    placed = []
    for k in range(1, n + 1):
        cat = things[int(rng.integers(0, len(things)))]
        x0, y0 = int(rng.integers(-6, w - 4)), int(rng.integers(-6, h - 4))
        x1, y1 = x0 + int(rng.integers(3, 26)), y0 + int(rng.integers(3, 22))
        placed.append((float(rng.uniform(2.0, 10.0)), k, cat, (max(0, x0), max(0, y0), min(w, x1), min(h, y1))))
        color = [round(float(c), 3) for c in rng.uniform(0, 1, 3)]
        instances.append({"pass_index": k, "object": f"Obj.{k:03d}", "category": cat, "color": color})
    for d, k, _, (x0, y0, x1, y1) in sorted(placed, reverse=True):  # far first: near ones overwrite
        mask[y0:y1, x0:x1] = k
        depth[y0:y1, x0:x1] = d
    instances.append({"pass_index": 30, "object": "Hidden", "category": "box"})  # marked, never visible
    return mask, depth, instances


def make_stuff_ds(tmp: Path, frames: int = 3, seed: int = 0, *, background: str | None = "sky",
                  layout: str = "blender50", max_things: int = 5, things: tuple[str, ...] = THINGS,
                  size: tuple[int, int] = (W, H)) -> Path:
    """A dataset folder of synthetic stuff-scene records (EXR + sidecar, and a grey RGB image)."""
    from PIL import Image

    ds = tmp / "ds"
    (ds / "records").mkdir(parents=True)
    (ds / "images").mkdir()
    rng = np.random.default_rng(seed)
    w, h = size
    for i in range(frames):
        mask, depth, instances = stuff_frame(rng, h=h, w=w, max_things=max_things, things=things)
        write_exr(ds / "records" / f"{i:06d}.exr", mask, depth, layout)
        Image.new("RGB", (w, h), (90, 90, 90)).save(ds / "images" / f"{i:06d}.png")
        cats = [{"name": c, "supercategory": "thing"} for c in things] + \
               [{"name": s, "supercategory": "stuff", "isthing": False} for s in STUFF]
        rec = {"format": "blender-coco-record", "version": 1, "index": i, "scene_frame": i + 1, "seed": seed,
               "image": f"{i:06d}.png", "passes": f"{i:06d}.exr", "width": w, "height": h,
               "blender_version": "5.0.1", "camera": {"name": "Camera"}, "categories": cats, "instances": instances}
        if background is not None:
            rec["background"] = background
            cats.append({"name": background, "supercategory": "stuff", "isthing": False})
        (ds / "records" / f"{i:06d}.json").write_text(json.dumps(rec))
    return ds


def frame_passes(ds: Path, i: int) -> tuple[np.ndarray, np.ndarray]:
    mask, depth = read_passes(ds / "records" / f"{i:06d}.exr")
    return mask, depth


def record(ds: Path, i: int) -> dict:
    return json.loads((ds / "records" / f"{i:06d}.json").read_text())


def expected_stuff(mask: np.ndarray, depth: np.ndarray, other: bool = False) -> dict[str, np.ndarray]:
    world = (mask == 0) & (depth >= WORLD_DEPTH)
    out = {"floor": np.isin(mask, [FLOOR, FLOOR2]), "wall": mask == WALL, "sky": world}
    if other:
        out["other"] = (mask == 0) & ~world
    return {k: v for k, v in out.items() if v.any()}


def test_stuff_json_is_one_exact_region_per_image_and_category(tmp_path):
    ds = make_stuff_ds(tmp_path, frames=4)
    export_dataset(ds)
    ann_dir = ds / "annotations"
    assert sorted(p.name for p in ann_dir.iterdir()) == ["captions.json", "instances.json", "panoptic", "panoptic.json",
                                                         "stuff.json"]
    stuff = load_coco(ann_dir / "stuff.json")
    inst = load_coco(ann_dir / "instances.json")
    ids = IDS
    assert {c["name"]: c["id"] for c in stuff.dataset["categories"]} == {n: ids[n] for n in ("floor", "sky", "wall")}
    assert {c["name"]: c["id"] for c in inst.dataset["categories"]} == {n: ids[n] for n in THINGS}
    assert stuff.dataset["images"] == inst.dataset["images"]
    assert [a["id"] for a in stuff.dataset["annotations"]] == list(range(1, len(stuff.anns) + 1))
    for i in range(4):
        mask, depth = frame_passes(ds, i)
        want = expected_stuff(mask, depth)
        anns = stuff.loadAnns(stuff.getAnnIds(imgIds=[i + 1]))
        assert sorted(stuff.cats[a["category_id"]]["name"] for a in anns) == sorted(want)  # one per category
        assert [a["category_id"] for a in anns] == sorted(a["category_id"] for a in anns)
        for a in anns:
            region = want[stuff.cats[a["category_id"]]["name"]]
            got = stuff.annToMask(a).astype(bool)
            assert np.array_equal(got, region)
            assert a["area"] == int(region.sum()) and a["iscrowd"] == 0
            ys, xs = np.nonzero(region)
            assert a["bbox"] == [int(xs.min()), int(ys.min()), int(xs.max() + 1 - xs.min()), int(ys.max() + 1 - ys.min())]
            assert isinstance(a["segmentation"]["counts"], str)
        # stuff objects are not instances; every thing pixel is
        thing_anns = inst.loadAnns(inst.getAnnIds(imgIds=[i + 1]))
        things = np.zeros_like(mask, bool)
        for a in thing_anns:
            things |= decode(a["segmentation"], H, W)
        assert np.array_equal(things, (mask > 0) & (mask < FLOOR))


def test_two_floor_objects_merge_and_floor_is_not_in_instances(tmp_path):
    ds = make_stuff_ds(tmp_path, frames=1, max_things=0)
    export_dataset(ds, ExportConfig(segmentation="rle"))
    stuff = json.loads((ds / "annotations" / "stuff.json").read_text())
    inst = json.loads((ds / "annotations" / "instances.json").read_text())
    floor = [a for a in stuff["annotations"] if a["category_id"] == IDS["floor"]]
    assert len(floor) == 1 and floor[0]["bbox"] == [0, 30, W, H - 30] and floor[0]["area"] == W * (H - 30)
    assert inst["annotations"] == []


def test_other_covers_unmarked_surfaces_and_keeps_every_other_id(tmp_path):
    ds = make_stuff_ds(tmp_path, frames=3)
    a = json.loads(export_dataset(ds, out=tmp_path / "a.json").files["instances"].read_text())
    plain = json.loads((ds / "annotations" / "stuff.json").read_text())
    b = json.loads(export_dataset(ds, ExportConfig(stuff_other=True), out=tmp_path / "b.json").files["instances"].read_text())
    assert a == b  # instances.json does not change with the option
    with_other = load_coco(ds / "annotations" / "stuff.json")
    n = len(THINGS) + len(STUFF) + 1
    assert with_other.dataset["categories"][-1] == {"id": n + 1, "name": "other", "supercategory": "other"}
    assert with_other.dataset["categories"][:-1] == plain["categories"]
    for i in range(3):
        mask, depth = frame_passes(ds, i)
        [other] = [x for x in with_other.loadAnns(with_other.getAnnIds(imgIds=[i + 1])) if x["category_id"] == n + 1]
        assert np.array_equal(with_other.annToMask(other).astype(bool), expected_stuff(mask, depth, True)["other"])


def test_scene_without_background_leaves_the_world_unlabelled(tmp_path):
    ds = make_stuff_ds(tmp_path, frames=2, background=None)
    export_dataset(ds)
    stuff = load_coco(ds / "annotations" / "stuff.json")
    assert sorted(c["name"] for c in stuff.dataset["categories"]) == ["floor", "wall"]
    covered = np.zeros((H, W), bool)
    for a in stuff.loadAnns(stuff.getAnnIds(imgIds=[1])):
        covered |= stuff.annToMask(a).astype(bool)
    mask, _ = frame_passes(ds, 0)
    assert np.array_equal(covered, mask >= FLOOR)


def test_min_area_drops_small_stuff_regions(tmp_path):
    ds = make_stuff_ds(tmp_path, frames=2, max_things=0)
    export_dataset(ds, ExportConfig(min_area=W * (H - 30) + 1))  # larger than the wall and the floor
    stuff = json.loads((ds / "annotations" / "stuff.json").read_text())
    assert {a["category_id"] for a in stuff["annotations"]} == {IDS["sky"]}  # only the sky is that large


def _edit_record(ds: Path, i: int, **changes) -> None:
    path = ds / "records" / f"{i:06d}.json"
    rec = json.loads(path.read_text())
    rec.update(changes)
    path.write_text(json.dumps(rec))


def test_record_problems_are_one_line_errors(tmp_path):
    ds = make_stuff_ds(tmp_path, frames=2)
    rec = record(ds, 1)
    cats = [dict(c, isthing=True) if c["name"] == "wall" else c for c in rec["categories"]]
    _edit_record(ds, 1, categories=cats)
    with pytest.raises(UserError, match=r"category 'wall' is stuff in .*000000\.json and a thing in .*000001\.json"):
        export_dataset(ds)
    _edit_record(ds, 1, categories=rec["categories"], background="box")
    with pytest.raises(UserError, match=r"background category 'box' is a thing category"):
        export_dataset(ds)
    _edit_record(ds, 1, background="sky")
    cats = rec["categories"] + [{"name": "other"}]
    _edit_record(ds, 0, categories=cats)
    export_dataset(ds)  # a category named "other" is fine ...
    with pytest.raises(UserError, match=r"named 'other'"):
        export_dataset(ds, ExportConfig(stuff_other=True))  # ... unless stuff_other needs the name
    for bad in ({"tasks": ("instances", "bogus")}, {"tasks": ()}, {"captions_per_image": 0}, {"stuff_other": 1}):
        with pytest.raises(UserError):
            ExportConfig(**bad)


def test_background_needs_a_depth_pass(tmp_path):
    import OpenEXR

    ds = make_stuff_ds(tmp_path, frames=1)
    mask, _ = frame_passes(ds, 0)
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    OpenEXR.File(header, {"ViewLayer.IndexOB.X": mask.astype(np.float32)}).write(str(ds / "records" / "000000.exr"))
    with pytest.raises(UserError, match=r"000000\.exr has no depth pass"):
        export_dataset(ds)


def test_background_missing_from_categories_is_taken_as_stuff(tmp_path):
    ds = make_stuff_ds(tmp_path, frames=1)
    rec = record(ds, 0)
    _edit_record(ds, 0, categories=[c for c in rec["categories"] if c["name"] != "sky"])
    export_dataset(ds)
    stuff = json.loads((ds / "annotations" / "stuff.json").read_text())
    assert "sky" in [c["name"] for c in stuff["categories"]]


def test_cli_tasks_and_stuff_other(tmp_path):
    ds = make_stuff_ds(tmp_path, frames=2)
    r = subprocess.run([sys.executable, "-m", "blender_coco", "export", str(ds), "--tasks", "stuff", "--stuff-other"],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (ds / "annotations").iterdir()) == ["stuff.json"]
    assert json.loads((ds / "annotations" / "stuff.json").read_text())["categories"][-1]["name"] == "other"
    r = subprocess.run([sys.executable, "-m", "blender_coco", "export", str(ds), "--tasks", "instances,bogus"],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "--tasks" in r.stderr

"""``blender-coco merge`` on small hand-made datasets (no Blender): ids, categories, shards, conflicts.

The Blender end-to-end check (three rendered shards merged == one run) is in
test_production.py; here every rule of blender_coco.coco.merge is pinned down on
datasets whose answer is known, and pycocotools loads every output.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cocotools import load_coco
from PIL import Image

from blender_coco.coco.merge import merge_datasets
from blender_coco.commands._common import flag
from blender_coco.errors import UserError

CLI = [sys.executable, "-m", "blender_coco"]
BOX = {"id": 1, "name": "box", "supercategory": "thing"}
PERSON = {"id": 2, "name": "person", "supercategory": "person", "keypoints": ["a", "b"], "skeleton": [[1, 2]]}


def ann(image_id, category_id, x, ann_id=0):
    return {"id": ann_id, "image_id": image_id, "category_id": category_id, "bbox": [x, 1, 2, 2], "area": 4,
            "segmentation": [[x, 1, x + 2, 1, x + 2, 3, x, 3]], "iscrowd": 0}


def make_ds(root: Path, frames: dict[int, list[tuple[int, int]]], categories=(BOX, PERSON), records=True,
            info=None) -> Path:
    """A dataset with images NNNNNN.png (id index + 1) and annotations [(category_id, x), ...] per frame."""
    (root / "images").mkdir(parents=True)
    (root / "annotations").mkdir()
    images, anns = [], []
    for index, items in sorted(frames.items()):
        name = f"{index:06d}.png"
        Image.new("RGB", (8, 6), (index * 20 % 256, 0, 0)).save(root / "images" / name)
        images.append({"id": index + 1, "file_name": name, "width": 8, "height": 6})
        for cat, x in items:
            anns.append(ann(index + 1, cat, x, len(anns) + 1))
        if records:
            (root / "records").mkdir(exist_ok=True)
            (root / "records" / f"{index:06d}.exr").write_bytes(b"v/1\x01" + bytes([index]) * 80)
            (root / "records" / f"{index:06d}.json").write_text(json.dumps(
                {"format": "blender-coco-record", "version": 1, "index": index, "image": name,
                 "passes": f"{index:06d}.exr", "width": 8, "height": 6, "seed": 0}))
    (root / "annotations" / "instances.json").write_text(json.dumps(
        {"info": info or {"description": "t", "seed": 0, "frames": len(frames)}, "licenses": [],
         "images": images, "annotations": anns, "categories": list(categories)}))
    return root


def per_image(path: Path) -> dict[str, list]:
    coco = load_coco(path)
    out = {}
    for image in coco.dataset["images"]:
        out[image["file_name"]] = [(coco.cats[a["category_id"]]["name"], a["bbox"]) for a in coco.imgToAnns[image["id"]]]
    return out


def test_shards_of_one_run_merge_into_the_unsharded_dataset(tmp_path):
    frames = {i: [(1, i % 5), (2, 3)] if i % 2 else [(1, i % 5)] for i in range(9)}
    whole = make_ds(tmp_path / "whole", frames)
    shards = [make_ds(tmp_path / f"s{k}", {i: f for i, f in frames.items() if i % 3 == k},
                      info={"description": "t", "seed": 0, "frames": 3}) for k in range(3)]
    out = merge_datasets(shards, tmp_path / "merged")
    assert json.loads(out.read_text()) == json.loads((whole / "annotations" / "instances.json").read_text())
    assert sorted(p.name for p in (tmp_path / "merged" / "images").iterdir()) == [f"{i:06d}.png" for i in range(9)]
    assert sorted(p.name for p in (tmp_path / "merged" / "records").iterdir()) == sorted(
        [f"{i:06d}.json" for i in range(9)] + [f"{i:06d}.exr" for i in range(9)])
    assert (tmp_path / "merged" / "records" / "000004.exr").read_bytes() == (shards[1] / "records" / "000004.exr").read_bytes()


def test_a_frame_found_twice_with_equal_annotations_is_kept_once(tmp_path):
    a = make_ds(tmp_path / "a", {0: [(1, 0)], 1: [(1, 1)]})
    b = make_ds(tmp_path / "b", {1: [(1, 1)], 2: [(2, 2)]})
    data = json.loads(merge_datasets([a, b], tmp_path / "m").read_text())
    assert [i["file_name"] for i in data["images"]] == ["000000.png", "000001.png", "000002.png"]
    assert [x["id"] for x in data["annotations"]] == [1, 2, 3]


def test_same_file_name_with_other_annotations_is_a_clear_error_or_renumbered(tmp_path, run):
    a = make_ds(tmp_path / "a", {0: [(1, 0)], 1: [(1, 1)]})
    b = make_ds(tmp_path / "b", {0: [(1, 4)]})  # another run: frame 0 shows something else
    with pytest.raises(UserError) as exc:
        merge_datasets([a, b], tmp_path / "m")
    msg = exc.value.render(flag)
    assert "'000000.png'" in msg and str(a) in msg and str(b) in msg and "--renumber" in msg and "\n" not in msg
    assert not (tmp_path / "m" / "annotations").exists()
    proc = run(CLI + ["merge", a, b, "--out", tmp_path / "m"], "merge of two runs", ok=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "--renumber" in proc.stderr
    out = merge_datasets([a, b], tmp_path / "r", renumber=True)
    assert per_image(out) == {"000000.png": [("box", [0, 1, 2, 2])], "000001.png": [("box", [1, 1, 2, 2])],
                              "000002.png": [("box", [4, 1, 2, 2])]}
    sidecar = json.loads((tmp_path / "r" / "records" / "000002.json").read_text())
    assert (sidecar["index"], sidecar["image"], sidecar["passes"]) == (2, "000002.png", "000002.exr")
    assert (tmp_path / "r" / "records" / "000002.exr").read_bytes() == (b / "records" / "000000.exr").read_bytes()
    assert Image.open(tmp_path / "r" / "images" / "000002.png").getpixel((0, 0)) == (0, 0, 0)


def test_categories_are_unified_by_name_and_ids_remapped(tmp_path):
    a = make_ds(tmp_path / "a", {0: [(1, 0)]}, categories=[{"id": 1, "name": "box"}], records=False)
    b = make_ds(tmp_path / "b", {1: [(1, 2), (2, 3)]},
                categories=[{"id": 1, "name": "ball"}, {"id": 2, "name": "box"}], records=False)
    out = merge_datasets([a, b], tmp_path / "m")
    data = json.loads(out.read_text())
    assert [(c["id"], c["name"]) for c in data["categories"]] == [(1, "ball"), (2, "box")]
    assert per_image(out) == {"000000.png": [("box", [0, 1, 2, 2])],
                              "000001.png": [("ball", [2, 1, 2, 2]), ("box", [3, 1, 2, 2])]}
    assert not (tmp_path / "m" / "records").exists()


def test_conflicting_category_definitions_are_a_clear_error(tmp_path):
    a = make_ds(tmp_path / "a", {0: [(2, 0)]})
    other = dict(PERSON, keypoints=["a", "c"])
    b = make_ds(tmp_path / "b", {1: [(2, 1)]}, categories=(BOX, other))
    with pytest.raises(UserError) as exc:
        merge_datasets([a, b], tmp_path / "m")
    msg = exc.value.render(flag)
    assert msg.startswith("category 'person' is defined differently in ") and "['a', 'b']" in msg and "['a', 'c']" in msg


def test_inconsistent_image_ids_are_renumbered_in_file_name_order(tmp_path):
    a = make_ds(tmp_path / "a", {0: [(1, 0)]}, records=False)
    b = make_ds(tmp_path / "b", {5: [(1, 5)]}, records=False)
    data = json.loads((b / "annotations" / "instances.json").read_text())
    data["images"][0]["id"] = 1  # collides with a's image 1
    data["annotations"][0]["image_id"] = 1
    (b / "annotations" / "instances.json").write_text(json.dumps(data))
    out = merge_datasets([a, b], tmp_path / "m")
    merged = json.loads(out.read_text())
    assert [(i["id"], i["file_name"]) for i in merged["images"]] == [(1, "000000.png"), (2, "000005.png")]
    assert [x["image_id"] for x in merged["annotations"]] == [1, 2]


def test_bad_inputs_and_outputs_are_one_line_errors(tmp_path):
    a = make_ds(tmp_path / "a", {0: [(1, 0)]})
    with pytest.raises(UserError, match="has no annotations/instances.json; export it first"):
        merge_datasets([a, tmp_path], tmp_path / "m")
    with pytest.raises(UserError, match="is one of the inputs"):
        merge_datasets([a], a)
    merge_datasets([a], tmp_path / "m")
    with pytest.raises(UserError, match="already holds a dataset"):
        merge_datasets([a], tmp_path / "m")
    (a / "images" / "000000.png").unlink()
    with pytest.raises(UserError, match="000000.png is missing"):
        merge_datasets([a], tmp_path / "m2")


def _edit(ds: Path, change) -> Path:
    path = ds / "annotations" / "instances.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("change, expect", [
    # two categories with one id: every annotation of id 1 would become the last one ("zebra")
    (lambda d: d["categories"].append({"id": 1, "name": "zebra"}),
     "category id 1 is used by several categories ('box', 'zebra')"),
    (lambda d: d["images"].append(dict(d["images"][0], file_name="x.png")),
     "image id 1 is used by several images ('000000.png', 'x.png')"),
    (lambda d: d["annotations"][1].update(image_id=99), "1 annotation(s) refer to no image (annotation -> image_id: 2 -> 99)"),
    (lambda d: d["annotations"][0].update(category_id=9), "1 annotation(s) refer to no category (annotation -> category_id: 1 -> 9)"),
    (lambda d: d["annotations"].append(7), "annotations 2 (by position) are not JSON objects"),
    (lambda d: d["images"].insert(0, "000000.png"), "images 0 (by position) are not JSON objects"),
    (lambda d: d["categories"].append(None), "categories 2 (by position) are not JSON objects"),
    (lambda d: d["images"][0].update(id=[1]), "images 0 (by position) have no integer id (e.g. [1])"),
    (lambda d: d["annotations"][0].update(image_id=[1]), "refer to no image (annotation -> image_id: 1 -> [1])"),
])
def test_inputs_that_would_lose_or_relabel_annotations_are_one_line_errors(tmp_path, change, expect):
    a = make_ds(tmp_path / "a", {0: [(1, 0), (2, 3)]}, records=False)
    b = make_ds(tmp_path / "b", {1: [(1, 1)]}, records=False)
    path = _edit(a, change)
    r = subprocess.run([*CLI, "merge", str(a), str(b), "--out", str(tmp_path / "m")], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith(f"blender-coco: error: {path}: ") and expect in r.stderr, r.stderr
    assert not (tmp_path / "m").exists()

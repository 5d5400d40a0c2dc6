"""Splits in COCO's layout (blender_coco.coco.split, ``blender-coco split``, ``export --split``):
the union of the splits is the input exactly, every image in one split, category ids
identical, deterministic per seed, fractions honoured, hard links, atomic and one-line
errors; pycocotools, datumaro's folder import (and torchvision when present) read the result.

The input is a real export of synthetic frame records (test_stuff's scenes, with a
keypoint category added), so every file kind is there: instances, person_keypoints,
stuff, panoptic (+ PNGs) and captions.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cocotools import import_datumaro, load_coco

from blender_coco.coco.export import export_dataset
from blender_coco.coco.split import SPLIT_TASKS, SplitSpec, assign, split_dataset
from blender_coco.coco.validate import validate_coco
from blender_coco.config import TASKS, ExportConfig
from blender_coco.errors import UserError
from test_stuff import make_stuff_ds

REPO = Path(__file__).resolve().parents[1]
SPEC = SplitSpec((("train", 0.8), ("val", 0.1), ("test", 0.1)), seed=1)


def make_records(tmp: Path, frames: int = 20, per_scene_frame: int = 3) -> Path:
    """Synthetic records whose "person" has two keypoints and where frames k*per_scene_frame ..
    (k+1)*per_scene_frame - 1 show scene frame k + 1 (an animation rendered several times over)."""
    ds = make_stuff_ds(tmp, frames=frames, seed=5, things=("box", "person"), max_things=4)
    for i in range(frames):
        path = ds / "records" / f"{i:06d}.json"
        rec = json.loads(path.read_text())
        rec["scene_frame"] = i // per_scene_frame + 1
        for cat in rec["categories"]:
            if cat["name"] == "person":
                cat["keypoints"], cat["skeleton"] = ["head", "foot"], [[1, 2]]
        for inst in rec["instances"]:
            if inst["category"] == "person":
                inst["keypoints"] = [[10.5, 40.5, 1.0], [500.0, 5.0, 1.0]]  # in frame and in front; outside
        path.write_text(json.dumps(rec))
    return ds


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    ds = make_records(tmp_path_factory.mktemp("split"))
    files = export_dataset(ds, ExportConfig(tasks=TASKS)).files
    assert list(files) == list(SPLIT_TASKS)  # every kind of file is there to split
    return ds


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def check_split(ds: Path, out: Path, names: tuple[str, ...]) -> dict[str, set[int]]:
    """Every property a split must have; returns the image ids of each split."""
    ids: dict[str, set[int]] = {}
    tasks = [t for t in SPLIT_TASKS if (ds / "annotations" / f"{t}.json").is_file()]
    assert sorted(p.name for p in (out / "annotations").glob("*.json") if p.stem.rpartition("_")[2] in
                  ("train", "val", "test")) == sorted(
        f"{t}_{s}.json" for t in tasks for s in names)
    for task in tasks:
        whole = load(ds / "annotations" / f"{task}.json")
        parts = {s: load(out / "annotations" / f"{task}_{s}.json") for s in names}
        for s, part in parts.items():
            assert {k: v for k, v in part.items() if k not in ("images", "annotations")} == \
                   {k: v for k, v in whole.items() if k not in ("images", "annotations")}  # categories, info, licenses
            part_ids = {i["id"] for i in part["images"]}
            assert all(a["image_id"] in part_ids for a in part["annotations"])
            assert ids.setdefault(s, part_ids) == part_ids  # every file of a split has the same images
        images = [i for s in names for i in parts[s]["images"]]
        anns = [a for s in names for a in parts[s]["annotations"]]
        assert sorted(images, key=lambda i: i["id"]) == whole["images"]  # the union is the input, exactly
        key = (lambda a: a["image_id"]) if task == "panoptic" else (lambda a: a["id"])
        assert sorted(anns, key=key) == sorted(whole["annotations"], key=key)
    assert sum(len(v) for v in ids.values()) == len(set().union(*ids.values()))  # each image in exactly one split
    for s in names:
        for img in load(out / "annotations" / f"instances_{s}.json")["images"]:
            assert (out / "images" / s / img["file_name"]).samefile(ds / "images" / img["file_name"])
        for ann in load(out / "annotations" / f"panoptic_{s}.json")["annotations"] if "panoptic" in tasks else []:
            assert (out / "annotations" / f"panoptic_{s}" / ann["file_name"]).samefile(
                ds / "annotations" / "panoptic" / ann["file_name"])
    return ids


def test_split_is_cocos_layout_and_its_union_is_the_input(dataset, tmp_path):
    out = tmp_path / "out"
    result = split_dataset(dataset, out, SPEC)
    ids = check_split(dataset, out, ("train", "val", "test"))
    assert {s: len(v) for s, v in ids.items()} == result.images == {"train": 16, "val": 2, "test": 2}
    assert (result.linked, result.copied) == (20 + 20, 0)  # images and panoptic PNGs, all hard links
    assert sorted(result.files) == sorted(f"{t}_{s}" for t in SPLIT_TASKS for s in ("train", "val", "test"))
    assert sorted(p.name for p in (out / "images").iterdir()) == ["test", "train", "val"]
    assert not list(out.glob(".*"))  # no staging folder left
    for s in ("train", "val", "test"):
        for task in SPLIT_TASKS:
            data = load(out / "annotations" / f"{task}_{s}.json")
            panoptic = out / "annotations" / f"panoptic_{s}" if task == "panoptic" else None
            assert validate_coco(data, out / "images" / s, panoptic, "stuff" if task == "stuff" else None) == []
            if task != "panoptic":  # pycocotools has no panoptic reader (panopticapi's format)
                assert len(load_coco(out / "annotations" / f"{task}_{s}.json").imgs) == len(ids[s])


def test_same_seed_same_split_other_seed_other_split(dataset, tmp_path):
    a, b, c = (tmp_path / n for n in "abc")
    split_dataset(dataset, a, SPEC)
    split_dataset(dataset, b, SPEC)
    split_dataset(dataset, c, SplitSpec(SPEC.fractions, seed=2))
    for s in ("train", "val", "test"):
        for task in SPLIT_TASKS:
            name = f"annotations/{task}_{s}.json"
            assert (a / name).read_bytes() == (b / name).read_bytes()
    train = [{i["id"] for i in load(d / "annotations/instances_train.json")["images"]} for d in (a, c)]
    assert train[0] != train[1]


def test_split_by_scene_keeps_each_scene_frame_in_one_split(dataset, tmp_path):
    out = tmp_path / "out"
    split_dataset(dataset, out, SplitSpec(SPEC.fractions, seed=0, by="scene"))
    ids = check_split(dataset, out, ("train", "val", "test"))
    scene_of = {load(p)["index"] + 1: load(p)["scene_frame"] for p in (dataset / "records").glob("*.json")}
    frames = {s: {scene_of[i] for i in v} for s, v in ids.items()}
    assert all(frames[s] for s in frames)
    assert not (frames["train"] & frames["val"] or frames["train"] & frames["test"] or frames["val"] & frames["test"])
    # 20 images in 7 scene frames (six of 3, one of 2): train gets at most 16 and at least 14
    assert 14 <= len(ids["train"]) <= 16 and len(ids["val"]) + len(ids["test"]) == 20 - len(ids["train"])


@pytest.mark.parametrize("n, fractions, sizes", [
    (20, (("train", 0.8), ("val", 0.1), ("test", 0.1)), {"train": 16, "val": 2, "test": 2}),
    (7, (("train", 0.7), ("val", 0.15), ("test", 0.15)), {"train": 5, "val": 1, "test": 1}),
    (3, (("train", 0.98), ("val", 0.01), ("test", 0.01)), {"train": 1, "val": 1, "test": 1}),  # none empty
    (10, (("train", 1.0), ("test", 0.0)), {"train": 10}),
    (5, (("train", 0.5), ("val", 0.5)), {"train": 3, "val": 2}),
])
def test_split_sizes_follow_the_fractions(n, fractions, sizes):
    spec = SplitSpec(fractions, seed=4)
    where = assign({i: i for i in range(1, n + 1)}, spec)
    got = {s: sum(1 for v in where.values() if v == s) for s in spec.names}
    assert got == sizes and sorted(where) == list(range(1, n + 1))


def test_groups_are_never_cut_and_no_nonzero_split_stays_empty():
    groups = {i: ("a" if i <= 6 else "b" if i <= 8 else "c") for i in range(1, 11)}  # group sizes 6, 2, 2
    where = assign(groups, SplitSpec((("train", 0.8), ("val", 0.1), ("test", 0.1)), by="scene"), "scene frames")
    by_group = {g: {where[i] for i in groups if groups[i] == g} for g in "abc"}
    assert all(len(v) == 1 for v in by_group.values()) and {v.pop() for v in by_group.values()} == {"train", "val", "test"}
    with pytest.raises(UserError, match="cannot fill 3 splits .* from 10 images in 2 scene frames"):
        assign({i: i > 5 for i in range(1, 11)}, SplitSpec((("train", 0.8), ("val", 0.1), ("test", 0.1)), by="scene"),
               "scene frames")


@pytest.mark.parametrize("fractions, text", [
    ((("train", 0.8), ("val", 0.1)), "split fractions must sum to 1, got train 0.8 + val 0.1 = 0.9"),
    ((("train", 1.2), ("val", -0.2)), "split fraction of train must be in [0, 1], got 1.2"),
    ((("train", 0.5), ("dev", 0.5)), "split must give fractions of train, val, test"),
    ((("train", 0.5), ("train", 0.5)), "split names each split once"),
])
def test_bad_fractions_are_one_line_errors(fractions, text):
    with pytest.raises(UserError) as err:
        SplitSpec(fractions)
    assert text in str(err.value) and "\n" not in str(err.value)


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "blender_coco", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300)


def test_cli_split_errors_are_one_line_and_write_nothing(dataset, tmp_path):
    out = tmp_path / "out"
    for args, text in [
        (["--train", "0.8", "--val", "0.1"], "the fractions must sum to 1, got --train 0.8 + --val 0.1 = 0.9"),
        ([], "give the split's fractions"),
        (["--train", "0.5", "--val", "0.5", "--by", "scene", "--seed", "-1"], "split seed must be an integer"),
    ]:
        r = cli("split", str(dataset), "--out", str(out), *args)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and text in r.stderr, r.stderr
    tiny = make_records(tmp_path / "tiny", frames=2)
    export_dataset(tiny)
    r = cli("split", str(tiny), "--out", str(out), "--train", "0.8", "--val", "0.1", "--test", "0.1")
    assert r.returncode == 2 and "cannot fill 3 splits (train, val, test) from 2 images" in r.stderr, r.stderr
    shutil.rmtree(tiny / "records")
    r = cli("split", str(tiny), "--out", str(out), "--train", "1", "--by", "scene")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "split by scene needs the frame records" in r.stderr
    (tiny / "images" / "000001.png").unlink()
    r = cli("split", str(tiny), "--out", str(out), "--train", "1")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "000001.png does not exist" in r.stderr, r.stderr
    assert not out.exists()  # nothing written by any failed run


def test_an_existing_split_needs_overwrite_which_replaces_it_whole(dataset, tmp_path):
    out = tmp_path / "out"
    assert cli("split", str(dataset), "--out", str(out), "--train", "0.8", "--val", "0.1", "--test", "0.1").returncode == 0
    before = (out / "annotations" / "instances_train.json").read_bytes()
    r = cli("split", str(dataset), "--out", str(out), "--train", "0.5", "--val", "0.5")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "already holds a split" in r.stderr
    assert "--overwrite" in r.stderr and (out / "annotations" / "instances_train.json").read_bytes() == before
    assert (out / "images" / "test").is_dir()
    r = cli("split", str(dataset), "--out", str(out), "--train", "0.5", "--val", "0.5", "--overwrite")
    assert r.returncode == 0, r.stderr
    check_split(dataset, out, ("train", "val"))
    assert not (out / "images" / "test").exists() and not list((out / "annotations").glob("*_test*"))


@pytest.mark.skipif(not os.path.isdir("/dev/shm") or os.stat("/dev/shm").st_dev == os.stat(REPO).st_dev,
                    reason="needs a second file system (/dev/shm) to force copies")
def test_across_file_systems_images_are_copied(dataset):
    import tempfile

    with tempfile.TemporaryDirectory(dir="/dev/shm") as tmp:
        if os.stat(tmp).st_dev == os.stat(dataset).st_dev:
            pytest.skip("/dev/shm is on the dataset's file system")
        result = split_dataset(dataset, Path(tmp) / "out", SPEC)
        assert (result.linked, result.copied) == (0, 40)
        for img in load(Path(tmp) / "out" / "annotations" / "instances_val.json")["images"]:
            copy = Path(tmp) / "out" / "images" / "val" / img["file_name"]
            assert copy.read_bytes() == (dataset / "images" / img["file_name"]).read_bytes()


def test_export_split_writes_the_layout_into_the_dataset_and_replaces_it(tmp_path):
    ds = make_records(tmp_path, frames=10)
    r = cli("export", str(ds), "--tasks", "all", "--split", "train=0.6,val=0.2,test=0.2", "--split-seed", "3")
    assert r.returncode == 0, r.stderr
    check_split(ds, ds, ("train", "val", "test"))
    assert (ds / "annotations" / "instances.json").is_file()  # the unsplit files stay
    result = export_dataset(ds, ExportConfig(tasks=TASKS, split=(("train", 0.5), ("val", 0.5)), split_by="scene"))
    assert [k for k in result.files if "_" in k and k != "person_keypoints"] == \
           [f"{t}_{s}" for t in SPLIT_TASKS for s in ("train", "val")]
    check_split(ds, ds, ("train", "val"))
    assert not (ds / "images" / "test").exists()
    r = cli("export", str(ds), "--split", "train=0.5,val=0.6")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "split fractions must sum to 1" in r.stderr, r.stderr


def test_render_and_export_take_the_split_and_it_crosses_the_hand_off():
    from blender_coco.cli import build_parser
    from blender_coco.commands.render import config_from_args

    args = build_parser().parse_args(["render", "--out", "ds", "--split", "train=0.9,test=0.1", "--split-by", "scene",
                                      "--split-seed", "7"])
    export = config_from_args(args).export
    assert (export.split, export.split_by, export.split_seed) == ((("train", 0.9), ("test", 0.1)), "scene", 7)
    assert ExportConfig.from_json(json.loads(json.dumps(export.to_json()))) == export


@pytest.mark.parametrize("where", ["out", "in place"])
def test_datumaro_imports_the_split_folder(dataset, tmp_path, where):
    """A split OUT, and a dataset folder holding its split beside the unsplit files and records."""
    datumaro = import_datumaro()
    if where == "out":
        out = tmp_path / "out"
        split_dataset(dataset, out, SPEC)
    else:
        out = make_records(tmp_path, frames=10)
        export_dataset(out, ExportConfig(tasks=TASKS, split=SPEC.fractions))
    imported = datumaro.Dataset.import_from(str(out), "coco")
    subsets = {name: imported.get_subset(name) for name in imported.subsets()}
    assert sorted(subsets) == ["test", "train", "val"]
    for name, subset in subsets.items():
        inst = load(out / "annotations" / f"instances_{name}.json")
        assert len(subset) == len(inst["images"])
        boxes = sum(1 for item in subset for a in item.annotations if a.type == datumaro.AnnotationType.bbox)
        assert boxes == len(inst["annotations"])
        assert all(item.media.path.startswith(str(out / "images" / name)) for item in subset)
        assert all(os.path.isfile(item.media.path) for item in subset)
    labels = [c.name for c in imported.categories()[datumaro.AnnotationType.label].items]
    assert labels == [c["name"] for c in load(out / "annotations" / "instances_train.json")["categories"]]


def test_torchvision_coco_detection_reads_each_split(dataset, tmp_path):
    datasets = pytest.importorskip("torchvision.datasets", reason="torchvision not installed (not a dependency)")
    out = tmp_path / "out"
    split_dataset(dataset, out, SPEC)
    for s in ("train", "val", "test"):
        inst = load(out / "annotations" / f"instances_{s}.json")
        coco = datasets.CocoDetection(str(out / "images" / s), str(out / "annotations" / f"instances_{s}.json"))
        assert len(coco) == len(inst["images"])
        image, target = coco[0]
        assert image.size == (inst["images"][0]["width"], inst["images"][0]["height"])
        assert [t["id"] for t in target] == [a["id"] for a in inst["annotations"] if a["image_id"] == coco.ids[0]]


@pytest.mark.blender
@pytest.mark.skipif(importlib.util.find_spec("bpy") is None, reason="bpy (Blender as a Python module) not installed")
def test_render_split_gives_the_layout_of_a_real_render(tmp_path):
    ds = tmp_path / "ds"
    r = cli("render", "--out", str(ds), "--frames", "4", "--resolution", "64x48", "--samples", "1",
            "--split", "train=0.5,val=0.5")
    assert r.returncode == 0, r.stderr[-3000:]
    ids = check_split(ds, ds, ("train", "val"))
    assert {s: len(v) for s, v in ids.items()} == {"train": 2, "val": 2}
    assert "instances_train.json" in r.stderr  # the render reports the split files it wrote

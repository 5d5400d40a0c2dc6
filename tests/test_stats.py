"""Dataset statistics: exact counts on a hand-made file, size buckets judged by pycocotools' area
filter, real COCO keypoints, occlusion from frame records, JSON/table/plot output and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from shared_assets import ASSETS, needs_assets
from PIL import Image

from blender_coco.errors import UserError
from blender_coco.coco.stats import dataset_stats, format_table, plot_stats
from cocotools import load_coco
from test_export import write_exr

REPO = Path(__file__).resolve().parents[1]
KEYPOINTS = ASSETS / "coco" / "person_keypoints" / "person_keypoints_val2017_4img.json"
needs_assets = needs_assets("coco", "person_keypoints", "person_keypoints_val2017_4img.json")


def small_file() -> dict:
    """3 images (one empty), 2 categories; areas at the bucket edges; CVAT-style occlusion flags on some."""
    box = lambda i, img, cat, bbox, area, **kw: {"id": i, "image_id": img, "category_id": cat, "bbox": bbox,  # noqa: E731
                                                 "area": area, "iscrowd": 0, **kw}
    return {
        "images": [{"id": 1, "width": 200, "height": 100, "file_name": "a.png"},
                   {"id": 2, "width": 200, "height": 100, "file_name": "b.png"},
                   {"id": 3, "width": 200, "height": 100, "file_name": "c.png"}],
        "categories": [{"id": 1, "name": "box"},
                       {"id": 2, "name": "person", "keypoints": ["nose", "tail"], "skeleton": [[1, 2]]}],
        "annotations": [
            box(1, 1, 1, [0, 10, 5, 5], 1023, attributes={"occluded": True}),   # small, truncated (x = 0)
            box(2, 1, 1, [50, 10, 40, 40], 1024, attributes={"occluded": False}),  # medium (edge)
            box(3, 1, 1, [150, 50, 50, 50], 9216),                             # large (edge), truncated (right)
            box(4, 2, 2, [20, 20, 30, 30], 500, occluded=1, keypoints=[10, 10, 2, 0, 0, 0], num_keypoints=1),
            box(5, 2, 2, [20, 20, 30, 30], 9215.5, keypoints=[10, 10, 1, 12, 12, 2], num_keypoints=2,
                iscrowd=1),
        ],
    }


def test_exact_counts_on_a_small_file():
    s = dataset_stats(small_file())
    assert s["images"] == 3 and s["annotations"] == 5
    assert s["categories"] == [
        {"id": 1, "name": "box", "instances": 3, "small": 1, "medium": 1, "large": 1, "crowd": 0, "truncated": 2,
         "occluded": 1, "occlusion_known": 2},
        {"id": 2, "name": "person", "instances": 2, "small": 1, "medium": 1, "large": 0, "crowd": 1, "truncated": 0,
         "occluded": 1, "occlusion_known": 1}]
    assert s["sizes"] == {"small": 2, "medium": 2, "large": 1}
    assert s["instances_per_image"] == {"min": 0, "mean": round(5 / 3, 3), "max": 3}
    assert s["truncated"] == 2 and s["occlusion"] == {"known": 3, "occluded": 2}
    assert s["keypoints"] == [{"category": "person", "category_id": 2, "visibility": {
        "nose": {"v0": 0, "v1": 1, "v2": 1}, "tail": {"v0": 1, "v1": 0, "v2": 1}}}]
    table = format_table(s, "small.json")
    assert table.splitlines()[0] == "small.json: 3 images, 5 instances, 2 categories"
    assert "instances per image: min 0, mean 1.67, max 3" in table
    assert any(line.split() == ["box", "3", "1", "1", "1", "0", "2", "1/2"] for line in table.splitlines())
    assert any(line.split() == ["tail", "1", "0", "1"] for line in table.splitlines())


def test_unknown_occlusion_is_shown_as_unknown():
    data = small_file()
    for a in data["annotations"]:
        a.pop("attributes", None), a.pop("occluded", None)
    s = dataset_stats(data)
    assert s["occlusion"] == {"known": 0, "occluded": 0} and all(r["occluded"] is None for r in s["categories"])
    assert "occluded: unknown" in format_table(s)


@needs_assets
def test_real_keypoints_file_against_pycocotools():
    data = json.loads(KEYPOINTS.read_text())
    s = dataset_stats(data)
    coco = load_coco(KEYPOINTS)
    eps = 1e-9
    for name, rng in (("small", [-eps, 32 ** 2]), ("medium", [32 ** 2 - eps, 96 ** 2]), ("large", [96 ** 2 - eps, 1e10])):
        assert s["sizes"][name] == len(coco.getAnnIds(areaRng=rng))  # pycocotools' strict area filter
    [kp] = s["keypoints"]
    names = coco.cats[1]["keypoints"]
    v = np.array([a["keypoints"][2::3] for a in data["annotations"]])
    for j, n in enumerate(names):
        assert kp["visibility"][n] == {f"v{k}": int((v[:, j] == k).sum()) for k in range(3)}
    per_image = [len(coco.getAnnIds(imgIds=[i])) for i in coco.imgs]
    assert s["instances_per_image"] == {"min": min(per_image), "mean": round(float(np.mean(per_image)), 3),
                                        "max": max(per_image)}


def occlusion_ds(tmp: Path) -> Path:
    """One frame: a near box hiding part of a far ball; a cup alone."""
    ds = tmp / "ds"
    (ds / "records").mkdir(parents=True)
    mask = np.zeros((40, 60), np.uint16)
    depth = np.full((40, 60), 1e10, np.float32)
    mask[10:30, 25:50], depth[10:30, 25:50] = 2, 8.0
    mask[15:35, 10:35], depth[15:35, 10:35] = 1, 4.0
    mask[2:6, 52:57], depth[2:6, 52:57] = 3, 9.0
    write_exr(ds / "records" / "000000.exr", mask, depth, "blender50")
    rec = {"format": "blender-coco-record", "version": 1, "index": 0, "seed": 0, "image": "000000.png",
           "passes": "000000.exr", "width": 60, "height": 40, "categories": [{"name": "ball"}, {"name": "box"},
                                                                              {"name": "cup"}],
           "instances": [{"pass_index": 1, "category": "box"}, {"pass_index": 2, "category": "ball"},
                         {"pass_index": 3, "category": "cup"}]}
    (ds / "records" / "000000.json").write_text(json.dumps(rec))
    return ds


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "blender_coco", *args], capture_output=True, text=True, cwd=REPO)


def test_dataset_folder_knows_occlusion_from_its_records(tmp_path):
    from blender_coco.coco.export import export_dataset

    ds = occlusion_ds(tmp_path)
    export_dataset(ds)
    r = cli("stats", str(ds), "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    by_name = {row["name"]: row for row in s["categories"]}
    assert (by_name["ball"]["occluded"], by_name["box"]["occluded"], by_name["cup"]["occluded"]) == (1, 0, 0)
    assert s["occlusion"] == {"known": 3, "occluded": 1}
    r = cli("stats", str(ds), "--json", "--no-passes")
    assert json.loads(r.stdout)["occlusion"] == {"known": 0, "occluded": 0}
    r = cli("stats", str(ds))
    assert r.returncode == 0 and "occluded: 1 of 3 known" in r.stdout


def test_plot_writes_a_png(tmp_path):
    out = plot_stats(dataset_stats(small_file()), tmp_path / "plots" / "s.png", "small")
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size[0] > 400 and len(np.unique(np.asarray(im.convert("RGB")).reshape(-1, 3), axis=0)) > 10
    f = tmp_path / "small.json"
    f.write_text(json.dumps(small_file()))
    r = cli("stats", str(f), "--plot", str(tmp_path / "cli.png"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "cli.png").is_file() and "5 instances" in r.stdout


def test_missing_matplotlib_names_the_extra(tmp_path):
    f = tmp_path / "small.json"
    f.write_text(json.dumps(small_file()))
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "from blender_coco.cli import main\n"
            f"sys.exit(main(['stats', {str(f)!r}, '--plot', {str(tmp_path / 'x.png')!r}]))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "pip install blender-coco[plot]" in r.stderr
    assert not (tmp_path / "x.png").exists()


def test_bad_inputs_are_one_line_errors(tmp_path):
    with pytest.raises(UserError):
        dataset_stats([1, 2])
    (tmp_path / "empty").mkdir()
    for target in (tmp_path / "empty", tmp_path / "missing.json"):
        r = cli("stats", str(target))
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and str(target) in r.stderr

"""More instances than 8 bits hold: 300 marked squares (scenes/grid.py), each its own annotation.

Also the bpy-module form of the script front end: the builder saves a .blend
(``python scenes/grid.py --save``) and ``python scripts/render_coco.py SCENE.blend``
renders it.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from cocotools import decode, load_coco, self_eval

_spec = importlib.util.spec_from_file_location("scene_grid", Path(__file__).resolve().parents[1] / "scenes" / "grid.py")
grid = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(grid)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, run):
    tmp = tmp_path_factory.mktemp("grid")
    blend = tmp / "grid.blend"
    run([sys.executable, "scenes/grid.py", "--save", blend], "building scenes/grid.py")
    run([sys.executable, "scripts/render_coco.py", blend, "--out", tmp / "ds", "--segmentation", "polygon"],
        "python scripts/render_coco.py grid.blend")
    return tmp / "ds"


def test_three_hundred_instances_each_get_an_exact_annotation(dataset):
    coco = load_coco(dataset / "annotations" / "instances.json")
    anns = coco.dataset["annotations"]
    assert len(anns) == grid.COUNT
    record = json.loads((dataset / "records" / "000000.json").read_text())
    by_index = {i["pass_index"]: i["object"] for i in record["instances"]}
    assert sorted(by_index) == list(range(1, grid.COUNT + 1))
    for k, ann in enumerate(anns):  # exporter order: by pass index = name order
        assert by_index[k + 1] == grid.name(k)
        assert ann["bbox"] == grid.expected_bbox(k), grid.name(k)
        assert ann["area"] == 16
        assert coco.cats[ann["category_id"]]["name"] == grid.category(k)
        mask = decode(ann["segmentation"], grid.HEIGHT, grid.WIDTH)
        x, y, w, h = grid.expected_bbox(k)
        want = np.zeros((grid.HEIGHT, grid.WIDTH), bool)
        want[y:y + h, x:x + w] = True
        assert np.array_equal(mask, want), grid.name(k)


def test_grid_dataset_evaluates_perfectly_against_itself(dataset):
    path = dataset / "annotations" / "instances.json"
    assert self_eval(path, "bbox") == 1.0
    assert self_eval(path, "segm") == 1.0

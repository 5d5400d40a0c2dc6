"""render_preview / write_previews / ``blender-coco preview``: pixels where we know things are, real files."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from shared_assets import ASSETS, needs_assets
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from blender_coco.coco.canvas import CANVAS_GREY
from blender_coco.coco.colors import MASK_ALPHA, OCCLUDED_KEYPOINT, VISIBLE_KEYPOINT, category_color
from blender_coco.coco.preview import preview_names, render_preview, write_previews

REPO = Path(__file__).resolve().parents[1]
COCO_DIR = ASSETS / "coco"
KEYPOINTS = COCO_DIR / "person_keypoints" / "person_keypoints_val2017_4img.json"
DATUMARO = COCO_DIR / "datumaro_fixtures" / "annotations"
needs_assets = needs_assets("coco")

W, H = 80, 60
GREY = np.array(CANVAS_GREY)


def uncompressed_rle(mask: np.ndarray) -> dict:
    flat = mask.ravel(order="F").astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], flat, [1 - flat[-1]])))) if flat.size else np.array([])
    counts = np.diff(np.concatenate(([0], edges))).tolist()
    if flat[0] == 1:
        counts = [0] + counts
    return {"size": list(mask.shape), "counts": [int(c) for c in counts]}


def synthetic() -> tuple[dict, dict[int, np.ndarray]]:
    """Image 1: a polygon box, a compressed-RLE ring with a hole, a box-less uncompressed RLE. Image 2: two people."""
    ring = np.zeros((H, W), np.uint8)
    ring[30:56, 45:76] = 1
    ring[36:50, 52:68] = 0
    ring_rle = mask_utils.encode(np.asfortranarray(ring))
    ring_rle["counts"] = ring_rle["counts"].decode("ascii")
    strip = np.zeros((H, W), np.uint8)
    strip[45:58, 2:8] = 1
    data = {
        "images": [{"id": 1, "file_name": "scene/one.jpg", "width": W, "height": H},
                   {"id": 2, "file_name": "two.png", "width": W, "height": H}],
        "categories": [{"id": 1, "name": "box"}, {"id": 3, "name": "strip"},
                       {"id": 2, "name": "person", "keypoints": ["a", "b", "c"], "skeleton": [[1, 2], [2, 3], [1, 3]]}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[10, 20, 30, 20, 30, 40, 10, 40]],
             "bbox": [10, 20, 20, 20], "area": 400, "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 1, "segmentation": ring_rle,
             "bbox": [45, 30, 31, 26], "area": int(ring.sum()), "iscrowd": 0},
            {"id": 3, "image_id": 1, "category_id": 3, "segmentation": uncompressed_rle(strip),
             "area": int(strip.sum()), "iscrowd": 0},
            {"id": 4, "image_id": 2, "category_id": 2, "bbox": [50, 30, 25, 25], "area": 300, "iscrowd": 0,
             "keypoints": [20, 40, 2, 40, 40, 1, 0, 0, 0], "num_keypoints": 2},
            {"id": 5, "image_id": 2, "category_id": 2, "bbox": [50, 30, 25, 25], "area": 300, "iscrowd": 0,
             "keypoints": [10, 55, 2, 30, 55, 2, 0, 0, 0], "num_keypoints": 2},
        ],
    }
    return data, {1: ring.astype(bool), 3: strip.astype(bool)}


def annToMask(data: dict, ann_id: int) -> np.ndarray:
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = json.loads(json.dumps(data))
        coco.createIndex()
    return coco.annToMask(coco.anns[ann_id]).astype(bool)


def blend(color) -> np.ndarray:
    return np.rint(GREY * (1 - MASK_ALPHA) + np.array(color) * MASK_ALPHA)


def test_masks_and_box_outlines_are_pixel_exact_below_the_labels():
    """Rows 30.. hold no label tags: every pixel there is grey, a mask blend, or a box outline."""
    data, _ = synthetic()
    got = np.asarray(render_preview(data, 1)).astype(int)
    assert got.shape == (H, W, 3)

    expect = np.tile(GREY, (H, W, 1)).astype(float)
    for ann_id in (1, 2, 3):  # masks decoded by pycocotools itself (annToMask)
        ann = data["annotations"][ann_id - 1]
        expect[annToMask(data, ann_id)] = blend(category_color(ann["category_id"]))
    box = category_color(1)
    for x0, y0, x1, y1 in ((10, 20, 29, 39), (45, 30, 75, 55)):  # pixels covered by bbox [x, y, w, h]
        expect[y0, x0:x1 + 1] = expect[y1, x0:x1 + 1] = box
        expect[y0:y1 + 1, x0] = expect[y0:y1 + 1, x1] = box
    diff = np.abs(got[30:] - expect[30:]).max(axis=2)
    assert diff.max() <= 1, f"{(diff > 1).sum()} pixels differ, first at {np.argwhere(diff > 1)[0] + [30, 0]}"
    assert (got[30:, 10, :] != GREY).all(axis=1).sum() == 10  # the left edge of box 1, rows 30..39


def test_mask_colour_inside_not_outside_and_holes_stay_empty():
    data, masks = synthetic()
    got = np.asarray(render_preview(data, 1)).astype(int)
    ring_fill = blend(category_color(1))
    assert (np.abs(got[40, 47] - ring_fill) <= 1).all()   # in the ring
    assert (got[42, 60] == GREY).all()                     # in its hole (RLE keeps holes)
    assert (got[28, 60] == GREY).all()                     # just above its box
    strip = masks[3]
    strip_px = got[strip]
    assert (np.abs(strip_px - blend(category_color(3))) <= 1).all()  # uncompressed RLE, no bbox: pure fill
    around = np.zeros_like(strip)
    around[43:60, 0:10] = True
    assert (got[around & ~strip] == GREY).all()
    assert category_color(1) != category_color(3)


def test_box_outline_pixels_have_the_box_colour():
    data, _ = synthetic()
    got = render_preview(data, 1)
    c = category_color(1)
    for xy in [(10, 30), (29, 30), (20, 39), (20, 20), (45, 40), (75, 40), (60, 55)]:
        assert got.getpixel(xy) == c, xy
    for xy in [(9, 30), (30, 30), (20, 41), (44, 40), (76, 40)]:
        assert got.getpixel(xy) == CANVAS_GREY, xy


def test_keypoints_visible_filled_occluded_hollow_unlabelled_not_drawn():
    data, _ = synthetic()
    got = render_preview(data, 2)
    assert got.getpixel((20, 40)) == VISIBLE_KEYPOINT        # v = 2: filled
    assert got.getpixel((10, 55)) == VISIBLE_KEYPOINT
    assert got.getpixel((42, 40)) == OCCLUDED_KEYPOINT       # v = 1: ring at the radius ...
    assert got.getpixel((40, 42)) == OCCLUDED_KEYPOINT
    assert got.getpixel((40, 40)) not in (OCCLUDED_KEYPOINT, VISIBLE_KEYPOINT)  # ... hollow centre
    assert got.getpixel((0, 0)) == CANVAS_GREY               # v = 0: nothing


def test_skeleton_solid_between_visible_dashed_to_occluded_absent_to_unlabelled():
    data, _ = synthetic()
    got = np.asarray(render_preview(data, 2))
    limb = np.array(category_color(2))
    solid = (got[55, 13:28] == limb).all(axis=1)   # ann 5: both ends v = 2
    assert solid.all()
    dashed = (got[40, 23:38] == limb).all(axis=1)  # ann 4: b is occluded
    assert 0 < dashed.sum() < dashed.size
    for x, y in [(10, 20), (20, 20), (5, 27), (15, 27)]:  # midpoints of limbs to the v = 0 keypoint (0, 0)
        assert (got[y, x] == GREY).all(), (x, y)


def test_label_names_the_category_above_its_box():
    data, _ = synthetic()
    got = np.asarray(render_preview(data, 1))
    tag = got[10:20, 10:30]
    assert (tag == category_color(1)).all(axis=2).sum() > 50   # the tag's background
    assert (tag != category_color(1)).any(axis=2).sum() > 5    # and its text


def test_colours_are_deterministic_and_distinct():
    assert [category_color(i) for i in range(1, 30)] == [category_color(i) for i in range(1, 30)]
    assert len({category_color(i) for i in range(1, 30)}) == 29


def test_images_folder_used_where_present_grey_canvas_with_one_warning_where_missing(tmp_path, caplog):
    data, _ = synthetic()
    photo = np.zeros((H, W, 3), np.uint8)
    photo[..., 0] = np.arange(W)[None, :] * 3
    photo[..., 2] = 200
    (tmp_path / "scene").mkdir()
    Image.fromarray(photo).save(tmp_path / "scene" / "one.jpg", quality=100)
    on_photo = np.asarray(render_preview(data, 1, tmp_path)).astype(int)
    source = np.asarray(Image.open(tmp_path / "scene" / "one.jpg")).astype(int)
    assert (on_photo[2:8, 40:79] == source[2:8, 40:79]).all()  # no annotation there: the photo itself
    with caplog.at_level(logging.WARNING, logger="blender_coco"):
        on_canvas = np.asarray(render_preview(data, 2, tmp_path))
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "two.png not found" in warnings[0]
    assert (on_canvas[0, 79] == GREY).all()


def test_write_previews_names_sizes_and_selection(tmp_path):
    data, _ = synthetic()
    paths = write_previews(data, tmp_path / "out")
    assert [p.name for p in paths] == ["one.png", "two.png"]
    for p in paths:
        assert Image.open(p).size == (W, H)
    assert not list((tmp_path / "out").glob(".*"))  # no temp files left behind
    assert [p.name for p in write_previews(data, tmp_path / "o2", image_ids=[2])] == ["two.png"]
    assert len(write_previews(data, tmp_path / "o3", limit=1)) == 1
    assert np.array_equal(np.asarray(Image.open(paths[1])), np.asarray(render_preview(data, 2)))


def test_preview_names_disambiguate_colliding_stems():
    imgs = [{"id": 1, "file_name": "a/x.jpg"}, {"id": 2, "file_name": "b/x.png"}, {"id": 3, "file_name": "y.jpg"}]
    assert preview_names(imgs) == {1: "x_1.png", 2: "x_2.png", 3: "y.png"}


def test_malformed_annotations_are_skipped_not_fatal(caplog):
    data, _ = synthetic()
    data["annotations"][0]["segmentation"] = {"size": [H, W], "counts": [5, 3]}  # runs do not cover the image
    data["annotations"][1]["bbox"] = [1, 2]
    data["annotations"][3]["keypoints"] = [1, 2]
    with caplog.at_level(logging.WARNING, logger="blender_coco"):
        assert render_preview(data, 1).size == (W, H)
        assert render_preview(data, 2).size == (W, H)
    assert any("annotation 1 has a malformed segmentation" in r.getMessage() for r in caplog.records)


@needs_assets
def test_real_person_keypoints_previews(tmp_path):
    data = json.loads(KEYPOINTS.read_text())
    paths = write_previews(data, tmp_path)
    assert len(paths) == 4
    for img, path in zip(data["images"], paths):
        assert path.name == Path(img["file_name"]).stem + ".png"
        got = np.asarray(Image.open(path))
        assert got.shape == (img["height"], img["width"], 3)
        # every v = 2 keypoint has a visible-colour dot on it (a neighbour's rim may cover its very centre)
        for ann in (a for a in data["annotations"] if a["image_id"] == img["id"]):
            kps = ann["keypoints"]
            for x, y, v in zip(kps[0::3], kps[1::3], kps[2::3]):
                if v == 2:
                    near = got[max(0, int(y) - 1):int(y) + 2, max(0, int(x) - 1):int(x) + 2]
                    assert (near == VISIBLE_KEYPOINT).all(axis=2).any(), (img["id"], ann["id"], x, y)


@needs_assets
@pytest.mark.parametrize("name", sorted(p.name for p in DATUMARO.glob("*.json")) if DATUMARO.is_dir() else [])
def test_datumaro_previews_run_at_image_size(tmp_path, name):
    data = json.loads((DATUMARO / name).read_text())
    paths = write_previews(data, tmp_path)
    assert len(paths) == len(data["images"])
    for img, path in zip(data["images"], paths):
        assert Image.open(path).size == (img["width"], img["height"])


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "blender_coco", "preview", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=120)


def test_cli(tmp_path):
    data, _ = synthetic()
    src = tmp_path / "syn.json"
    src.write_text(json.dumps(data))
    ok = cli(str(src), "--out", str(tmp_path / "pv"), "--image-ids", "2")
    assert ok.returncode == 0, ok.stderr
    assert sorted(p.name for p in (tmp_path / "pv").iterdir()) == ["two.png"]
    assert "wrote 1 preview to" in ok.stderr

    for args, text in [(["--image-ids", "9"], "image id 9 is not in the COCO file"),
                       (["--limit", "0"], "--limit must be a positive integer"),
                       (["--images", str(tmp_path / "nope")], "is not a folder")]:
        res = cli(str(src), "--out", str(tmp_path / "pv2"), *args)
        assert res.returncode == 2, (args, res.stderr)
        assert "Traceback" not in res.stderr and text in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1
    bad = cli(str(tmp_path / "missing.json"), "--out", str(tmp_path / "pv3"))
    assert bad.returncode == 2 and "does not exist" in bad.stderr and "Traceback" not in bad.stderr

"""validate_coco and ``blender-coco validate`` on real third-party COCO files and seeded corruptions."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cocotools import evaluate, load_coco
from shared_assets import ASSETS, needs_assets
from PIL import Image
from pycocotools import mask as mask_utils

from blender_coco.coco.dataset import Category, CocoDataset
from blender_coco.coco.instances import annotate
from blender_coco.config import ExportConfig
from blender_coco.coco.segmentation import decode_rle_string
from blender_coco.coco.validate import Problem, validate_coco
from blender_coco.coco.validate.common import BBOX_EPS

REPO = Path(__file__).resolve().parents[1]
COCO_DIR = ASSETS / "coco"
KEYPOINTS = COCO_DIR / "person_keypoints" / "person_keypoints_val2017_4img.json"
PANOPTIC_DET = COCO_DIR / "panopticapi" / "panoptic_coco_detection_format.json"
DATUMARO = COCO_DIR / "datumaro_fixtures" / "annotations"

needs_assets = needs_assets("coco")


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def lines(problems: list[Problem]) -> list[str]:
    return [str(p) for p in problems]


# --------------------------------------------------------------------------- real files are clean

DATUMARO_FILES = sorted(p.name for p in DATUMARO.glob("*.json")) if DATUMARO.is_dir() else []
INSTANCE_LIKE = [n for n in DATUMARO_FILES if n.startswith(("instances_", "person_keypoints_"))]


@needs_assets
def test_asset_lists_are_not_empty():
    assert len(INSTANCE_LIKE) == 4 and len(DATUMARO_FILES) >= 14


@needs_assets
@pytest.mark.parametrize("name", DATUMARO_FILES)
def test_datumaro_fixtures_have_no_problems(name):
    """Every task's file (instances, keypoints, stuff, panoptic, captions, labels, image_info): no false alarm,
    except datumaro's box-only annotation written as ``segmentation: []``, which pycocotools' annToMask
    cannot decode (IndexError, checked here) and Detectron2 drops: that one is reported."""
    data = load(DATUMARO / name)
    empty = [a for a in data["annotations"] if a.get("segmentation") == []]
    expected = [f"annotation {a['id']} (image {a['image_id']}): segmentation is [] (no polygons)" for a in empty]
    got = lines(validate_coco(data))
    assert [g.split(":")[0] + ":" + g.split(":")[1] for g in got] == expected, got
    if empty:
        from pycocotools.coco import COCO

        coco = COCO()
        coco.dataset = data
        coco.createIndex()
        with pytest.raises(IndexError):
            coco.annToMask(empty[0])


@needs_assets
def test_real_person_keypoints_file_has_no_problems():
    assert lines(validate_coco(load(KEYPOINTS))) == []


@needs_assets
def test_panoptic_detection_file_only_problem_is_annotation_id_zero():
    """panopticapi numbers its converted annotations from 0; nothing else is wrong with the file."""
    data = load(PANOPTIC_DET)
    problems = lines(validate_coco(data))
    assert problems == [
        "annotation 0: id must be a positive integer, got 0 (annotations[0]); COCOeval never matches a ground truth with id 0"
    ]
    for ann in data["annotations"]:
        ann["id"] += 1
    assert lines(validate_coco(data)) == []
    # with the panoptic categories file merged in (isthing etc.) it stays clean
    cats = {c["id"]: c for c in load(COCO_DIR / "panopticapi" / "panoptic_coco_categories.json")}
    data["categories"] = [{**c, **cats.get(c["id"], {})} for c in data["categories"]]
    assert lines(validate_coco(data)) == []


@needs_assets
def test_annotation_id_zero_really_breaks_cocoeval():
    """Why id 0 is reported: perfect detections score AP < 1 with it, AP = 1 once ids are shifted."""
    def ap(data: dict) -> float:
        dets = [{"image_id": a["image_id"], "category_id": 1, "bbox": a["bbox"], "score": 1.0}
                for a in data["annotations"] if a["category_id"] == 1 and not a["iscrowd"]]
        return evaluate(load_coco(copy.deepcopy(data)), dets, "bbox", cat_ids=[1])

    data = load(PANOPTIC_DET)
    assert ap(data) < 0.95
    for ann in data["annotations"]:
        ann["id"] += 1
    assert ap(data) == pytest.approx(1.0)


# --------------------------------------------------------------------------- seeded corruptions


def first_ann(data, pred=lambda a: True):
    return next(a for a in data["annotations"] if pred(a))


def img_of(data, ann):
    return next(i for i in data["images"] if i["id"] == ann["image_id"])


def c_duplicate_ann_id(d):
    a, b = d["annotations"][0], d["annotations"][1]
    b["id"] = a["id"]
    return f"annotation {a['id']}", "duplicate id"


def c_duplicate_image_id(d):
    d["images"][1]["id"] = d["images"][0]["id"]
    bad = d["images"][0]["id"]
    return f"image {bad}", "duplicate id", None  # the second image's annotations now land on the first: extra problems allowed


def c_dangling_image(d):
    a = d["annotations"][2]
    a["image_id"] = 999999
    return f"annotation {a['id']} (image 999999)", "image_id 999999 is not an image"


def c_unknown_category(d):
    a = d["annotations"][3]
    a["category_id"] = 77
    return f"annotation {a['id']}", "category_id 77 is not a category"


def c_bbox_past_edge(d):
    a = d["annotations"][0]
    img = img_of(d, a)
    a["bbox"][0] = img["width"] - a["bbox"][2] / 2
    return f"annotation {a['id']}", f"past the image's {img['width']}x{img['height']}"


def c_bbox_past_bottom_by_a_bit(d):
    a = d["annotations"][1]
    img = img_of(d, a)
    a["bbox"][1] = img["height"] - a["bbox"][3] + 2 * BBOX_EPS
    return f"annotation {a['id']}", "past the image"


def c_negative_width(d):
    a = d["annotations"][4]
    a["bbox"][2] = -5.0
    return f"annotation {a['id']}", "negative width"


def c_bbox_three_numbers(d):
    a = d["annotations"][4]
    a["bbox"] = a["bbox"][:3]
    return f"annotation {a['id']}", "bbox must be [x, y, w, h]"


def c_double_area(d):
    a = d["annotations"][5]
    a["area"] *= 2
    return f"annotation {a['id']}", "is larger than the polygons cover"


def c_bbox_sized_area(d):
    a = d["annotations"][6]
    a["area"] = a["bbox"][2] * a["bbox"][3]  # a person never fills their box
    return f"annotation {a['id']}", "is larger than the polygons cover"


def c_zero_area(d):
    a = d["annotations"][6]
    a["area"] = 0
    return f"annotation {a['id']}", "area must be > 0"


def c_two_point_polygon(d):
    a = d["annotations"][6]
    a["segmentation"] = [a["segmentation"][0], [10.0, 10.0, 20.0, 20.0]]
    return f"annotation {a['id']}", "polygon 1 has 2 points"


def c_odd_polygon(d):
    a = d["annotations"][7]
    a["segmentation"][0] = a["segmentation"][0][:-1]
    return f"annotation {a['id']}", "odd number of coordinates"


def c_keypoints_wrong_length(d):
    a = d["annotations"][7]
    a["keypoints"] = a["keypoints"][:-3]
    return f"annotation {a['id']}", "keypoints has 48 values; category 1 has 17 keypoints"


def c_v0_nonzero_x(d):
    a = first_ann(d, lambda a: 0 in a["keypoints"][2::3])
    j = a["keypoints"][2::3].index(0)
    a["keypoints"][3 * j] = 10
    return f"annotation {a['id']}", f"keypoint {j + 1} has v = 0 but (x, y) = (10, 0)"


def c_bad_visibility(d):
    a = first_ann(d, lambda a: 2 in a["keypoints"][2::3])
    j = a["keypoints"][2::3].index(2)
    a["keypoints"][3 * j + 2] = 3
    return f"annotation {a['id']}", f"keypoint {j + 1} has v = 3", None  # num_keypoints also changes


def c_wrong_num_keypoints(d):
    a = d["annotations"][8]
    a["num_keypoints"] += 1
    return f"annotation {a['id']}", f"num_keypoints is {a['num_keypoints']} but {a['num_keypoints'] - 1} keypoints"


def c_skeleton_zero(d):
    d["categories"][0]["skeleton"].append([0, 1])
    return "category 1", "must index keypoints 1..17 (skeleton indices are 1-based)"


def c_skeleton_past_k(d):
    d["categories"][0]["skeleton"][3] = [15, 18]
    return "category 1", "skeleton[3] = [15, 18] must index keypoints 1..17"


def c_iscrowd_two(d):
    a = d["annotations"][9]
    a["iscrowd"] = 2
    return f"annotation {a['id']}", "iscrowd must be 0 or 1"


def c_missing_bbox(d):
    a = d["annotations"][9]
    del a["bbox"]
    return f"annotation {a['id']}", "has no 'bbox'"


def c_negative_category_id(d):
    d["categories"][0]["id"] = -1
    return "category -1", "id must be a positive integer", None  # every annotation's category_id now dangles


def c_image_zero_width(d):
    img = d["images"][0]
    img["width"] = 0
    return f"image {img['id']}", "'width' must be a positive integer", None


def c_missing_images_key(d):
    del d["images"]
    return "file", "required key 'images' is missing", None


KEYPOINT_CORRUPTIONS = [
    c_duplicate_ann_id, c_duplicate_image_id, c_dangling_image, c_unknown_category, c_bbox_past_edge,
    c_bbox_past_bottom_by_a_bit, c_negative_width, c_bbox_three_numbers, c_double_area, c_bbox_sized_area, c_zero_area,
    c_two_point_polygon, c_odd_polygon, c_keypoints_wrong_length, c_v0_nonzero_x, c_bad_visibility,
    c_wrong_num_keypoints, c_skeleton_zero, c_skeleton_past_k, c_iscrowd_two, c_missing_bbox,
    c_negative_category_id, c_image_zero_width, c_missing_images_key,
]


def check_caught(data: dict, corrupt) -> None:
    expected = corrupt(data)
    where, text = expected[0], expected[1]
    exact = len(expected) == 2
    found = lines(validate_coco(data))
    hits = [line for line in found if line.startswith(where) and text in line]
    assert hits, f"{corrupt.__name__}: expected a problem at {where!r} containing {text!r}, got {found}"
    if exact:
        assert len(found) == 1, f"{corrupt.__name__}: expected exactly one problem, got {found}"


@needs_assets
@pytest.mark.parametrize("corrupt", KEYPOINT_CORRUPTIONS, ids=lambda f: f.__name__[2:])
def test_corruption_of_real_keypoints_file_is_caught(corrupt):
    check_caught(load(KEYPOINTS), corrupt)


def r_compressed_rle_wrong_size(d):
    a = first_ann(d, lambda a: a["id"] > 0)
    h, w = a["segmentation"]["size"]
    a["segmentation"]["size"] = [w, h]
    return f"annotation {a['id']}", f"RLE size [{w}, {h}] does not match the image's [height, width] = [{h}, {w}]"


def r_compressed_rle_garbage(d):
    a = first_ann(d, lambda a: a["id"] > 0)
    a["segmentation"]["counts"] = a["segmentation"]["counts"][:-7]  # drops runs: the sum no longer covers the image
    return f"annotation {a['id']}", "RLE", None


def r_compressed_rle_wrong_area(d):
    a = first_ann(d, lambda a: a["id"] > 0 and a["area"] > 1000)
    a["area"] = a["area"] * 3
    return f"annotation {a['id']}", "does not match the segmentation (pixel count"


def r_compressed_rle_half_area(d):
    a = first_ann(d, lambda a: a["id"] > 0 and a["area"] > 1000)
    a["area"] = a["area"] / 2
    return f"annotation {a['id']}", f"area {a['area']:g} does not match the segmentation (pixel count: {2 * a['area']:g})"


@needs_assets
@pytest.mark.parametrize("corrupt", [r_compressed_rle_wrong_size, r_compressed_rle_garbage, r_compressed_rle_wrong_area,
                                     r_compressed_rle_half_area],
                         ids=lambda f: f.__name__[2:])
def test_corruption_of_real_rle_file_is_caught(corrupt):
    data = load(PANOPTIC_DET)
    for ann in data["annotations"]:
        ann["id"] += 1  # the id-0 problem is tested above
    check_caught(data, corrupt)


def u_uncompressed_rle_bad_sum(d):
    a = d["annotations"][1]
    a["segmentation"]["counts"][-1] += 1
    return f"annotation {a['id']} (image 40)", "RLE runs sum to 51, not height*width = 50"


def u_uncompressed_rle_wrong_size(d):
    a = d["annotations"][1]
    a["segmentation"]["size"] = [5, 10]
    return f"annotation {a['id']}", "does not match the image's [height, width] = [10, 5]"


def u_uncompressed_rle_wrong_area(d):
    a = d["annotations"][1]
    a["iscrowd"] = 0  # the fixture's RLE is a crowd, whose area is not checked against its mask (as in COCO)
    a["area"] = 40.0
    return f"annotation {a['id']}", "area 40 does not match the segmentation (pixel count: 20)"


def u_keypoints_length_disagrees(d):
    d["annotations"][1]["keypoints"] += [0, 0, 0]
    d["annotations"][0]["category_id"] = 2
    d["annotations"][0]["keypoints"] = d["annotations"][0]["keypoints"]
    return "category 2", "disagree on the keypoints length"


@needs_assets
@pytest.mark.parametrize("corrupt", [u_uncompressed_rle_bad_sum, u_uncompressed_rle_wrong_size,
                                     u_uncompressed_rle_wrong_area, u_keypoints_length_disagrees],
                         ids=lambda f: f.__name__[2:])
def test_corruption_of_datumaro_file_is_caught(corrupt):
    check_caught(load(DATUMARO / "person_keypoints_val.json"), corrupt)


@needs_assets
def test_every_problem_is_reported_not_just_the_first():
    data = load(KEYPOINTS)
    corruptions = [c_dangling_image, c_unknown_category, c_negative_width, c_wrong_num_keypoints, c_skeleton_past_k]
    expected = [c(data) for c in corruptions]
    found = lines(validate_coco(data))
    assert len(found) == len(expected)
    for where, text in expected:
        assert any(line.startswith(where) and text in line for line in found), (where, text, found)


# --------------------------------------------------------------------------- --images


@pytest.fixture()
def keypoint_images(tmp_path):
    data = load(KEYPOINTS)
    for img in data["images"]:
        Image.new("RGB", (img["width"], img["height"])).save(tmp_path / img["file_name"])
    return data, tmp_path


@needs_assets
def test_images_folder_matching_the_json_is_clean(keypoint_images):
    data, folder = keypoint_images
    assert lines(validate_coco(data, folder)) == []


@needs_assets
def test_missing_and_wrong_size_image_files_are_caught(keypoint_images):
    data, folder = keypoint_images
    gone, small, junk = data["images"][0], data["images"][1], data["images"][2]
    (folder / gone["file_name"]).unlink()
    Image.new("RGB", (10, 12)).save(folder / small["file_name"], format="JPEG")
    (folder / junk["file_name"]).write_bytes(b"not an image")
    found = lines(validate_coco(data, folder))
    assert found == [
        f"image {gone['id']}: file {folder / gone['file_name']} does not exist",
        f"image {small['id']}: file {folder / small['file_name']} is 10x12 but the JSON says "
        f"{small['width']}x{small['height']}",
        f"image {junk['id']}: file {folder / junk['file_name']} is not an image Pillow can read (UnidentifiedImageError)",
    ]


# --------------------------------------------------------------------------- our own exporter's output


@pytest.mark.parametrize("mode", ["polygon", "rle", "auto"])
def test_exporter_output_is_clean_and_a_wrong_area_is_caught(mode):
    rng = np.random.default_rng(7)
    ds = CocoDataset(categories=[Category(1, "blob"), Category(2, "ring")])
    for n in range(4):
        h, w = 48, 64
        mask = np.zeros((h, w), np.int32)
        for label in range(1, 5):
            y, x = rng.integers(0, h - 8), rng.integers(0, w - 8)
            mask[y:y + rng.integers(2, 14), x:x + rng.integers(2, 14)] = label
        mask[20:30, 20:30] = 5
        mask[23:27, 23:27] = 0  # a hole
        image_id = ds.add_image(f"{n:06d}.png", w, h)
        for _, ann in annotate(mask, {k: 1 + k % 2 for k in range(1, 6)}, ExportConfig(segmentation=mode)):
            ds.add_annotation(image_id, ann)
    data = ds.to_json()
    assert lines(validate_coco(data)) == []  # polygon mode: the holed mask's area is smaller than its polygon's
    data["annotations"][3]["area"] = data["annotations"][3]["area"] * 2 + 4
    assert [p.where for p in validate_coco(data)] == [f"annotation 4 (image {data['annotations'][3]['image_id']})"]


# --------------------------------------------------------------------------- pure helpers


def test_rle_string_decoder_agrees_with_pycocotools():
    rng = np.random.default_rng(0)
    for _ in range(200):
        h, w = (int(v) for v in rng.integers(1, 40, 2))
        m = np.asfortranarray((rng.random((h, w)) < rng.random()).astype(np.uint8))
        rle = mask_utils.encode(m)
        runs = decode_rle_string(rle["counts"].decode("ascii"))
        assert sum(runs) == h * w
        assert sum(runs[1::2]) == int(m.sum())
        again = mask_utils.frPyObjects({"size": [h, w], "counts": runs}, h, w)
        assert again["counts"] == rle["counts"]


@pytest.mark.parametrize("text", ["0" + chr(47), "\u00e9", "o"])  # char below '0', non-ASCII, dangling continuation
def test_rle_string_decoder_rejects_malformed(text):
    assert decode_rle_string(text) is None


@pytest.mark.parametrize("data, where, text", [
    ([{"image_id": 1, "bbox": [0, 0, 1, 1], "score": 0.9}], "file", "results/detections file"),
    ("hello", "file", "must be a JSON object"),
    ({"images": {}, "annotations": []}, "file", "'images' must be a list"),
    ({"images": [], "annotations": [{"id": 1, "image_id": 1, "bbox": [0, 0, 1, 1], "area": 1, "iscrowd": 0,
                                     "category_id": 1}]}, "file", "'categories' is missing"),
])
def test_structural_problems(data, where, text):
    found = validate_coco(data)
    assert any(p.where == where and text in p.message for p in found), found


def test_problem_line_format():
    assert str(Problem("image 3", "file x.png does not exist")) == "image 3: file x.png does not exist"


# --------------------------------------------------------------------------- CLI


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "blender_coco", "validate", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=120)


@needs_assets
def test_cli_exit_codes_and_output(tmp_path):
    ok = cli(str(KEYPOINTS))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip().endswith("OK: no problems (4 images, 14 annotations, 1 category)")

    data = load(KEYPOINTS)
    c_dangling_image(data)
    c_skeleton_zero(data)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    res = cli(str(bad), "--images", str(tmp_path))
    assert res.returncode == 1, res.stderr
    out = res.stdout.strip().splitlines()
    assert len(out) == 2 + 1 + 4  # two corruptions, the summary, four image files missing from tmp_path
    assert out[-1] == f"{bad}: 6 problems found (4 images, 14 annotations, 1 category)"
    assert "Traceback" not in res.stderr


def test_cli_unreadable_input_is_one_line_exit_2(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"images": [1, 2,')
    for path in (broken, tmp_path / "missing.json", tmp_path):
        res = cli(str(path))
        assert res.returncode == 2
        assert "Traceback" not in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr
        assert str(path) in res.stderr
    assert "not valid JSON (line 1" in cli(str(broken)).stderr


# --------------------------------------------------------------------------- stuff, captions, panoptic PNGs


def test_exported_stuff_and_captions_are_clean_and_stuff_rules_bite(tmp_path):
    from blender_coco.coco.export import export_dataset
    from test_stuff import make_stuff_ds

    ds = make_stuff_ds(tmp_path, frames=3, seed=1)
    export_dataset(ds, ExportConfig(tasks=("instances", "stuff", "panoptic", "captions")))
    ann = ds / "annotations"
    for name in ("instances.json", "stuff.json", "captions.json", "panoptic.json"):
        res = cli(str(ann / name), "--images", str(ds / "images"))
        assert res.returncode == 0 and "OK: no problems" in res.stdout, (name, res.stdout, res.stderr)
    stuff = load(ann / "stuff.json")
    assert validate_coco(stuff, kind="stuff") == []
    first = next(a for a in stuff["annotations"] if a["image_id"] == 1)
    dup = dict(first, id=999)  # the same region again: a duplicate and an overlap
    stuff["annotations"].append(dup)
    got = lines(validate_coco(stuff, kind="stuff"))
    assert any("annotation 999 (image 1): stuff category" in g and "already has annotation" in g for g in got), got
    assert any(g.startswith("annotation 999 (image 1): overlaps stuff annotation") for g in got), got
    assert validate_coco(stuff) == []  # without the stuff rules the file is a fine instances file
    bad = tmp_path / "stuff_bad.json"
    bad.write_text(json.dumps(stuff))
    res = cli(str(bad))  # named stuff*.json: the stuff rules apply by themselves
    assert res.returncode == 1 and "overlaps stuff annotation" in res.stdout
    caps = load(ann / "captions.json")
    assert "categories" not in caps
    caps["annotations"][0]["caption"] = "  "
    caps["annotations"][1]["image_id"] = 77
    got = lines(validate_coco(caps))
    assert len(got) == 2 and "'caption' is empty" in got[0] and "image_id 77 is not an image" in got[1], got


@needs_assets
def test_real_panoptic_files_with_their_pngs_are_clean():
    assert validate_coco(load(COCO_DIR / "panopticapi" / "panoptic_examples.json"),
                         panoptic_dir=COCO_DIR / "panopticapi" / "panoptic_examples") == []
    for split in ("train", "val"):
        assert validate_coco(load(DATUMARO / f"panoptic_{split}.json"), panoptic_dir=DATUMARO / f"panoptic_{split}") == []
    data = load(COCO_DIR / "panopticapi" / "panoptic_examples.json")
    for c in data["categories"]:
        c.pop("isthing")
    got = lines(validate_coco(data))
    assert len(got) == len(data["categories"]) and "need 'isthing'" in got[0]


# --------------------------------------------------------------------------- crowd regions, grouped output


def _crowd_file(area_factor: float, iscrowd: int) -> dict:
    """One image with one RLE region (uncompressed counts, as COCO stores crowds) whose area
    is ``area_factor`` times its pixel count, as pycocotools counts it."""
    rng = np.random.default_rng(3)
    h, w = 40, 50
    mask = np.zeros((h, w), np.uint8)
    for _ in range(6):  # a crowd: several blobs
        y, x = rng.integers(0, h - 10), rng.integers(0, w - 10)
        mask[y:y + rng.integers(3, 10), x:x + rng.integers(3, 10)] = 1
    flat = mask.flatten(order="F")
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flat, [0]])))
    runs = np.diff(np.concatenate([[0], edges, [flat.size]])).tolist()
    runs = [r for r in runs if r] if flat[0] == 0 else [0] + [r for r in runs if r]
    count = int(mask_utils.area(mask_utils.frPyObjects({"size": [h, w], "counts": runs}, h, w)))
    assert count == int(mask.sum()) > 0
    ys, xs = np.nonzero(mask)
    return {"images": [{"id": 1, "file_name": "a.png", "width": w, "height": h}],
            "categories": [{"id": 1, "name": "person"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": iscrowd,
                             "segmentation": {"size": [h, w], "counts": runs}, "area": count * area_factor,
                             "bbox": [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1),
                                      int(ys.max() - ys.min() + 1)]}]}


def test_crowd_area_is_not_compared_with_its_mask_but_a_normal_one_is():
    """COCO val2014's crowd areas run up to 1.13x their RLE pixel count: no false alarm there,
    while the same area on a non-crowd region is reported; the crowd's other rules still hold."""
    assert validate_coco(_crowd_file(1.0, 0)) == [] and validate_coco(_crowd_file(1.0, 1)) == []
    assert validate_coco(_crowd_file(1.13, 1)) == []
    found = lines(validate_coco(_crowd_file(1.13, 0)))
    assert len(found) == 1 and "does not match the segmentation" in found[0], found
    crowd = _crowd_file(1.13, 1)
    crowd["annotations"][0]["area"] = 0
    crowd["annotations"][0]["segmentation"]["counts"].append(5)  # runs no longer sum to h*w
    found = lines(validate_coco(crowd))
    assert any("area must be > 0" in f for f in found) and any("RLE runs sum to" in f for f in found), found


def test_cli_groups_identical_problems_into_one_line_and_keeps_the_exit_code(tmp_path):
    data = _crowd_file(1.0, 0)
    first = data["annotations"][0]
    data["annotations"] = [{**first, "id": n} for n in range(1, 41)]
    for ann in data["annotations"]:
        del ann["iscrowd"]
    data["annotations"][7]["area"] = 9999  # one different problem, kept as its own line
    data["images"].append({"id": 2, "file_name": "b.png", "width": 0, "height": 5})
    path = tmp_path / "many.json"
    path.write_text(json.dumps(data))
    res = cli(str(path))
    assert res.returncode == 1, res.stderr
    out = res.stdout.strip().splitlines()
    assert out == [
        "image 2: 'width' must be a positive integer, got 0",
        "40 annotations have no 'iscrowd' (e.g. annotation 1, 2, 3)",
        out[2],
        f"{path}: 42 problems found (2 images, 40 annotations, 1 category)",
    ], out
    assert out[2].startswith("annotation 8 (image 1): area 9999 does not match the segmentation")
    each = cli(str(path), "--each")
    assert each.returncode == 1 and len(each.stdout.strip().splitlines()) == 43
    assert sum("has no 'iscrowd'" in line for line in each.stdout.splitlines()) == 40
    assert [p.message for p in validate_coco(data)].count("has no 'iscrowd'") == 40  # the API stays detailed

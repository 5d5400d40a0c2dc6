"""Panoptic output (export stage and masks2coco) judged by a re-implementation of panopticapi's
format checks and by converting it back to detection format, as panopticapi's
``panoptic2detection_coco_format`` does, against instances.json and stuff.json."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from shared_assets import ASSETS, needs_assets
from PIL import Image
from pycocotools import mask as mask_utils

from blender_coco.config import ExportConfig
from blender_coco.coco.colormask import colormask_to_coco
from blender_coco.coco.colors import category_color
from blender_coco.coco.export import export_dataset
from blender_coco.coco.validate import validate_coco
from cocotools import load_coco
from test_stuff import FLOOR, frame_passes, make_stuff_ds

REPO = Path(__file__).resolve().parents[1]
PANOPTIC = ASSETS / "coco" / "panopticapi"
needs_panopticapi = needs_assets("coco", "panopticapi", "panoptic_examples.json")


def rgb2id(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.uint32)
    return a[:, :, 0] + 256 * a[:, :, 1] + 256 * 256 * a[:, :, 2]


def panopticapi_checks(pan: dict, png_dir: Path) -> None:
    """The format checks of panopticapi's pq_compute (and its converters), raising like they do."""
    categories = {c["id"]: c for c in pan["categories"]}
    for c in categories.values():
        assert c["isthing"] in (0, 1), f"category {c['id']} has no isthing"
    images = {im["id"] for im in pan["images"]}
    assert sorted(a["image_id"] for a in pan["annotations"]) == sorted(images), "one annotation per image"
    for ann in pan["annotations"]:
        with Image.open(png_dir / ann["file_name"]) as im:
            assert im.mode == "RGB", f"{ann['file_name']} is {im.mode}, not RGB (palette PNGs decode to indices)"
            pan_png = rgb2id(np.array(im, dtype=np.uint32))
        segms = {el["id"]: dict(el) for el in ann["segments_info"]}
        assert len(segms) == len(ann["segments_info"]), "segment ids must be unique within an image"
        labels_set = set(segms)
        labels, labels_cnt = np.unique(pan_png, return_counts=True)
        for label, cnt in zip(labels.tolist(), labels_cnt.tolist()):
            if label not in segms:
                if label == 0:  # VOID
                    continue
                raise KeyError(f"In the image with ID {ann['image_id']} segment with ID {label} is presented in PNG "
                               "and not presented in JSON.")
            assert segms[label]["area"] == cnt, f"segment {label}: area {segms[label]['area']} != {cnt} pixels"
            labels_set.remove(label)
            if segms[label]["category_id"] not in categories:
                raise KeyError(f"segment {label} has unknown category_id {segms[label]['category_id']}")
        if labels_set:
            raise KeyError(f"In the image with ID {ann['image_id']} the following segment IDs {sorted(labels_set)} "
                           "are presented in JSON and not presented in PNG.")
        # no overlap: the per-segment masks are disjoint and cover exactly the non-void pixels
        masks = [pan_png == sid for sid in segms]
        total = np.sum(masks, axis=0) if masks else np.zeros(pan_png.shape, int)
        assert total.max(initial=0) <= 1 and np.array_equal(total > 0, pan_png != 0)


def panoptic_to_detection(pan: dict, png_dir: Path) -> dict[int, list[dict]]:
    """panopticapi's panoptic2detection conversion: per image, one RLE annotation per segment."""
    isthing = {c["id"]: c["isthing"] for c in pan["categories"]}
    out: dict[int, list[dict]] = {}
    for ann in pan["annotations"]:
        pan_png = rgb2id(np.array(Image.open(png_dir / ann["file_name"]), dtype=np.uint32))
        anns = []
        for s in ann["segments_info"]:
            mask = (pan_png == s["id"]).astype(np.uint8)
            rle = mask_utils.encode(np.asfortranarray(mask))
            anns.append({"category_id": s["category_id"], "isthing": isthing[s["category_id"]], "iscrowd": s["iscrowd"],
                         "area": int(mask_utils.area(rle)), "bbox": [int(v) for v in mask_utils.toBbox(rle)],
                         "mask": mask.astype(bool)})
        out[ann["image_id"]] = anns
    return out


def same_annotations(detection: list[dict], coco, image_id: int) -> None:
    """The converted segments equal the file's annotations of that image: category, mask, area, bbox, iscrowd."""
    theirs = coco.loadAnns(coco.getAnnIds(imgIds=[image_id]))
    assert len(detection) == len(theirs)
    key = lambda cat, m: (cat, m.tobytes())  # noqa: E731
    mine = {key(d["category_id"], d["mask"]): d for d in detection}
    for a in theirs:
        d = mine.pop(key(a["category_id"], coco.annToMask(a).astype(bool)))
        assert (d["area"], d["bbox"], d["iscrowd"]) == (a["area"], a["bbox"], a["iscrowd"])
    assert not mine


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    ds = make_stuff_ds(tmp_path_factory.mktemp("pan"), frames=5, seed=3)
    export_dataset(ds)
    return ds


def test_export_passes_panopticapi_checks(exported):
    pan = json.loads((exported / "annotations" / "panoptic.json").read_text())
    panopticapi_checks(pan, exported / "annotations" / "panoptic")
    assert [a["file_name"] for a in pan["annotations"]] == [f"{i:06d}.png" for i in range(5)]
    assert {c["name"]: c["isthing"] for c in pan["categories"]}["floor"] == 0
    assert all(c["isthing"] == 1 for c in pan["categories"] if c["name"] not in ("floor", "wall", "sky"))
    assert all(len(c["color"]) == 3 for c in pan["categories"])
    assert validate_coco(pan, panoptic_dir=exported / "annotations" / "panoptic") == []


def test_panoptic_converts_back_to_instances_and_stuff_exactly(exported):
    pan = json.loads((exported / "annotations" / "panoptic.json").read_text())
    detection = panoptic_to_detection(pan, exported / "annotations" / "panoptic")
    instances = load_coco(exported / "annotations" / "instances.json")
    stuff = load_coco(exported / "annotations" / "stuff.json")
    things_seen = 0
    for image_id, anns in detection.items():
        same_annotations([d for d in anns if d["isthing"]], instances, image_id)
        same_annotations([d for d in anns if not d["isthing"]], stuff, image_id)
        things_seen += sum(d["isthing"] for d in anns)
        # void is exactly the unmarked surfaces (pass index 0 with a depth): the world is sky
        mask, depth = frame_passes(exported, image_id - 1)
        covered = np.sum([d["mask"] for d in anns], axis=0) > 0
        assert np.array_equal(~covered, (mask == 0) & (depth < 1e9))
    assert things_seen > 5


def test_segment_ids_and_png_bytes_are_deterministic(exported, tmp_path):
    first = {p.name: p.read_bytes() for p in (exported / "annotations" / "panoptic").iterdir()}
    pan = (exported / "annotations" / "panoptic.json").read_bytes()
    copy = tmp_path / "ds"
    shutil.copytree(exported / "records", copy / "records")
    export_dataset(copy, jobs=2)
    assert {p.name: p.read_bytes() for p in (copy / "annotations" / "panoptic").iterdir()} == first
    assert (copy / "annotations" / "panoptic.json").read_bytes() == pan
    # panoptic alone (no instances.json asked): same segments and PNGs
    only = tmp_path / "only"
    shutil.copytree(exported / "records", only / "records")
    export_dataset(only, ExportConfig(tasks=("panoptic",)))
    assert sorted(p.name for p in (only / "annotations").iterdir()) == ["panoptic", "panoptic.json"]
    assert {p.name: p.read_bytes() for p in (only / "annotations" / "panoptic").iterdir()} == first
    assert (only / "annotations" / "panoptic.json").read_bytes() == pan


def test_things_under_min_area_are_void_like_in_instances(tmp_path):
    ds = make_stuff_ds(tmp_path, frames=4, seed=5)
    export_dataset(ds, ExportConfig(min_area=150))
    pan = json.loads((ds / "annotations" / "panoptic.json").read_text())
    panopticapi_checks(pan, ds / "annotations" / "panoptic")
    instances = load_coco(ds / "annotations" / "instances.json")
    dropped = 0
    for image_id, anns in panoptic_to_detection(pan, ds / "annotations" / "panoptic").items():
        same_annotations([d for d in anns if d["isthing"]], instances, image_id)
        mask, _ = frame_passes(ds, image_id - 1)
        labels, counts = np.unique(mask[(mask > 0) & (mask < FLOOR)], return_counts=True)
        pan_png = rgb2id(np.array(Image.open(ds / "annotations" / "panoptic" / f"{image_id - 1:06d}.png")))
        for label, n in zip(labels, counts):
            if n < 150:
                assert (pan_png[mask == label] == 0).all()
                dropped += 1
    assert dropped > 0


def test_scene_without_stuff_gets_thing_only_panoptic_on_request(tmp_path):
    from test_export import make_ds

    ds = make_ds(tmp_path, frames=2)
    export_dataset(ds, ExportConfig(tasks=("instances", "panoptic")))
    pan = json.loads((ds / "annotations" / "panoptic.json").read_text())
    panopticapi_checks(pan, ds / "annotations" / "panoptic")
    assert all(c["isthing"] == 1 for c in pan["categories"])
    instances = load_coco(ds / "annotations" / "instances.json")
    for image_id, anns in panoptic_to_detection(pan, ds / "annotations" / "panoptic").items():
        same_annotations(anns, instances, image_id)


def corrupt_copy(src: Path, dst: Path, how: str) -> tuple[dict, Path]:
    shutil.copytree(src / "annotations", dst)
    pan = json.loads((dst / "panoptic.json").read_text())
    ann = pan["annotations"][0]
    png = dst / "panoptic" / ann["file_name"]
    ids = rgb2id(np.array(Image.open(png)))
    if how == "palette":
        Image.open(png).convert("P", palette=Image.ADAPTIVE).save(png)
    elif how == "extra id":
        ann["segments_info"] = ann["segments_info"][1:]
    elif how == "unused id":
        ann["segments_info"].append(dict(ann["segments_info"][0], id=123456))
    elif how == "area":
        ann["segments_info"][0]["area"] += 1
    elif how == "size":
        Image.fromarray(np.array(Image.open(png))[:-1]).save(png)
    elif how == "missing":
        png.unlink()
    assert ids.any()
    return pan, dst / "panoptic"


@pytest.mark.parametrize("how, text", [
    ("palette", "palette PNG"), ("extra id", "not in segments_info"), ("unused id", "have no pixels"),
    ("area", "pixels in"), ("size", "but the image is"), ("missing", "does not exist")])
def test_validate_catches_broken_panoptic_pngs(exported, tmp_path, how, text):
    pan, png_dir = corrupt_copy(exported, tmp_path / "a", how)
    problems = [str(p) for p in validate_coco(pan, panoptic_dir=png_dir)]
    assert len(problems) == 1 and text in problems[0], problems
    with pytest.raises((AssertionError, KeyError, FileNotFoundError)):
        panopticapi_checks(pan, png_dir)  # the independent checks agree that it is broken


def test_validate_cli_finds_the_png_folder_by_itself(exported, tmp_path):
    ok = subprocess.run([sys.executable, "-m", "blender_coco", "validate", str(exported / "annotations" / "panoptic.json")],
                        capture_output=True, text=True, cwd=REPO)
    assert ok.returncode == 0 and "OK" in ok.stdout, ok.stdout + ok.stderr
    pan, _ = corrupt_copy(exported, tmp_path / "b", "area")
    (tmp_path / "b" / "panoptic.json").write_text(json.dumps(pan))
    bad = subprocess.run([sys.executable, "-m", "blender_coco", "validate", str(tmp_path / "b" / "panoptic.json")],
                         capture_output=True, text=True, cwd=REPO)
    assert bad.returncode == 1 and "pixels in" in bad.stdout


# -------------------------------------------------------------------------- masks2coco --panoptic


def segment_color(segment_id: int) -> str:
    return f"#{segment_id & 255:02x}{(segment_id >> 8) & 255:02x}{(segment_id >> 16) & 255:02x}"


@needs_panopticapi
def test_masks2coco_panoptic_reproduces_cocos_own_panoptic_files(tmp_path):
    """COCO's panoptic PNGs as color masks, categories with isthing: the written panoptic PNGs and
    segments_info are COCO's own (iscrowd aside, which pixels cannot tell)."""
    truth = json.loads((PANOPTIC / "panoptic_examples.json").read_text())
    cats = json.loads((PANOPTIC / "panoptic_coco_categories.json").read_text())
    name = {c["id"]: c["name"] for c in cats}
    colors = {"categories": [{k: c[k] for k in ("id", "name", "supercategory", "isthing", "color")} for c in cats],
              "masks": {a["file_name"]: {segment_color(s["id"]): name[s["category_id"]] for s in a["segments_info"]}
                        for a in truth["annotations"]}}
    (tmp_path / "colors.json").write_text(json.dumps(colors))
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "blender_coco", "masks2coco", str(PANOPTIC / "panoptic_examples"),
                        "--colors", str(tmp_path / "colors.json"), "--out", str(out / "instances.json"),
                        "--segmentation", "rle", "--panoptic", str(out / "panoptic_val.json")],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    pan = json.loads((out / "panoptic_val.json").read_text())
    panopticapi_checks(pan, out / "panoptic_val")
    assert pan["categories"] == sorted(colors["categories"], key=lambda c: c["id"])
    by_name = {a["file_name"]: a for a in truth["annotations"]}
    for ann in pan["annotations"]:
        t = by_name[ann["file_name"]]
        mine = np.array(Image.open(out / "panoptic_val" / ann["file_name"]))
        assert np.array_equal(rgb2id(mine), rgb2id(np.array(Image.open(PANOPTIC / "panoptic_examples" / ann["file_name"]))))
        strip = lambda segs: sorted((s["id"], s["category_id"], s["area"], list(s["bbox"])) for s in segs)  # noqa: E731
        assert strip(ann["segments_info"]) == strip(t["segments_info"])
    # things only in the instances file, which converts back from the panoptic output exactly
    instances = load_coco(out / "instances.json")
    assert all(c["isthing"] for c in cats if c["id"] in instances.cats)
    for image_id, anns in panoptic_to_detection(pan, out / "panoptic_val").items():
        same_annotations([d for d in anns if d["isthing"]], instances, image_id)


def test_masks2coco_panoptic_merges_stuff_colors_and_voids_skipped_ones(tmp_path):
    m = np.zeros((12, 16, 3), np.uint8)
    m[0:4, :] = (0, 0, 200)      # sky, stuff
    m[4:6, :] = (0, 0, 150)      # more sky, another color
    m[6:12, 0:8] = (0, 255, 0)   # a plant
    m[6:12, 8:12] = (255, 0, 0)  # a book
    m[6:12, 12:16] = (9, 9, 9)   # skipped (null)
    (tmp_path / "masks").mkdir()
    Image.fromarray(m).save(tmp_path / "masks" / "one.png")
    spec = {"categories": [{"id": 1, "name": "plant"}, {"id": 2, "name": "book"},
                           {"id": 5, "name": "sky", "isthing": 0, "color": [10, 20, 230]}],
            "colors": {"#0000c8": "sky", "#000096": "sky", "#00ff00": "plant", "#ff0000": "book", "#090909": None}}
    ds = colormask_to_coco([tmp_path / "masks" / "one.png"], spec, panoptic=tmp_path / "pan")
    assert sorted(a["category_id"] for a in ds.annotations) == [1, 2] and [c.id for c in ds.categories] == [1, 2]
    pan = json.loads((tmp_path / "pan" / "panoptic.json").read_text())
    panopticapi_checks(pan, tmp_path / "pan" / "panoptic")
    [ann] = pan["annotations"]
    sky = [s for s in ann["segments_info"] if s["category_id"] == 5]
    assert sky == [{"id": 150 * 65536, "category_id": 5, "area": 96, "bbox": [0, 0, 16, 6], "iscrowd": 0}]
    ids = rgb2id(np.array(Image.open(tmp_path / "pan" / "panoptic" / "one.png")))
    assert (ids[6:, 12:] == 0).all() and (ids[:6] == 150 * 65536).all()
    assert {c["id"]: c["color"] for c in pan["categories"]}[5] == [10, 20, 230]
    with pytest.raises(Exception, match="isthing must be 1"):
        colormask_to_coco([tmp_path / "masks" / "one.png"], {**spec, "categories": [
            {"id": 1, "name": "plant", "isthing": "no"}, {"id": 2, "name": "book"}, {"id": 5, "name": "sky"}]})


def test_both_writers_give_one_file_shape_with_their_instances_files_header(exported, tmp_path):
    m = np.zeros((6, 8, 3), np.uint8)
    m[:3], m[3:, :4] = (0, 0, 200), (0, 255, 0)
    (tmp_path / "masks").mkdir()
    Image.fromarray(m).save(tmp_path / "masks" / "one.png")
    spec = {"categories": [{"id": 1, "name": "plant"}, {"id": 4, "name": "sky", "isthing": 0}],
            "colors": {"#0000c8": "sky", "#00ff00": "plant"}}
    ds = colormask_to_coco([tmp_path / "masks" / "one.png"], spec, panoptic=tmp_path / "pan")
    from_masks = (json.loads((tmp_path / "pan" / "panoptic.json").read_text()), ds.to_json())
    ann_dir = exported / "annotations"
    from_records = (json.loads((ann_dir / "panoptic.json").read_text()), json.loads((ann_dir / "instances.json").read_text()))
    for pan, instances in (from_masks, from_records):
        assert list(pan) == ["info", "licenses", "images", "annotations", "categories"]
        assert all(pan[k] == instances[k] for k in ("info", "licenses", "images"))
        assert all(list(a) == ["image_id", "file_name", "segments_info"] for a in pan["annotations"])
        assert all(list(c) == ["id", "name", "supercategory", "isthing", "color"] for c in pan["categories"])
        assert [a["file_name"] for a in pan["annotations"]] == [Path(im["file_name"]).stem + ".png" for im in pan["images"]]
    assert {c["id"]: c["color"] for c in from_masks[0]["categories"]} == {1: list(category_color(1)), 4: list(category_color(4))}

"""masks2coco against an external oracle: COCO's own panoptic PNGs and panopticapi's conversion.

The panoptic PNGs of two COCO val2017 images are color masks (segment id =
R + 256 G + 256^2 B, 0 = void). panopticapi converted the same segments to COCO
detection format (compressed RLE). Treating every segment's color as one instance,
masks2coco must give the same segments: same category, same mask (IoU 1.0 through
pycocotools), area and bbox exactly equal. iscrowd is a property of COCO's source
annotations, not of the pixels: masks2coco writes 0 (asked for nothing else), so
masks are compared, and our iscrowd is checked to be 0 everywhere.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from shared_assets import ASSETS, needs_assets
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from scipy.ndimage import binary_fill_holes


from blender_coco.config import ExportConfig  # noqa: E402
from blender_coco.coco.colormask import colormask_to_coco  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PANOPTIC = ASSETS / "coco" / "panopticapi"

pytestmark = needs_assets("coco", "panopticapi", "panoptic_coco_detection_format.json")


EIGHT = np.ones((3, 3), dtype=bool)


def segment_color(segment_id: int) -> str:
    """Panoptic segment id (R + 256 G + 256^2 B) -> '#rrggbb'."""
    return f"#{segment_id & 255:02x}{(segment_id >> 8) & 255:02x}{(segment_id >> 16) & 255:02x}"


@pytest.fixture(scope="module")
def oracle():
    return COCO(str(PANOPTIC / "panoptic_coco_detection_format.json"))


@pytest.fixture(scope="module")
def colors_spec() -> dict:
    """A COLORS.json: every panoptic category; per mask file, each segment's color -> its category."""
    panoptic = json.loads((PANOPTIC / "panoptic_examples.json").read_text())
    cats = json.loads((PANOPTIC / "panoptic_coco_categories.json").read_text())
    name = {c["id"]: c["name"] for c in cats}
    return {
        "categories": [{"id": c["id"], "name": c["name"], "supercategory": c["supercategory"]} for c in cats],
        "masks": {a["file_name"]: {segment_color(s["id"]): name[s["category_id"]] for s in a["segments_info"]}
                  for a in panoptic["annotations"]},
    }


@pytest.fixture(scope="module")
def mask_paths() -> list[Path]:
    return sorted((PANOPTIC / "panoptic_examples").glob("*.png"))


def load(dataset_json: dict, tmp: Path) -> COCO:
    path = tmp / "instances.json"
    path.write_text(json.dumps(dataset_json))
    return COCO(str(path))


def as_rle(segmentation, height: int, width: int) -> dict:
    """Any COCO segmentation -> one compressed RLE (pycocotools' own conversion)."""
    if isinstance(segmentation, list):
        return mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    return segmentation


def oracle_image_id(ours: COCO, image_id: int, oracle: COCO) -> int:
    stem = Path(ours.imgs[image_id]["file_name"]).stem
    [match] = [i for i, im in oracle.imgs.items() if Path(im["file_name"]).stem == stem]
    return match


def assert_exact_match(ours: COCO, oracle: COCO) -> None:
    """Same segments per image (by category and mask), area and bbox equal, IoU 1.0."""
    assert len(ours.imgs) == len(oracle.imgs) == 2
    total = 0
    for image_id, image in ours.imgs.items():
        oid = oracle_image_id(ours, image_id, oracle)
        assert (image["width"], image["height"]) == (oracle.imgs[oid]["width"], oracle.imgs[oid]["height"])
        mine = ours.loadAnns(ours.getAnnIds(imgIds=[image_id]))
        theirs = oracle.loadAnns(oracle.getAnnIds(imgIds=[oid]))
        by_key = {(a["category_id"], ours.annToMask(a).tobytes()): a for a in mine}
        assert len(by_key) == len(mine) == len(theirs)
        for t in theirs:
            key = (t["category_id"], oracle.annToMask(t).tobytes())
            assert key in by_key, f"oracle segment {t['id']} (category {t['category_id']}) has no identical annotation"
            m = by_key.pop(key)
            assert m["area"] == t["area"]
            assert m["bbox"] == t["bbox"]
            assert m["iscrowd"] == 0
            iou = mask_utils.iou([m["segmentation"]], [t["segmentation"]], [0])
            assert float(iou[0, 0]) == 1.0
            total += 1
        assert not by_key
    assert total == len(oracle.anns) == 50


def test_library_rle_matches_panopticapi_exactly(oracle, colors_spec, mask_paths, tmp_path):
    ds = colormask_to_coco(mask_paths, colors_spec, config=ExportConfig(segmentation="rle"))
    ours = load(ds.to_json(), tmp_path)
    assert all(isinstance(a["segmentation"]["counts"], str) for a in ds.annotations)
    assert_exact_match(ours, oracle)


def test_cli_rle_matches_panopticapi_and_names_the_images(oracle, colors_spec, mask_paths, tmp_path):
    colors = tmp_path / "colors.json"
    colors.write_text(json.dumps(colors_spec))
    images = tmp_path / "images"
    images.mkdir()
    for im in oracle.imgs.values():  # stand-ins for the val2017 JPEGs: same names, same sizes
        Image.new("RGB", (im["width"], im["height"]), (90, 90, 90)).save(images / im["file_name"])
    out = tmp_path / "out" / "instances.json"
    proc = subprocess.run(
        [sys.executable, "-m", "blender_coco", "masks2coco", str(PANOPTIC / "panoptic_examples"),
         "--colors", str(colors), "--out", str(out), "--segmentation", "rle", "--images", str(images)],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    ours = COCO(str(out))
    assert sorted(im["file_name"] for im in ours.imgs.values()) == sorted(im["file_name"] for im in oracle.imgs.values())
    assert_exact_match(ours, oracle)
    # the CLI and the library give the same annotations
    lib = colormask_to_coco(mask_paths, colors_spec, config=ExportConfig(segmentation="rle"))
    assert json.loads(out.read_text())["annotations"] == json.loads(json.dumps(lib.to_json()))["annotations"]
    assert [c["id"] for c in json.loads(out.read_text())["categories"]] == sorted(c["id"] for c in colors_spec["categories"])


@pytest.mark.parametrize("mode", ["polygon", "auto"])
def test_polygons_match_panopticapi(oracle, colors_spec, mask_paths, tmp_path, mode):
    """Segments without holes: IoU >= 0.99 as polygons. With holes: auto keeps them exact (RLE),
    polygon mode fills them (IoU >= 0.99 against the filled oracle mask)."""
    ds = colormask_to_coco(mask_paths, colors_spec, config=ExportConfig(segmentation=mode))
    ours = load(ds.to_json(), tmp_path)
    counted = {"plain": 0, "holes": 0}
    for image_id in ours.imgs:
        oid = oracle_image_id(ours, image_id, oracle)
        mine = ours.loadAnns(ours.getAnnIds(imgIds=[image_id]))
        theirs = oracle.loadAnns(oracle.getAnnIds(imgIds=[oid]))
        assert len(mine) == len(theirs)
        for t in theirs:
            # area and bbox come from the mask whatever the segmentation: an exact key
            [m] = [a for a in mine if (a["category_id"], a["area"], a["bbox"]) == (t["category_id"], t["area"], t["bbox"])]
            truth = oracle.annToMask(t).astype(bool)
            got = ours.annToMask(m).astype(bool)
            filled = binary_fill_holes(truth, structure=EIGHT)  # background 8-connected, as the contours see it
            has_holes = bool((filled & ~truth).any())
            if not has_holes:
                assert isinstance(m["segmentation"], list)
                h, w = truth.shape
                iou = float(mask_utils.iou([as_rle(m["segmentation"], h, w)], [t["segmentation"]], [0])[0, 0])
                assert iou >= 0.99, (t["id"], iou)
            elif mode == "auto":
                assert isinstance(m["segmentation"], dict)
                assert np.array_equal(got, truth)
            else:
                assert isinstance(m["segmentation"], list)
                assert (got & filled).sum() / (got | filled).sum() >= 0.99
            counted["holes" if has_holes else "plain"] += 1
    assert counted["plain"] > 10 and counted["holes"] > 0, counted

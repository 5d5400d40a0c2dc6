"""validate, stats and preview are bounded, and our own exports pass our own validate (issue 15, items 3, 5, 7).

* Every export option (segmentation mode x polygon tolerance x crowd, stuff "other",
  min_area, all tasks) on records with curved, holed and border-crossing instances:
  every file written validates with zero problems, and the simplified polygons do
  lose pixels (so the allowance from ``info.polygon_tolerance`` is what makes them pass).
* Hostile files, each run through the CLI in a child process under a 2 GB address-space
  limit and a timeout: one clear line or a reported problem, never a crash, a
  traceback, an out-of-memory or a hang.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from blender_coco.coco.export import export_dataset
from blender_coco.coco.validate import validate_coco
from blender_coco.config import SEGMENTATION_MODES, ExportConfig
from test_export import write_exr

REPO = Path(__file__).resolve().parents[1]
W, H = 160, 120
THINGS = ("apple", "ball", "ring")
STUFF_PASS = {40: "floor", 41: "wall"}
MEMORY_LIMIT = 2 << 30  # bytes of address space for a child
TIMEOUT = 60


def _frame(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Floor and wall (stuff), then ellipses (some crossing the border, some rings with a hole), far to near."""
    yy, xx = np.mgrid[0:H, 0:W]
    mask = np.zeros((H, W), np.uint16)
    depth = np.full((H, W), 1e10, np.float32)
    mask[80:, :], depth[80:, :] = 40, 20.0
    mask[10:80, 100:], depth[10:80, 100:] = 41, 21.0
    instances = [{"pass_index": p, "object": name.title(), "category": name} for p, name in STUFF_PASS.items()]
    for k in range(1, 9):
        cx, cy = rng.uniform(-10, W + 10), rng.uniform(-10, H + 10)
        a, b, t = rng.uniform(4, 40), rng.uniform(3, 30), rng.uniform(0, np.pi)
        u = ((xx - cx) * np.cos(t) + (yy - cy) * np.sin(t)) / a
        v = (-(xx - cx) * np.sin(t) + (yy - cy) * np.cos(t)) / b
        r2 = u * u + v * v
        inside = r2 <= 1
        cat = THINGS[k % 3]
        if cat == "ring":
            inside &= r2 >= 0.3
        d = 10.0 - k
        mask[inside], depth[inside] = k, d
        instances.append({"pass_index": k, "object": f"Obj.{k:03d}", "category": cat})
    return mask, depth, instances


def make_curved_ds(tmp: Path, frames: int = 2, seed: int = 3) -> Path:
    from PIL import Image

    ds = tmp / "ds"
    (ds / "records").mkdir(parents=True)
    (ds / "images").mkdir()
    rng = np.random.default_rng(seed)
    cats = [{"name": c, "supercategory": "thing"} for c in THINGS] + \
           [{"name": s, "supercategory": "stuff", "isthing": False} for s in STUFF_PASS.values()]
    for i in range(frames):
        mask, depth, instances = _frame(rng)
        write_exr(ds / "records" / f"{i:06d}.exr", mask, depth, "blender50")
        Image.new("RGB", (W, H), (90, 90, 90)).save(ds / "images" / f"{i:06d}.png")
        rec = {"format": "blender-coco-record", "version": 1, "index": i, "scene_frame": i + 1, "seed": seed,
               "image": f"{i:06d}.png", "passes": f"{i:06d}.exr", "width": W, "height": H,
               "blender_version": "5.0.1", "camera": {"name": "Camera"}, "categories": cats,
               "instances": instances, "background": "sky"}
        (ds / "records" / f"{i:06d}.json").write_text(json.dumps(rec))
    return ds


EXPORT_OPTIONS = (
    [dict(segmentation=mode, tolerance=t, iscrowd=crowd)
     for mode in SEGMENTATION_MODES if mode != "rle"
     for t in (0.0, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
     for crowd in (False, True)]
    + [dict(segmentation="rle"), dict(segmentation="rle", iscrowd=True),
       dict(stuff_other=True, min_area=30, tolerance=3.0), dict(captions_per_image=1, tolerance=1.5)]
)


@pytest.fixture(scope="module")
def curved_ds(tmp_path_factory) -> Path:
    return make_curved_ds(tmp_path_factory.mktemp("curved"))


@pytest.mark.parametrize("options", EXPORT_OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_every_export_option_passes_validate(curved_ds, tmp_path, options):
    config = ExportConfig(tasks=("instances", "stuff", "panoptic", "captions"), **options)
    result = export_dataset(curved_ds, config)
    ann_dir = curved_ds / "annotations"
    assert set(result.files) == {"instances", "stuff", "panoptic", "captions"}, result
    for path in result.files.values():
        data = json.loads(path.read_text())
        kind = "stuff" if path.name.startswith("stuff") else None
        problems = validate_coco(data, images_dir=curved_ds / "images", panoptic_dir=ann_dir / "panoptic", kind=kind)
        assert [str(p) for p in problems] == [], (path.name, options)


def test_simplified_polygons_lose_pixels_and_the_recorded_tolerance_is_what_lets_them_pass(curved_ds, tmp_path):
    """At tolerance 5 the polygons cover fewer pixels than ``area`` (the mask's count, checked
    against pycocotools here); without ``info.polygon_tolerance`` validate reports them."""
    export_dataset(curved_ds, ExportConfig(segmentation="polygon", tolerance=5.0, tasks=("instances",)),
                   out=tmp_path / "instances.json")
    data = json.loads((tmp_path / "instances.json").read_text())
    assert data["info"]["polygon_tolerance"] == 5.0
    short = [a for a in data["annotations"]
             if a["area"] > mask_utils.area(mask_utils.merge(mask_utils.frPyObjects(a["segmentation"], H, W))) + 2]
    assert short, "tolerance 5 should lose pixels on ellipses"
    assert validate_coco(data) == []
    del data["info"]["polygon_tolerance"]
    flagged = [str(p) for p in validate_coco(data)]
    assert flagged and all("is larger than the polygons cover" in f for f in flagged), flagged
    # the allowance does not hide a doubled area
    data["info"]["polygon_tolerance"] = 5.0
    big = max(data["annotations"], key=lambda a: a["area"])
    big["area"] *= 2
    assert [p.where for p in validate_coco(data)] == [f"annotation {big['id']} (image {big['image_id']})"]


def test_default_and_rle_exports_record_no_tolerance(curved_ds, tmp_path):
    for i, config in enumerate((ExportConfig(tasks=("instances",)), ExportConfig(segmentation="rle", tolerance=3.0,
                                                                                 tasks=("instances",)))):
        export_dataset(curved_ds, config, out=tmp_path / f"{i}.json")
        info = json.loads((tmp_path / f"{i}.json").read_text())["info"]
        assert "polygon_tolerance" not in info


def test_a_bad_polygon_tolerance_in_info_is_reported():
    data = {"info": {"polygon_tolerance": "5"}, "images": [], "annotations": [], "categories": []}
    assert [str(p) for p in validate_coco(data)] == [
        "file: info.polygon_tolerance must be the polygons' simplification in pixels (0..100), got '5'"]


# --------------------------------------------------------------------------- hostile files, in a bounded child


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """``blender-coco ARGS`` in a child limited to 2 GB of address space and TIMEOUT seconds."""
    return subprocess.run([sys.executable, "-m", "blender_coco", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=TIMEOUT, preexec_fn=_limit)


def _doc(width=96, height=72, segmentation=None, **ann) -> dict:
    a = {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 50, "iscrowd": 0}
    if segmentation is not None:
        a["segmentation"] = segmentation
    a.update(ann)
    return {"images": [{"id": 1, "file_name": "a.png", "width": width, "height": height}],
            "annotations": [a], "categories": [{"id": 1, "name": "thing", "isthing": 1}]}


def _assert_clean_exit(res: subprocess.CompletedProcess, codes: tuple[int, ...]) -> None:
    assert res.returncode in codes, (res.returncode, res.stdout[-2000:], res.stderr[-2000:])
    assert "Traceback" not in res.stderr and "Error:" not in res.stderr.replace("error:", ""), res.stderr[-2000:]


FAR = [1e8, 1e4, 1e308, -1e308, 97.5]


@pytest.mark.parametrize("x", FAR)
def test_a_vertex_far_outside_its_image_is_a_problem_not_a_crash(tmp_path, x):
    f = tmp_path / "far.json"
    f.write_text(json.dumps(_doc(segmentation=[[0, 0, x, 0, 10, 10]])))
    res = run_cli("validate", str(f))
    _assert_clean_exit(res, (1,))
    assert f"polygon 0 has a vertex at ({x:g}, 0), outside the 96x72 image" in res.stdout, res.stdout


def test_a_vertex_within_a_pixel_of_the_edge_is_fine():
    assert validate_coco(_doc(segmentation=[[-1, -1, 97, 0, 97, 73, 0, 73]], area=6000)) == []


@pytest.mark.parametrize("side", [65536, 10 ** 6])
def test_images_past_cocos_32_bit_rle_are_reported_and_not_rasterized(tmp_path, side):
    f = tmp_path / "huge.json"
    seg = [[0, 0, side, 0, side, side, 0, side]]
    f.write_text(json.dumps(_doc(side, side, segmentation=seg, area=side * side, bbox=[0, 0, side, side])))
    res = run_cli("validate", str(f))
    _assert_clean_exit(res, (1,))
    assert f"image 1: {side}x{side} is {side * side:,} pixels, more than COCO's RLE can count" in res.stdout


def test_empty_segmentation_is_reported():
    got = [str(p) for p in validate_coco(_doc(segmentation=[]))]
    assert len(got) == 1 and got[0].startswith("annotation 1 (image 1): segmentation is [] (no polygons)"), got


def test_unreadable_json_is_one_line(tmp_path):
    digits = tmp_path / "digits.json"
    digits.write_text('{"images": [{"id": ' + "1" * 5000 + '}], "annotations": []}')
    nested = tmp_path / "nested.json"
    nested.write_text('{"images": ' + "[" * 100000 + "]" * 100000 + ', "annotations": []}')
    for f, says in ((digits, "has an integer of more than 4300 digits"), (nested, "nests arrays or objects too deeply")):
        for command in ("validate", "stats", "preview"):
            args = (command, str(f)) + (("--out", str(tmp_path / "p")) if command == "preview" else ())
            res = run_cli(*args)
            _assert_clean_exit(res, (2,))
            assert res.stderr.count("\n") == 1 and says in res.stderr, (command, res.stderr)


@pytest.mark.parametrize("bad", [[1], {"a": 1}])
def test_ids_that_are_lists_or_objects_are_problems_in_every_kind(tmp_path, bad):
    stuff = tmp_path / "stuff.json"
    doc = _doc(segmentation=[[0, 0, 10, 0, 10, 10]], image_id=bad)
    doc["annotations"].append(dict(doc["annotations"][0], id=2, category_id=bad))
    stuff.write_text(json.dumps(doc))
    pan = tmp_path / "panoptic.json"
    pan.write_text(json.dumps({"images": doc["images"], "categories": doc["categories"],
                               "annotations": [{"image_id": bad, "file_name": "x.png", "segments_info": []}]}))
    for f in (stuff, pan):
        res = run_cli("validate", str(f))
        _assert_clean_exit(res, (1,))
        assert f"image_id {bad!r} is not an image in this file" in res.stdout, res.stdout
    res = run_cli("stats", str(stuff), "--json")
    _assert_clean_exit(res, (0,))
    assert json.loads(res.stdout)["annotations"] == 1  # the one with a list/object category_id is not counted
    assert "category_id that is not a number or string" in res.stderr


def test_preview_of_a_huge_image_is_one_line_and_others_are_drawn(tmp_path):
    doc = _doc(segmentation=[[0, 0, 10, 0, 10, 10]])
    doc["images"].append({"id": 2, "file_name": "big.png", "width": 10 ** 6, "height": 10 ** 6})
    f = tmp_path / "big.json"
    f.write_text(json.dumps(doc))
    res = run_cli("preview", str(f), "--out", str(tmp_path / "p"), "--image-ids", "2")
    _assert_clean_exit(res, (2,))
    assert res.stderr.count("\n") == 1 and "image 2 is 1000000x1000000" in res.stderr, res.stderr
    res = run_cli("preview", str(f), "--out", str(tmp_path / "all"), "--html", str(tmp_path / "html"))
    _assert_clean_exit(res, (0,))
    assert "image 2 is 1000000x1000000, more than 67,108,864 pixels: not drawn" in res.stderr
    assert [p.name for p in (tmp_path / "all").iterdir()] == ["a.png"]


def test_preview_draws_far_off_boxes_and_keypoints_without_overflow(tmp_path):
    doc = _doc(segmentation=[[0, 0, 10, 0, 10, 10]], bbox=[1e308, 1e308, 1e308, 1e308],
               keypoints=[1e308, 5, 2, 5, 5, 2, -1e308, 1e308, 1], num_keypoints=3)
    doc["categories"][0].update(keypoints=["a", "b", "c"], skeleton=[[1, 2], [2, 3], [1, 3]])
    f = tmp_path / "far.json"
    f.write_text(json.dumps(doc))
    res = run_cli("preview", str(f), "--out", str(tmp_path / "p"), "--html", str(tmp_path / "h"))
    _assert_clean_exit(res, (0,))
    assert (tmp_path / "p" / "a.png").is_file()


def _png_header(path: Path, width: int, height: int) -> None:
    """A PNG of just its header (IHDR) claiming width x height: what Pillow's open reads."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


def test_an_image_file_past_pillows_bomb_limit_is_a_problem_and_a_grey_canvas(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    _png_header(images / "a.png", 20000, 20000)
    f = tmp_path / "x.json"
    f.write_text(json.dumps(_doc(segmentation=[[0, 0, 10, 0, 10, 10]])))
    res = run_cli("validate", str(f), "--images", str(images))
    _assert_clean_exit(res, (1,))
    assert "has more pixels than Pillow opens" in res.stdout, res.stdout
    res = run_cli("preview", str(f), "--images", str(images), "--out", str(tmp_path / "p"))
    _assert_clean_exit(res, (0,))
    assert "cannot read" in res.stderr and (tmp_path / "p" / "a.png").is_file(), res.stderr


def test_masks2coco_polygons_at_every_tolerance_pass_validate(tmp_path):
    """masks2coco writes info.polygon_tolerance too: its coarse polygons of small curved
    instances (which lose pixels at tolerance >= 1) validate clean."""
    from PIL import Image

    rng = np.random.default_rng(5)
    masks = tmp_path / "masks"
    masks.mkdir()
    colors = {}
    for i in range(2):
        ids = _frame(rng)[0]
        rgb = np.zeros((H, W, 3), np.uint8)
        for k in np.unique(ids).tolist():
            if 0 < k < 40:
                color = (40 + 20 * k, 255 - 20 * k, 90)
                rgb[ids == k] = color
                colors["#%02x%02x%02x" % color] = THINGS[k % 3]
        Image.fromarray(rgb).save(masks / f"{i}.png")
    spec = tmp_path / "colors.json"
    spec.write_text(json.dumps({"categories": [{"id": i + 1, "name": n, "supercategory": "thing"}
                                               for i, n in enumerate(THINGS)], "colors": colors}))
    lost = 0
    for t in ("0.5", "1", "3", "5", "10"):
        out = tmp_path / f"out{t}.json"
        res = run_cli("masks2coco", str(masks), "--colors", str(spec), "--out", str(out), "--tolerance", t,
                      "--segmentation", "polygon")
        assert res.returncode == 0, res.stderr
        data = json.loads(out.read_text())
        assert data["info"]["polygon_tolerance"] == float(t)
        assert validate_coco(data) == [], t
        lost += sum(a["area"] > mask_utils.area(mask_utils.merge(mask_utils.frPyObjects(a["segmentation"], H, W))) + 2
                    for a in data["annotations"])
    assert lost, "coarse tolerances should lose pixels on these shapes"

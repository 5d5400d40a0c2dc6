"""HTML gallery (``blender-coco preview --html``): files and layers checked against pycocotools, then
the page opened in headless Chromium: overlays on the right screen pixels, per-category and per-layer
toggles working, captions shown, no script errors and no image that fails to load."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from blender_coco.coco.gallery import PANOPTIC_ALPHA, THUMB, write_gallery
from blender_coco.coco.colors import MASK_ALPHA, OCCLUDED_KEYPOINT, VISIBLE_KEYPOINT, category_color
from cocotools import decode

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
W, H = 80, 60
BASE = (40, 160, 200)
SCALE = THUMB // W  # the card shows the 80 px image 320 px wide
SKY = 5
SKY_SEG = 0x102030  # segment id of the panoptic sky


def rle(mask: np.ndarray) -> dict:
    r = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    r["counts"] = r["counts"].decode("ascii")
    return r


def dataset(tmp: Path) -> tuple[Path, dict]:
    """instances.json (box polygon, person keypoints, ring RLE with a hole) + panoptic + captions + image."""
    ann_dir = tmp / "ds" / "annotations"
    (ann_dir / "panoptic").mkdir(parents=True)
    (tmp / "ds" / "images").mkdir()
    Image.new("RGB", (W, H), BASE).save(tmp / "ds" / "images" / "one.png")
    ring = np.zeros((H, W), bool)
    ring[30:56, 45:76] = True
    ring[36:50, 52:68] = False
    data = {
        "images": [{"id": 1, "file_name": "one.png", "width": W, "height": H}],
        "categories": [{"id": 1, "name": "box"}, {"id": 3, "name": "ring"},
                       {"id": 2, "name": "person", "keypoints": ["a", "b", "c"], "skeleton": [[1, 2]]}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[10, 20, 30, 20, 30, 40, 10, 40]],
             "bbox": [10, 20, 20, 20], "area": 400, "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 2, "bbox": [45, 5, 25, 20], "area": 300, "iscrowd": 0,
             "keypoints": [50, 10, 2, 60, 10, 1, 0, 0, 0], "num_keypoints": 2},
            {"id": 3, "image_id": 1, "category_id": 3, "segmentation": rle(ring), "bbox": [45, 30, 31, 26],
             "area": int(ring.sum()), "iscrowd": 0},
        ],
    }
    (ann_dir / "instances.json").write_text(json.dumps(data))
    seg = np.zeros((H, W, 3), np.uint8)
    seg[0:10, 0:20] = (SKY_SEG & 255, (SKY_SEG >> 8) & 255, SKY_SEG >> 16)
    Image.fromarray(seg, "RGB").save(ann_dir / "panoptic" / "one.png")
    pan = {"images": data["images"], "categories": [{"id": SKY, "name": "sky", "isthing": 0, "color": [1, 2, 3]}],
           "annotations": [{"image_id": 1, "file_name": "one.png", "segments_info": [
               {"id": SKY_SEG, "category_id": SKY, "area": 200, "bbox": [0, 0, 20, 10], "iscrowd": 0}]}]}
    (ann_dir / "panoptic.json").write_text(json.dumps(pan))
    caps = {"images": data["images"], "annotations": [
        {"id": 1, "image_id": 1, "caption": "A box and a ring <b>not bold</b>."},
        {"id": 2, "image_id": 1, "caption": "A person above a ring."}]}
    (ann_dir / "captions.json").write_text(json.dumps(caps))
    return ann_dir / "instances.json", data


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "blender_coco", "preview", *map(str, args)],
                          capture_output=True, text=True, cwd=REPO)


@pytest.fixture(scope="module")
def gallery(tmp_path_factory) -> tuple[Path, dict]:
    tmp = tmp_path_factory.mktemp("gallery")
    src, data = dataset(tmp)
    r = cli(src, "--html", tmp / "gal")  # siblings and ds/images found by themselves
    assert r.returncode == 0, r.stderr
    return tmp / "gal", data


def test_files_and_mask_layers_match_pycocotools(gallery):
    out, data = gallery
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert names == ["img/one.png", "index.html", "layers/one.m1.png", "layers/one.m3.png", "layers/one.p5.png"]
    assert not [p for p in out.rglob(".*")]  # no temp files left
    for ann in (data["annotations"][0], data["annotations"][2]):
        layer = np.asarray(Image.open(out / "layers" / f"one.m{ann['category_id']}.png"))
        truth = decode(ann["segmentation"], H, W)  # pycocotools' own rasterization
        assert np.array_equal(layer[..., 3] > 0, truth)
        assert (layer[truth][:, :3] == category_color(ann["category_id"])).all()
        assert (layer[truth][:, 3] == round(MASK_ALPHA * 255)).all()
    pan = np.asarray(Image.open(out / "layers" / "one.p5.png"))
    assert (pan[0:10, 0:20, 3] == round(PANOPTIC_ALPHA * 255)).all() and pan[..., 3].sum() == 200 * pan[0, 0, 3]
    page = (out / "index.html").read_text()
    assert "A box and a ring &lt;b&gt;not bold&lt;/b&gt;." in page and "<b>not bold" not in page
    assert 'data-key="c5"' in page and "sky (stuff)" in page and 'data-key="panoptic">' in page


def test_gallery_is_deterministic_and_limits(tmp_path):
    src, data = dataset(tmp_path)
    a = write_gallery(data, tmp_path / "a").read_bytes()
    b = write_gallery(data, tmp_path / "b").read_bytes()
    assert a == b and b'data-key="panoptic"' not in a  # no panoptic toggle without a panoptic file
    data["images"].append({"id": 2, "file_name": "two.png", "width": 640, "height": 480})
    out = write_gallery(data, tmp_path / "c", src.parent.parent / "images", image_ids=[2])
    page = out.read_text()
    assert 'id="img2"' in page and 'id="img1"' not in page
    with Image.open(tmp_path / "c" / "thumb" / "two.jpg") as im:  # large images get a thumbnail
        assert im.size == (THUMB, 240)


def test_cli_errors_are_one_line(tmp_path):
    src, _ = dataset(tmp_path)
    for args, text in [((), "give --out DIR"), (("--html", tmp_path / "g", "--panoptic", tmp_path / "nope.json"),
                                                "does not exist")]:
        r = cli(src, *args)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and text in r.stderr, r.stderr
    (src.parent / "panoptic").rename(src.parent / "moved")
    r = cli(src, "--html", tmp_path / "g")
    assert r.returncode == 2 and "no PNG folder" in r.stderr and "Traceback" not in r.stderr


# ------------------------------------------------------------------------------ in a real browser

needs_chromium = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK) and not os.environ.get("CI"),
    reason=f"no Chromium at {CHROMIUM} (apt-get install chromium, or set $CHROMIUM)")


def chromium(url: str, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"no Chromium at {CHROMIUM}; CI must run the gallery browser tests")
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--force-device-scale-factor=1",
           "--enable-logging=stderr", "--v=0", f"--user-data-dir={tmp / 'profile'}", "--window-size=900,700", *args, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def screenshot(out: Path, tmp: Path, hash_: str = "") -> np.ndarray:
    shot = tmp / f"shot{abs(hash(hash_))}.png"
    r = chromium((out / "index.html").as_uri() + hash_, tmp, f"--screenshot={shot}")
    assert shot.is_file(), r.stderr[-2000:]
    return np.asarray(Image.open(shot).convert("RGB")).astype(int)


def console_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]


def blend(color, alpha: float, under=BASE) -> np.ndarray:
    a = round(alpha * 255) / 255
    return np.array(under) * (1 - a) + np.array(color) * a


@pytest.fixture(scope="module")
def shots(gallery, tmp_path_factory):
    out, _ = gallery
    tmp = tmp_path_factory.mktemp("shots")
    plain = screenshot(out, tmp)
    base = np.all(plain == BASE, axis=2)  # where the bare image shows
    ys, xs = np.nonzero(base)
    x0, y0 = int(xs.min()), int(ys.min())
    assert (int(xs.max()) + 1 - x0, int(ys.max()) + 1 - y0) == (W * SCALE, H * SCALE)  # the card's image box
    return {"": plain, "off": screenshot(out, tmp, "#off=c1"), "pan": screenshot(out, tmp, "#off=masks&on=panoptic"),
            "origin": (x0, y0)}


def px(shot: np.ndarray, origin, c: float, r: float) -> np.ndarray:
    """The screen pixel at the centre of image pixel (c, r) (fractional: a point in image pixels)."""
    return shot[int(origin[1] + r * SCALE + SCALE / 2), int(origin[0] + c * SCALE + SCALE / 2)]


def near(got, want, tol: float) -> bool:
    return bool(np.abs(np.asarray(got) - np.asarray(want)).max() <= tol)


@needs_chromium
def test_overlays_land_on_the_right_screen_pixels(shots):
    s, o = shots[""], shots["origin"]
    assert near(px(s, o, 15, 25), blend(category_color(1), MASK_ALPHA), 3)     # inside the box polygon
    assert near(px(s, o, 47, 45), blend(category_color(3), MASK_ALPHA), 3)     # the ring (RLE)
    assert near(px(s, o, 60, 42), BASE, 0)                                     # the ring's hole stays clear
    assert near(px(s, o, 5, 55), BASE, 0) and near(px(s, o, 5, 5), BASE, 0)    # no mask; panoptic off by default
    # box outline: a 2 px stroke centred on the bbox's left edge x = 10 (screen column 40 of the image)
    edge = s[o[1] + 30 * SCALE, o[0] + 10 * SCALE - 1:o[0] + 10 * SCALE + 1]
    assert all(near(p, category_color(1), 8) for p in edge), edge
    assert near(s[o[1] + 30 * SCALE, o[0] + 10 * SCALE - 3], BASE, 0)  # just outside the stroke
    # keypoints (COCO pixel-index coordinates): v=2 filled green at (50, 10); v=1 a hollow ring at (60, 10)
    assert near(px(s, o, 50, 10), VISIBLE_KEYPOINT, 12)
    assert near(px(s, o, 60, 10), BASE, 12)
    cx, cy = o[0] + int(60.5 * SCALE), o[1] + int(10.5 * SCALE)
    around = s[cy - 5:cy + 6, cx - 5:cx + 6].reshape(-1, 3)
    assert any(near(p, OCCLUDED_KEYPOINT, 40) for p in around)


@needs_chromium
def test_category_toggle_hides_that_category_only(shots):
    s, o = shots["off"], shots["origin"]
    assert near(px(s, o, 15, 25), BASE, 0)                                   # box mask gone
    assert near(s[o[1] + 30 * SCALE, o[0] + 10 * SCALE], BASE, 0)            # box outline gone
    assert near(px(s, o, 47, 45), blend(category_color(3), MASK_ALPHA), 3)   # the ring stays
    assert near(px(s, o, 50, 10), VISIBLE_KEYPOINT, 12)                      # and the person's keypoints


@needs_chromium
def test_layer_toggles_masks_off_panoptic_on(shots):
    s, o = shots["pan"], shots["origin"]
    assert near(px(s, o, 47, 45), BASE, 0) and near(px(s, o, 15, 25), BASE, 0)  # no masks
    sky = (SKY_SEG & 255, (SKY_SEG >> 8) & 255, SKY_SEG >> 16)
    assert near(px(s, o, 5, 5), blend(sky, PANOPTIC_ALPHA), 3)                  # the panoptic segment's colour
    assert near(px(s, o, 25, 5), BASE, 0)                                       # outside the segment
    assert near(s[o[1] + 30 * SCALE, o[0] + 10 * SCALE], category_color(1), 8)  # boxes still drawn


@needs_chromium
def test_dom_after_toggles_has_captions_and_no_errors(gallery, tmp_path):
    out, _ = gallery
    r = chromium((out / "index.html").as_uri() + "#off=c1,captions&on=panoptic", tmp_path, "--dump-dom")
    dom = r.stdout
    assert 'data-ready="1"' in dom, dom[:2000]
    assert "data-errors" not in dom and not console_errors(r.stderr), console_errors(r.stderr) or dom[:2000]
    hidden = re.search(r'data-hidden="([^"]*)"', dom).group(1).split()
    assert sorted(hidden) == ["c1", "captions"]
    assert "A person above a ring." in dom and "hide-c1" in dom and "hide-panoptic" not in re.search(
        r"<body[^>]*>", dom).group(0)


@needs_chromium
def test_error_recorder_reports_a_missing_layer_and_a_bad_toggle(gallery, tmp_path):
    out, _ = gallery
    broken = tmp_path / "broken"
    import shutil

    shutil.copytree(out, broken)
    (broken / "layers" / "one.m3.png").unlink()
    r = chromium((broken / "index.html").as_uri() + "#off=c42", tmp_path, "--dump-dom")
    errors = re.search(r'data-errors="([^"]*)"', r.stdout)
    assert errors, r.stdout[:2000]
    assert "layers/one.m3.png" in errors.group(1) and "no toggle named c42" in errors.group(1)


def test_non_utf8_and_url_special_file_names_render_and_link(tmp_path):
    """A file_name holding lone surrogates (what Python makes of a non-UTF-8 name on disk) crashed
    the page's UTF-8 encoding; one with '#' or '?' broke its links. Such a name gets the image's id
    as the gallery's file name (its text shown with \\x escapes), and every link is URL-quoted, so
    each src names a file the gallery holds, and the base image is the file on disk."""
    from urllib.parse import unquote

    images = tmp_path / "images"
    images.mkdir()
    names = ["caf\udce9.png", "a#b?.png", "plain one.png"]
    for i, name in enumerate(names):
        Image.new("RGB", (W, H), (40 * i, 90, 10)).save(images / name)  # surrogates: the original bytes on disk
    data = {"images": [{"id": i + 1, "file_name": n, "width": W, "height": H} for i, n in enumerate(names)],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 4, 4], "area": 16, "iscrowd": 0,
                             "segmentation": [[0, 0, 4, 0, 4, 4, 0, 4]]}],
            "categories": [{"id": 1, "name": "box"}]}
    src = tmp_path / "c.json"
    src.write_text(json.dumps(data))  # \udce9 as JSON writes it
    r = cli(src, "--html", tmp_path / "gal", "--images", images)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    page = (tmp_path / "gal" / "index.html").read_bytes().decode("utf-8")  # valid UTF-8
    links = re.findall(r'(?:src|data-full)="([^"]+)"', page)
    assert links and all((tmp_path / "gal" / unquote(link)).is_file() for link in links), links
    assert "<b>caf\\xe9.png</b>" in page and 'src="img/image_1.png"' in page and 'src="img/a%23b%3F.png"' in page
    for i, name in enumerate(names):
        full = re.search(rf'id="img{i + 1}".*?data-full="([^"]+)"', page).group(1)
        assert (tmp_path / "gal" / unquote(full)).read_bytes() == (images / name).read_bytes()

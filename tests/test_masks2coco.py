"""masks2coco: painted color masks -> COCO, through the library function and the CLI.

Masks are drawn here with known pixels, so every box, area and mask is known
exactly; pycocotools is the judge of the output (it must load, and decoding an
annotation must give back exactly the pixels of its color).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO


from blender_coco.cli import main  # noqa: E402
from blender_coco.config import ExportConfig  # noqa: E402
from blender_coco.errors import UserError  # noqa: E402
from blender_coco.coco.colorindex import color_table, index_colors, look_up_colors, read_color_mask  # noqa: E402
from blender_coco.coco.colormask import (  # noqa: E402
    colormask_to_coco, find_mask_files, load_color_spec, unmapped_message,
)

REPO = Path(__file__).resolve().parents[1]

CATEGORIES = [
    {"id": 3, "name": "houseplant", "supercategory": "plant"},
    {"id": 7, "name": "book", "supercategory": "thing"},
    {"id": 11, "name": "cup", "supercategory": "thing"},
]
GREEN, BLUE, RED = (0, 255, 0), (0, 0, 255), (255, 0, 0)


def spec(colors=None, masks=None) -> dict:
    out = {"categories": CATEGORIES, "colors": colors if colors is not None else {"#00FF00": "houseplant", "#0000ff": "book"}}
    if masks is not None:
        out["masks"] = masks
    return out


def save(path: Path, pixels: np.ndarray, mode: str | None = None) -> Path:
    Image.fromarray(np.asarray(pixels, dtype=np.uint8), mode).save(path)
    return path


def canvas(h: int = 12, w: int = 16, channels: int = 3) -> np.ndarray:
    return np.zeros((h, w, channels), dtype=np.uint8)


def decoded(ann: dict, h: int, w: int) -> np.ndarray:
    seg = ann["segmentation"]
    rle = mask_utils.merge(mask_utils.frPyObjects(seg, h, w)) if isinstance(seg, list) else seg
    return mask_utils.decode(rle).astype(bool)


def tight_bbox(mask: np.ndarray) -> list[int]:
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]


def cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "blender_coco", "masks2coco", *argv],
                          cwd=REPO, capture_output=True, text=True, timeout=120)


@pytest.fixture
def two_masks(tmp_path: Path) -> Path:
    """b.png: plant at rows 2-5, cols 3-8 and a book pixel at (0, 0); a.png: a book 4x3 at (10, 1)."""
    d = tmp_path / "masks"
    d.mkdir()
    b = canvas()
    b[2:6, 3:9] = GREEN
    b[0, 0] = BLUE
    save(d / "b.png", b)
    a = canvas()
    a[1:4, 10:14] = BLUE
    save(d / "a.png", a)
    return d


# -- the library ---------------------------------------------------------------------------------

def test_exact_boxes_areas_and_ids_sorted_by_file_name(two_masks, tmp_path):
    ds = colormask_to_coco(find_mask_files(two_masks), spec(), config=ExportConfig(segmentation="rle"))
    assert [im["file_name"] for im in ds.images] == ["a.png", "b.png"]
    assert [im["id"] for im in ds.images] == [1, 2]
    assert [(im["width"], im["height"]) for im in ds.images] == [(16, 12), (16, 12)]
    got = sorted((a["image_id"], a["category_id"], a["bbox"], a["area"], a["iscrowd"]) for a in ds.annotations)
    assert got == [(1, 7, [10, 1, 4, 3], 12, 0), (2, 3, [3, 2, 6, 4], 24, 0), (2, 7, [0, 0, 1, 1], 1, 0)]
    assert [c.id for c in ds.categories] == [3, 7, 11]
    out = tmp_path / "out.json"
    ds.write(str(out))
    coco = COCO(str(out))
    assert sorted(coco.cats) == [3, 7, 11] and coco.cats[3]["supercategory"] == "plant"
    plant = coco.loadAnns(coco.getAnnIds(catIds=[3]))[0]
    expect = np.zeros((12, 16), dtype=np.uint8)
    expect[2:6, 3:9] = 1
    assert np.array_equal(coco.annToMask(plant), expect)


def test_output_is_deterministic(two_masks, tmp_path):
    for name in ("one.json", "two.json"):
        assert main(["masks2coco", str(two_masks), "--colors", str(write_json(tmp_path / "c.json", spec())),
                     "--out", str(tmp_path / name)]) == 0
    assert (tmp_path / "one.json").read_bytes() == (tmp_path / "two.json").read_bytes()


def test_rgba_alpha_zero_is_background_whatever_its_rgb(tmp_path):
    px = canvas(channels=4)
    px[0:6, 0:8] = (*GREEN, 0)      # mapped color but fully transparent: background
    px[7:10, 2:5] = (*GREEN, 255)   # the plant
    px[8:11, 10:12] = (9, 9, 9, 0)  # unmapped color, transparent: background, not an error
    px[0:2, 12:15] = (*BLUE, 128)   # half transparent still counts by its RGB
    mask = save(tmp_path / "m.png", px, "RGBA")
    packed = read_color_mask(mask)
    assert packed[0, 0] == 0 and packed[9, 11] == 0 and packed[8, 3] == 0x00FF00 and packed[1, 13] == 0x0000FF
    ds = colormask_to_coco([mask], spec(), config=ExportConfig(segmentation="rle"))
    got = sorted((a["category_id"], a["bbox"], a["area"]) for a in ds.annotations)
    assert got == [(3, [2, 7, 3, 3], 9), (7, [12, 0, 3, 2], 6)]


def test_palette_gray_bmp_and_tiff_masks_read_like_rgb(tmp_path):
    px = canvas()
    px[3:5, 4:9] = GREEN
    px[8, 1:3] = BLUE
    rgb = Image.fromarray(px)
    rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=4).save(tmp_path / "p.png")
    rgb.save(tmp_path / "q.bmp")
    rgb.save(tmp_path / "r.tif")
    gray = np.zeros((12, 16), dtype=np.uint8)
    gray[5:7, 5:7] = 200
    Image.fromarray(gray, "L").save(tmp_path / "s.png")
    masks = find_mask_files(tmp_path)
    assert [m.name for m in masks] == ["p.png", "q.bmp", "r.tif", "s.png"]
    for m in masks[:3]:
        assert np.array_equal(read_color_mask(m), read_color_mask(masks[1]))
    ds = colormask_to_coco(masks, spec(colors={"#00ff00": "houseplant", "#0000ff": "book", "#c8c8c8": "cup"}))
    per_image = {im["file_name"]: sorted((a["category_id"], a["area"]) for a in ds.annotations if a["image_id"] == im["id"])
                 for im in ds.images}
    assert per_image == {"p.png": [(3, 10), (7, 2)], "q.bmp": [(3, 10), (7, 2)], "r.tif": [(3, 10), (7, 2)],
                         "s.png": [(11, 4)]}


def test_per_mask_overrides_extend_and_replace_the_global_colors(two_masks):
    px = canvas()
    px[5:7, 5:7] = RED
    px[9:11, 0:3] = (1, 2, 3)
    save(two_masks / "c.png", px)
    masks = {"c.png": {"#ff0000": "cup", "#010203": None},  # null: skip this color in this mask
             "b.png": {"#0000FF": "cup"}}                    # b's blue pixel is a cup, a's blue is still a book
    ds = colormask_to_coco(find_mask_files(two_masks), spec(masks=masks))
    by_file = {im["id"]: im["file_name"] for im in ds.images}
    got = sorted((by_file[a["image_id"]], a["category_id"], a["area"]) for a in ds.annotations)
    assert got == [("a.png", 7, 12), ("b.png", 3, 24), ("b.png", 11, 1), ("c.png", 11, 4)]


def test_index_colors_keeps_background_label_zero():
    packed = np.array([[0, 5, 5], [9, 0, 5]], dtype=np.int32)
    ids, colors, counts = index_colors(packed)
    assert colors.tolist() == [0, 5, 9] and counts.tolist() == [2, 3, 1]
    assert np.array_equal(colors[ids], packed)
    ids, colors, counts = index_colors(np.array([[4, 4], [7, 4]], dtype=np.int32))  # no background at all
    assert colors.tolist() == [0, 4, 7] and counts.tolist() == [0, 3, 1] and ids.min() == 1


@pytest.mark.parametrize("bad, expect", [
    ('{"categories": [', "is not valid JSON"),
    ("[]", "must be a JSON object"),
    ('{"categories": [], "colors": {"#00ff00": "a"}}', '"categories" must be a non-empty list'),
    ('{"categories": [{"id": 0, "name": "a"}], "colors": {"#00ff00": "a"}}', "id must be a positive integer, got 0"),
    ('{"categories": [{"id": true, "name": "a"}], "colors": {"#00ff00": "a"}}', "id must be a positive integer"),
    ('{"categories": [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}], "colors": {"#00ff00": "a"}}',
     "category id 1 is used by both 'a' and 'b'"),
    ('{"categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "a"}], "colors": {"#00ff00": "a"}}',
     "category name 'a' appears twice"),
    ('{"categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}], "colors": {"#00ff00": "plant"}}',
     "color #00ff00 maps to unknown category 'plant' (known: a, b)"),
    ('{"categories": [{"id": 1, "name": "a"}], "masks": {"m.png": {"#0000FF": "c"}}}',
     "\"masks\" -> 'm.png': color #0000ff maps to unknown category 'c' (known: a)"),
    ('{"categories": [{"id": 1, "name": "a"}], "colors": {"green": "a"}}', "'green' is not a color; write colors as \"#rrggbb\""),
    ('{"categories": [{"id": 1, "name": "a"}], "colors": {"#000000": "a"}}', "#000000 is the background"),
    ('{"categories": [{"id": 1, "name": "a"}], "colours": {"#00ff00": "a"}}', "unknown key 'colours'"),
    ('{"categories": [{"id": 1, "name": "a"}]}', "maps no colors"),
    # one color given two labels: json.load would keep the last one silently
    ('{"categories": [{"id": 1, "name": "plant"}, {"id": 2, "name": "book"}], '
     '"colors": {"#00ff00": "plant", "#00ff00": "book"}}', "'#00ff00' is written twice, as 'plant' and as 'book'"),
    ('{"categories": [{"id": 1, "name": "plant"}, {"id": 2, "name": "book"}], '
     '"colors": {"#00FF00": "plant", "#00ff00": "book"}}', "color #00ff00 is mapped twice ('plant' and 'book')"),
    ('{"categories": [{"id": 1, "name": "plant"}, {"id": 2, "name": "book"}], '
     '"masks": {"m.png": {"#0000ff": "plant", "#0000FF": "book"}}}', "color #0000ff is mapped twice ('plant' and 'book')"),
    ('{"categories": [{"id": 1, "name": "plant"}, {"id": 2, "name": "book"}], "colors": {"#00ff00": "plant"}, '
     '"masks": {"m.png": {"#0000ff": "plant"}, "m.png": {"#0000ff": "book"}}}', "'m.png' is written twice"),
])
def test_malformed_colors_file_is_one_line_naming_the_file(tmp_path, bad, expect):
    path = tmp_path / "colors.json"
    path.write_text(bad)
    with pytest.raises(UserError) as err:
        load_color_spec(path)
    text = str(err.value)
    assert expect in text and str(path) in text and "\n" not in text


def test_no_masks_and_lossy_masks_are_one_line_errors(tmp_path):
    with pytest.raises(UserError, match=r"no mask images .* in .*empty"):
        find_mask_files(ensure(tmp_path / "empty"))
    jpgs = ensure(tmp_path / "jpgs")
    Image.new("RGB", (4, 4)).save(jpgs / "m.jpg")
    with pytest.raises(UserError, match=r"found m\.jpg: JPEG/WebP masks are lossy"):
        find_mask_files(jpgs)
    with pytest.raises(UserError, match="mask folder .*missing does not exist"):
        find_mask_files(tmp_path / "missing")
    (jpgs / "broken.png").write_bytes(b"not a png")
    with pytest.raises(UserError, match=r"mask .*broken\.png cannot be read as an image"):
        read_color_mask(jpgs / "broken.png")


# -- --images ------------------------------------------------------------------------------------

def test_images_matched_by_stem_with_any_extension(two_masks, tmp_path):
    images = ensure(tmp_path / "images")
    Image.new("RGB", (16, 12)).save(images / "a.jpg")
    Image.new("RGB", (16, 12)).save(images / "b.webp")
    (images / "b.json").write_text("{}")  # not an image: never matched
    ds = colormask_to_coco(find_mask_files(two_masks), spec(), images_dir=images)
    assert [(im["id"], im["file_name"]) for im in ds.images] == [(1, "a.jpg"), (2, "b.webp")]


def test_images_missing_mismatched_or_ambiguous_are_one_line_errors(two_masks, tmp_path):
    images = ensure(tmp_path / "images")
    Image.new("RGB", (16, 12)).save(images / "a.jpg")
    masks = find_mask_files(two_masks)
    with pytest.raises(UserError, match=r"no image named b\.\* in .*images for mask b\.png"):
        colormask_to_coco(masks, spec(), images_dir=images)
    Image.new("RGB", (20, 12)).save(images / "b.png")
    with pytest.raises(UserError, match=r"image b\.png is 20x12 but mask b\.png is 16x12"):
        colormask_to_coco(masks, spec(), images_dir=images)
    Image.new("RGB", (16, 12)).save(images / "a.png")
    with pytest.raises(UserError, match=r"mask a\.png matches several images .*\(a\.jpg, a\.png\)"):
        colormask_to_coco(masks, spec(), images_dir=images)


# -- unmapped colors through the CLI -------------------------------------------------------------

def test_unmapped_color_error_names_file_color_and_pixel_count(two_masks, tmp_path):
    px = canvas()
    px[4:9, 2:10] = (10, 11, 12)
    save(two_masks / "c.png", px)
    colors = write_json(tmp_path / "colors.json", spec())
    out = tmp_path / "out" / "instances.json"
    proc = cli(str(two_masks), "--colors", str(colors), "--out", str(out))
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "c.png: color #0a0b0c (40 px) is not in" in lines[0]
    assert "--ignore-unmapped" in lines[0] and "anti-aliasing" in lines[0]
    assert not out.exists()


def test_antialiased_mask_gives_one_summarized_line_and_keeps_old_output(two_masks, tmp_path):
    px = canvas(64, 64)
    ramp = np.arange(64, dtype=np.uint8)
    px[:, :, 0] = ramp[None, :] * 4 + 3         # a soft edge: 4096 distinct colors
    px[:, :, 1] = ramp[:, None] * 4 + 1
    px[20:40, 20:40] = GREEN
    save(two_masks / "soft.png", px)
    colors = write_json(tmp_path / "colors.json", spec())
    out = tmp_path / "instances.json"
    out.write_text('{"old": true}')
    proc = cli(str(two_masks), "--colors", str(colors), "--out", str(out))
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and len(lines[0]) < 600, proc.stderr
    assert "soft.png: 3,696 unmapped colors (3,696 px): e.g. #030100 (1 px), #030500 (1 px)" in lines[0]
    assert "anti-aliased" in lines[0] and "--ignore-unmapped" in lines[0]
    assert out.read_text() == '{"old": true}'
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_few_unmapped_colors_are_all_listed_and_other_masks_counted(two_masks):
    for name, color in (("c.png", (1, 2, 3)), ("d.png", (4, 5, 6))):
        px = canvas()
        px[0:2, 0:3] = color
        px[5, 5] = (200, 0, 0)
        save(two_masks / name, px)
    with pytest.raises(UserError) as err:
        colormask_to_coco(find_mask_files(two_masks), spec())
    text = str(err.value)
    assert text.startswith("c.png: 2 unmapped colors (7 px): #010203 (6 px), #c80000 (1 px); ")
    assert "anti-aliased" not in text and "without anti-aliasing" in text
    assert text.endswith("(1 more masks have unmapped colors)") and "\n" not in text


def test_ignore_unmapped_skips_those_colors_only(two_masks, tmp_path):
    px = canvas()
    px[1:3, 1:3] = (10, 11, 12)
    px[6:9, 6:9] = GREEN
    save(two_masks / "c.png", px)
    colors = write_json(tmp_path / "colors.json", spec())
    out = tmp_path / "instances.json"
    proc = cli(str(two_masks), "--colors", str(colors), "--out", str(out), "--ignore-unmapped", "--segmentation", "rle")
    assert proc.returncode == 0, proc.stderr
    assert "c.png: color #0a0b0c (4 px)" in proc.stderr  # a warning, not an error
    coco = COCO(str(out))
    [img] = [i for i, im in coco.imgs.items() if im["file_name"] == "c.png"]
    anns = coco.loadAnns(coco.getAnnIds(imgIds=[img]))
    assert [(a["category_id"], a["bbox"], a["area"]) for a in anns] == [(3, [6, 6, 3, 3], 9)]
    assert len(coco.anns) == 4


def test_cli_options_reach_the_exporter(two_masks, tmp_path):
    colors = write_json(tmp_path / "colors.json", spec())
    out = tmp_path / "o.json"
    assert main(["masks2coco", str(two_masks), "--colors", str(colors), "--out", str(out),
                 "--min-area", "2", "--segmentation", "polygon", "--tolerance", "0", "--crowd"]) == 0
    data = json.loads(out.read_text())
    assert sorted(a["area"] for a in data["annotations"]) == [12, 24]  # the 1-pixel book is dropped
    assert all(isinstance(a["segmentation"], list) and a["iscrowd"] == 1 for a in data["annotations"])
    assert main(["masks2coco", str(two_masks), "--colors", str(colors), "--out", str(tmp_path)]) == 2  # a folder
    assert main(["masks2coco", str(two_masks), "--colors", str(colors), "--out", str(out), "--tolerance", "99"]) == 2


# -- property: every annotation is exactly the pixels of its color ------------------------------

PALETTE = [(0, 255, 0), (0, 0, 255), (255, 0, 0), (1, 1, 1), (255, 255, 255), (17, 0, 200), (0, 0, 1)]


@st.composite
def color_masks(draw):
    h, w = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    ids = np.zeros((h, w), dtype=np.int64)  # index into PALETTE, -1 = background
    ids[:] = -1
    for _ in range(draw(st.integers(0, 6))):
        k = draw(st.integers(0, len(PALETTE) - 1))
        y0, x0 = draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))
        y1, x1 = draw(st.integers(y0 + 1, h)), draw(st.integers(x0 + 1, w))
        if draw(st.booleans()):
            ids[y0:y1, x0:x1] = k
        else:  # a blob: random pixels inside the rectangle
            seed = draw(st.integers(0, 2**32 - 1))
            blob = np.random.default_rng(seed).random((y1 - y0, x1 - x0)) < 0.5
            ids[y0:y1, x0:x1][blob] = k
    transparent = draw(st.booleans())
    return ids, transparent


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(color_masks(), st.sampled_from(["rle", "auto"]))
def test_property_annotations_are_exactly_the_pixels_of_each_color(case, mode):
    """rle: the decoded RLE is the color's pixels. auto at tolerance 0: polygons (masks without
    holes) rasterize back to exactly those pixels too, and masks with holes come as RLE."""
    ids, transparent = case
    h, w = ids.shape
    rgb = np.zeros((h, w, 3), dtype=np.uint8)
    for k, color in enumerate(PALETTE):
        rgb[ids == k] = color
    names = [c["name"] for c in CATEGORIES]
    colors = {"#%02x%02x%02x" % c: names[k % 3] for k, c in enumerate(PALETTE)}
    with tempfile.TemporaryDirectory() as tmp:
        if transparent:  # background gets a mapped RGB but alpha 0
            rgba = np.concatenate([rgb, np.full((h, w, 1), 255, np.uint8)], axis=2)
            rgba[ids < 0] = (*PALETTE[0], 0)
            path = save(Path(tmp) / "m.png", rgba, "RGBA")
        else:
            path = save(Path(tmp) / "m.png", rgb)
        ds = colormask_to_coco([path], spec(colors=colors), config=ExportConfig(segmentation=mode, tolerance=0))
    cat_id = {c["name"]: c["id"] for c in CATEGORIES}
    packed = [(r << 16 | g << 8 | b, k) for k, (r, g, b) in enumerate(PALETTE) if (ids == k).any()]
    present = [k for _, k in sorted(packed)]  # annotations come in order of packed color
    assert len(ds.annotations) == len(present)
    for ann, k in zip(ds.annotations, present):
        truth = ids == k
        assert ann["category_id"] == cat_id[colors["#%02x%02x%02x" % PALETTE[k]]]
        assert ann["area"] == int(truth.sum())
        assert ann["bbox"] == tight_bbox(truth)
        assert ann["iscrowd"] == 0
        assert np.array_equal(decoded(ann, h, w), truth)


def write_json(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj))
    return path


def ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


# -- the color lookup equals the np.unique path it replaced --------------------------------------

def unique_index(packed: np.ndarray):
    """The oracle: masks2coco's indexing before the lookup (np.unique over every pixel)."""
    colors, inverse, counts = np.unique(packed.ravel(), return_inverse=True, return_counts=True)
    ids = inverse.reshape(packed.shape).astype(np.int32)
    if colors.size == 0 or colors[0] != 0:
        ids += 1
        colors = np.concatenate(([0], colors))
        counts = np.concatenate(([0], counts))
    return ids, colors.astype(np.int64), counts.astype(np.int64)


def loop_lookup(colors: np.ndarray, by_color: dict):
    """The oracle: the per-label dictionary loop that mapped colors before."""
    label_cat, unmapped = {}, []
    for label in range(1, colors.size):
        color = int(colors[label])
        if color not in by_color:
            unmapped.append(label)
        elif by_color[color] is not None:
            label_cat[label] = by_color[color]
    return label_cat, unmapped


@st.composite
def painted_masks(draw):
    """RGB(A) masks: flat mapped colors, stray unmapped pixels, sometimes blurred (anti-aliased
    edges: many colors seen once), sometimes no background, sometimes transparent pixels."""
    h, w = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    rgb = np.zeros((h, w, 3), np.uint8)
    if draw(st.booleans()):
        rgb[:] = PALETTE[draw(st.integers(0, len(PALETTE) - 1))]  # no background left, unless painted over
    for _ in range(draw(st.integers(0, 8))):
        y0, x0 = rng.integers(0, h), rng.integers(0, w)
        y1, x1 = rng.integers(y0 + 1, h + 1), rng.integers(x0 + 1, w + 1)
        rgb[y0:y1, x0:x1] = PALETTE[rng.integers(0, len(PALETTE))] if rng.random() < 0.8 else (0, 0, 0)
    stray = rng.random((h, w)) < draw(st.sampled_from([0, 0.01, 0.2]))
    rgb[stray] = rng.integers(0, 256, (int(stray.sum()), 3))  # unmapped colors (or black, or a mapped one)
    if draw(st.booleans()):  # anti-aliased: a box blur mixes neighbouring colors
        padded = np.pad(rgb.astype(float), ((1, 1), (1, 1), (0, 0)), mode="edge")
        rgb = np.rint(sum(padded[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)) / 9).astype(np.uint8)
    if draw(st.booleans()):
        alpha = np.where(rng.random((h, w)) < 0.3, 0, 255).astype(np.uint8)
        return np.dstack([rgb, alpha])
    return rgb


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(painted_masks(), st.integers(0, len(PALETTE)))
def test_property_lookup_equals_the_np_unique_path(pixels, mapped):
    """Reading a mask and indexing its colors gives exactly the ID mask, colors and counts of
    np.unique over its pixels; the color table maps and flags unmapped colors exactly like the
    per-label loop, so the unmapped-color message (colors and pixel counts) is unchanged."""
    with tempfile.TemporaryDirectory() as tmp:
        path = save(Path(tmp) / "m.png", pixels, "RGBA" if pixels.shape[2] == 4 else "RGB")
        packed = read_color_mask(path)
    rgb = pixels[..., :3].astype(np.int64)
    expect_packed = rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2]
    if pixels.shape[2] == 4:
        expect_packed[pixels[..., 3] == 0] = 0
    assert packed.dtype == np.int32 and np.array_equal(packed, expect_packed)
    got, expect = index_colors(packed), unique_index(packed)
    for a, b in zip(got, expect):
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    # the first `mapped` palette colors map to categories, every third of them to null (skip)
    by_color = {r << 16 | g << 8 | b: (None if k % 3 == 2 else 3 + k) for k, (r, g, b) in enumerate(PALETTE[:mapped])}
    ids, colors, counts = got
    label_cat, unmapped = look_up_colors(colors, color_table(by_color))
    old_cat, old_unmapped = loop_lookup(colors, by_color)
    assert label_cat == old_cat and unmapped.tolist() == old_unmapped
    if old_unmapped:
        assert (unmapped_message("m.png", colors[unmapped], counts[unmapped], "c.json")
                == unmapped_message("m.png", expect[1][old_unmapped], expect[2][old_unmapped], "c.json"))


def test_index_colors_of_an_empty_mask_is_background_only():
    ids, colors, counts = index_colors(np.zeros((0, 5), np.int32))
    assert ids.shape == (0, 5) and ids.dtype == np.int32
    assert colors.tolist() == [0] and counts.tolist() == [0]


# -- worker processes write the bytes of the serial path -----------------------------------------

def many_masks(folder: Path, n: int = 7) -> Path:
    """n masks with things, stuff, a skipped color, holes and (in two of them) unmapped colors."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    for i in range(n):
        px = canvas(48, 64)
        px[:10] = (0, 0, 200)                                  # stuff
        for color in (GREEN, BLUE, RED, (9, 9, 9)):
            y, x = rng.integers(8, 40), rng.integers(0, 56)
            px[y:y + 8, x:x + 8] = color
            px[y + 3:y + 5, x + 3:x + 5] = 0                   # a hole
        if i in (2, 5):
            px[45, 60:62] = (i, 7, 7)                          # unmapped
        save(folder / f"m{i:02d}.png", px)
    return folder


PAN_SPEC = {"categories": CATEGORIES + [{"id": 20, "name": "sky", "isthing": 0}],
            "colors": {"#00ff00": "houseplant", "#0000ff": "book", "#ff0000": "cup", "#0000c8": "sky", "#090909": None}}


def run_masks2coco(masks: Path, out: Path, jobs: int, caplog, **kw):
    caplog.clear()
    with caplog.at_level("WARNING", logger="blender_coco"):
        try:
            ds = colormask_to_coco(find_mask_files(masks), PAN_SPEC, panoptic=out / "pan", jobs=jobs, **kw)
            ds.write(str(out / "instances.json"))
            result = None
        except UserError as err:
            result = str(err)
    files = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    return result, files, [r.getMessage() for r in caplog.records]


@pytest.mark.parametrize("mode", ["rle", "auto"])
def test_worker_processes_write_the_serial_bytes(tmp_path, caplog, mode):
    masks = many_masks(tmp_path / "masks")
    config = ExportConfig(segmentation=mode, min_area=2)
    serial = run_masks2coco(masks, tmp_path / "serial", 1, caplog, ignore_unmapped=True, config=config)
    pooled = run_masks2coco(masks, tmp_path / "pooled", 2, caplog, ignore_unmapped=True, config=config)
    assert serial[0] is None and len(serial[1]) == 2 + 7  # instances.json, pan/panoptic.json, 7 PNGs
    assert len(serial[2]) == 2 and "skipped: m02.png: color #020707 (2 px)" in serial[2][0]
    assert pooled == serial
    data = json.loads(serial[1]["instances.json"])
    assert len(data["images"]) == 7 and {a["category_id"] for a in data["annotations"]} == {3, 7, 11}


def test_worker_processes_fail_like_the_serial_path(tmp_path, caplog):
    """The same one-line error, and the same files left behind: the panoptic PNGs of the masks
    before the first failing one, none after it (workers convert ahead, but never write)."""
    masks = many_masks(tmp_path / "masks")
    serial = run_masks2coco(masks, tmp_path / "s1", 1, caplog)
    assert serial[0].startswith("m02.png: color #020707 (2 px) is not in colors file; ")
    assert serial[0].endswith("(1 more masks have unmapped colors)")
    assert sorted(serial[1]) == ["pan/panoptic/m00.png", "pan/panoptic/m01.png"]
    assert run_masks2coco(masks, tmp_path / "p1", 2, caplog) == serial
    (masks / "m04.png").write_bytes(b"not a png")
    serial = run_masks2coco(masks, tmp_path / "s2", 1, caplog, ignore_unmapped=True)
    assert "m04.png cannot be read as an image" in serial[0]
    assert sorted(serial[1]) == ["pan/panoptic/m00.png", "pan/panoptic/m01.png", "pan/panoptic/m02.png",
                                 "pan/panoptic/m03.png"]
    assert run_masks2coco(masks, tmp_path / "p2", 2, caplog, ignore_unmapped=True) == serial


def test_few_small_masks_stay_in_process_and_bad_jobs_is_one_line(two_masks, tmp_path):
    from blender_coco.coco.colormask import PARALLEL_MIN_PIXELS, _worker_count, available_cores

    small = find_mask_files(two_masks)
    assert _worker_count(None, small) == 1
    side = int(np.ceil(np.sqrt(PARALLEL_MIN_PIXELS / 2)))
    big = save(tmp_path / "big.png", np.zeros((side, side, 3)))
    assert _worker_count(None, [big, big]) == min(2, available_cores())
    assert _worker_count(3, small) == 2  # never more workers than masks
    colors = write_json(tmp_path / "colors.json", spec())
    proc = cli(str(two_masks), "--colors", str(colors), "--out", str(tmp_path / "o.json"), "--jobs", "0")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == ["blender-coco: error: --jobs must be a positive number of worker processes, got 0"]


# -- property: masks2coco's output passes our own validate ---------------------------------------

@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(color_masks(), st.sampled_from(["auto", "polygon", "rle"]), st.sampled_from([0.0, 0.2, 0.5, 1.0, 2.0, 5.0]),
       st.sampled_from([1, 4]))
def test_property_output_passes_validate(case, mode, tolerance, min_area):
    """Whatever the mask and the export options, blender-coco validate finds no problem in
    what masks2coco wrote, instances and panoptic (with its PNGs)."""
    from blender_coco.coco.validate import validate_coco

    ids, _ = case
    h, w = ids.shape
    rgb = np.zeros((h, w, 3), dtype=np.uint8)
    for k, color in enumerate(PALETTE):
        rgb[ids == k] = color
    names = [c["name"] for c in CATEGORIES]
    colors = {"#%02x%02x%02x" % c: names[k % 3] for k, c in enumerate(PALETTE)}
    config = ExportConfig(segmentation=mode, tolerance=tolerance, min_area=min_area)
    with tempfile.TemporaryDirectory() as tmp:
        path = save(Path(tmp) / "m.png", rgb)
        ds = colormask_to_coco([path], spec(colors=colors), config=config, panoptic=Path(tmp) / "pan.json")
        out = Path(tmp) / "out.json"
        ds.write(str(out))
        problems = [str(p) for p in validate_coco(json.loads(out.read_text()))]
        problems += [f"panoptic: {p}" for p in validate_coco(json.loads((Path(tmp) / "pan.json").read_text()), None,
                                                              Path(tmp) / "pan")]
    assert not problems, problems


def bilevel_png(path: Path, width: int, height: int) -> Path:
    """An all-black 1-bit PNG written by hand (zlib), so that a 20000 x 20000 mask costs 50 KB, not 1.2 GB."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\0" * (1 + (width + 7) // 8)
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(row * height))
                     + chunk(b"IEND", b""))
    return path


def test_a_huge_mask_is_one_line_naming_the_limit_and_its_override(tmp_path):
    """20000 x 20000 is over Pillow's decompression-bomb limit (a traceback before) and our own."""
    colors = write_json(tmp_path / "c.json", spec())
    huge = bilevel_png(ensure(tmp_path / "huge") / "m.png", 20000, 20000)
    r = cli(str(huge), "--colors", str(colors), "--out", str(tmp_path / "o.json"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr == (f"blender-coco: error: mask {huge} is 20000x20000 = 400,000,000 pixels, more than the limit of "
                        "100,000,000 (about 16 bytes of memory a pixel); pass --max-pixels 400000000 if it is right\n")
    small = bilevel_png(ensure(tmp_path / "small") / "m.png", 40, 30)
    r = cli(str(small), "--colors", str(colors), "--out", str(tmp_path / "o.json"), "--max-pixels", "1199")
    assert r.returncode == 2 and "40x30 = 1,200 pixels, more than the limit of 1,199" in r.stderr
    r = cli(str(small), "--colors", str(colors), "--out", str(tmp_path / "o.json"), "--max-pixels", "1200")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "o.json").read_text())["images"][0]["width"] == 40


def test_a_non_utf8_file_name_is_refused_naming_its_bytes(tmp_path):
    """Python holds a non-UTF-8 name as lone surrogates; written to JSON they are no file name other
    tools can read (and preview --html crashed on them). masks2coco refuses them (an image matched
    by --images shares the mask's stem and one of IMAGE_SUFFIXES, so its name is UTF-8 too)."""
    import os

    colors = write_json(tmp_path / "c.json", spec())
    masks = ensure(tmp_path / "masks")
    pixels = canvas()
    pixels[1:3, 1:3] = GREEN
    save(Path(os.fsdecode(bytes(masks) + b"/caf\xe9.png")), pixels)
    r = cli(str(masks), "--colors", str(colors), "--out", str(tmp_path / "o.json"))
    assert r.returncode == 2 and not (tmp_path / "o.json").exists()
    assert r.stderr == (f"blender-coco: error: mask {masks}/caf\\xe9.png: its file name is not UTF-8, so it cannot be a "
                        "COCO file_name; rename it to UTF-8 (e.g. convmv -f latin1 -t utf-8 --notest FILE)\n")
    (masks / "caf\udce9.png").rename(masks / "cafe.png")
    r = cli(str(masks), "--colors", str(colors), "--out", str(tmp_path / "o.json"))
    assert r.returncode == 0, r.stderr

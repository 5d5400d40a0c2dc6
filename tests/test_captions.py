"""Captions: every caption is true of its image (checked against instances.json and stuff.json over
many random frames), grammar (articles, plurals, counts), templates from a user file, determinism."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from blender_coco.config import ExportConfig
from blender_coco.errors import UserError
from blender_coco.coco.captions import CaptionStyle, captions, load_style, style_from_dict
from blender_coco.coco.captions.color_names import color_name
from blender_coco.coco.captions.grammar import article, counted, plural
from blender_coco.coco.scene_facts import FrameFacts, Seen, frame_facts
from blender_coco.coco.export import export_dataset
from blender_coco.coco.validate import validate_coco
from cocotools import load_coco
from test_stuff import make_stuff_ds

REPO = Path(__file__).resolve().parents[1]

# Written out here, not computed by the code under test.
PLURALS = {"box": "boxes", "apple": "apples", "person": "people", "mouse": "mice", "knife": "knives",
           "sheep": "sheep", "umbrella": "umbrellas", "glass": "glasses", "traffic light": "traffic lights"}
NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
           "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12}
ADJ = r"(?:(?:black|white|gray|red|brown|orange|yellow|green|blue|purple|pink|large|small)\s+)*"
STUFF_WORDS = ("floor", "wall", "sky")
TRUNCATED = r"(?:is partly out of frame|is cut off by the edge of the image|extends beyond the frame)"


def mentions(caption: str, singular: str) -> list[tuple[str, str]]:
    """(determiner, noun form) of each mention of a category in a caption ('' = no determiner)."""
    forms = "|".join(sorted({re.escape(singular), re.escape(PLURALS[singular])}, key=len, reverse=True))
    pattern = rf"(?:\b(a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|\d+|the)\s+)?{ADJ}\b({forms})\b"
    return [(m.group(1) or "", m.group(2)) for m in re.finditer(pattern, caption.lower())]


def check_caption(caption: str, counts: dict[str, int], stuff: set[str], boxes: dict[str, list], size) -> None:
    """Fail unless the caption is true of an image with these per-category counts and stuff."""
    for name in PLURALS:
        found = mentions(caption, name)
        if not found:
            continue
        n = counts.get(name, 0)
        assert n > 0, f"{caption!r} names {name!r}, which is not visible"
        counted_total = 0
        for det, form in found:
            if det == "the":
                assert n == 1, f"{caption!r}: 'the {name}' but {n} are visible"
            else:
                assert det, f"{caption!r}: {name!r} mentioned without a count"
                k = NUMBERS[det] if det in NUMBERS else int(det)
                assert form == (name if k == 1 else PLURALS[name]), f"{caption!r}: {det} {form}"
                counted_total += k
        assert counted_total in (0, n), f"{caption!r} counts {counted_total} {name}, {n} visible"
    for word in STUFF_WORDS:
        if re.search(rf"\b{word}\b", caption.lower()):
            assert word in stuff, f"{caption!r} names {word!r}, which is not visible"
    for m in re.finditer(r"\b(an?) ([a-z]+)", caption.lower()):
        assert m.group(1) == ("an" if m.group(2)[0] in "aeiou" else "a"), f"{caption!r}: '{m.group(0)}'"
    # relations and truncation between single objects must hold on the boxes
    names = "|".join(sorted(map(re.escape, PLURALS), key=len, reverse=True))
    low = caption.lower()
    for a, rel, b in re.findall(rf"the {ADJ}({names}) is (to the left of|left of|to the right of|above|below) "
                                rf"the {ADJ}({names})\b", low):
        (ax, ay, aw, ah), (bx, by, bw, bh) = boxes[a][0], boxes[b][0]
        ok = {"to the left of": ax + aw <= bx, "left of": ax + aw <= bx, "to the right of": bx + bw <= ax,
              "above": ay + ah <= by, "below": by + bh <= ay}[rel]
        assert ok, f"{caption!r}: {a} {boxes[a]} is not {rel} {b} {boxes[b]}"
    for a in re.findall(rf"the {ADJ}({names}) {TRUNCATED}", low):
        x, y, w, h = boxes[a][0]
        assert x == 0 or y == 0 or x + w == size[0] or y + h == size[1], f"{caption!r}: {a} {boxes[a]} is not cut"


def truth(ds: Path):
    inst = load_coco(ds / "annotations" / "instances.json")
    stuff = load_coco(ds / "annotations" / "stuff.json")
    caps = load_coco(ds / "annotations" / "captions.json")
    for image_id, img in caps.imgs.items():
        anns = inst.loadAnns(inst.getAnnIds(imgIds=[image_id]))
        counts: dict[str, int] = {}
        boxes: dict[str, list] = {}
        for a in anns:
            name = inst.cats[a["category_id"]]["name"]
            counts[name] = counts.get(name, 0) + 1
            boxes.setdefault(name, []).append(a["bbox"])
        present = {stuff.cats[a["category_id"]]["name"] for a in stuff.loadAnns(stuff.getAnnIds(imgIds=[image_id]))}
        texts = [a["caption"] for a in caps.loadAnns(caps.getAnnIds(imgIds=[image_id]))]
        yield image_id, img, counts, present, boxes, texts


def test_captions_are_true_of_their_images_over_many_random_frames(tmp_path):
    ds = make_stuff_ds(tmp_path, frames=60, seed=11, max_things=7)
    export_dataset(ds, ExportConfig(tasks=("instances", "stuff", "captions")))
    checked = with_objects = 0
    seen_words = set()
    for image_id, img, counts, present, boxes, texts in truth(ds):
        assert len(texts) == 5
        if counts:
            assert len(set(texts)) == 5, texts  # varied wording
            with_objects += 1
        for text in texts:
            check_caption(text, counts, present, boxes, (img["width"], img["height"]))
            assert text[0].isupper() and text.endswith(".")
            seen_words.update(re.findall(r"[a-z]+", text.lower()))
            checked += 1
    assert checked == 300 and with_objects > 40
    # the grammar the check relies on was really exercised
    assert {"people", "mice", "knives", "an", "apple", "umbrella", "left", "frame"} <= seen_words, seen_words
    assert seen_words & {"two", "three", "four"}


def test_captions_json_loads_validates_and_is_deterministic(tmp_path):
    ds = make_stuff_ds(tmp_path, frames=4, seed=2)
    cfg = ExportConfig(tasks=("instances", "stuff", "captions"), captions_per_image=3)
    export_dataset(ds, cfg)
    path = ds / "annotations" / "captions.json"
    data = json.loads(path.read_text())
    assert sorted(data) == ["annotations", "images", "info", "licenses"]  # no categories
    assert all(sorted(a) == ["caption", "id", "image_id"] for a in data["annotations"])
    assert [a["id"] for a in data["annotations"]] == list(range(1, 13))
    assert [a["image_id"] for a in data["annotations"]] == [i for i in (1, 2, 3, 4) for _ in range(3)]
    assert validate_coco(data) == []
    first = path.read_bytes()
    export_dataset(ds, cfg)
    assert path.read_bytes() == first
    export_dataset(ds, ExportConfig(tasks=("captions",), captions_per_image=3), jobs=2)
    assert path.read_bytes() == first  # whatever else is written, and however many processes


def test_a_new_seed_gives_new_wording(tmp_path):
    a = make_stuff_ds(tmp_path / "a", frames=3, seed=4)
    export_dataset(a, ExportConfig(tasks=("captions",)))
    b = make_stuff_ds(tmp_path / "b", frames=3, seed=4)
    for p in (b / "records").glob("*.json"):  # same frames, another seed
        rec = json.loads(p.read_text())
        rec["seed"] = 5
        p.write_text(json.dumps(rec))
    export_dataset(b, ExportConfig(tasks=("captions",)))
    ca = json.loads((a / "annotations" / "captions.json").read_text())["annotations"]
    cb = json.loads((b / "annotations" / "captions.json").read_text())["annotations"]
    assert [x["caption"] for x in ca] != [x["caption"] for x in cb]


@pytest.mark.parametrize("n, noun, want", [
    (1, "box", "a box"), (1, "apple", "an apple"), (2, "box", "two boxes"), (3, "person", "three people"),
    (1, "umbrella", "an umbrella"), (1, "unicorn", "a unicorn"), (1, "hourglass", "an hourglass"),
    (1, "SUV", "an SUV"), (1, "TV", "a TV"), (1, "one-way sign", "a one-way sign"), (2, "mouse", "two mice"),
    (2, "knife", "two knives"), (4, "sheep", "four sheep"), (2, "traffic light", "two traffic lights"),
    (2, "cup of tea", "two cups of tea"), (2, "bus", "two buses"), (2, "cherry", "two cherries"),
    (2, "toy", "two toys"), (2, "snowman", "two snowmen"), (2, "human", "two humans"), (13, "box", "13 boxes"),
    (2, "glass", "two glasses"), (2, "child", "two children"), (5, "foot", "five feet"),
])
def test_counts_articles_and_plurals(n, noun, want):
    assert counted(n, noun) == want


def test_adjectives_take_the_article_and_overrides_win():
    assert counted(1, "box", ["orange"]) == "an orange box"
    assert counted(1, "apple", ["red"]) == "a red apple"
    style = CaptionStyle(plurals={"cactus": "cactuses"}, articles={"ukulele": "an"})
    assert counted(2, "cactus") == "two cacti" and counted(2, "cactus", style=style) == "two cactuses"
    assert counted(1, "ukulele") == "a ukulele" and counted(1, "ukulele", style=style) == "an ukulele"
    assert plural("Person") == "People" and article("European") == "a"


@pytest.mark.parametrize("rgb, name", [
    ((1, 0, 0), "red"), ((0, 0, 1), "blue"), ((1, 1, 1), "white"), ((0, 0, 0), "black"), ((0.5, 0.5, 0.5), "gray"),
    ((1, 0.5, 0), "orange"), ((0.4, 0.2, 0.05), "brown"), ((1, 1, 0), "yellow"), ((0, 1, 0), "green"),
    ((0.5, 0, 1), "purple"), ((1, 0.4, 0.7), "pink"), (None, None)])
def test_color_names(rgb, name):
    assert color_name(rgb) == name


def test_occlusion_and_depth_give_true_in_front_relations():
    """A near box overlapping a far ball: the ball's outline borders nearer box pixels."""
    h, w = 40, 60
    mask = np.zeros((h, w), np.uint16)
    depth = np.full((h, w), 1e10, np.float32)
    mask[10:30, 25:50], depth[10:30, 25:50] = 2, 8.0  # ball, far
    mask[15:35, 10:35], depth[15:35, 10:35] = 1, 4.0  # box, near, hides part of the ball
    mask[0:5, 0:5], depth[0:5, 0:5] = 3, 4.0          # a far-away small cup, touching the border
    things = [(1, {"category_id": 1, "area": int((mask == 1).sum()), "bbox": [10, 15, 25, 20]}),
              (2, {"category_id": 2, "area": int((mask == 2).sum()), "bbox": [25, 10, 25, 20]}),
              (3, {"category_id": 3, "area": 25, "bbox": [0, 0, 5, 5]})]
    facts = frame_facts(mask, depth, things, {1: "box", 2: "ball", 3: "cup"}, {}, (), 0.15)
    box, ball, cup = facts.objects
    assert ball.occluders == (0,) and box.occluders == () and cup.occluders == ()
    assert box.depth == 4.0 and ball.depth == 8.0 and cup.truncated and not box.truncated
    said = [c for seed in range(40) for c in captions(facts, 5, np.random.default_rng(seed))]
    front = [c for c in said if "front of" in c or "hidden behind" in c or "blocks the view" in c]
    assert front and all(re.search(r"box is in front of the ball|ball is partly hidden behind the box|"
                                   r"box partly blocks the view of the ball", c.lower()) for c in front)
    assert not any(re.search(r"(ball|cup) is in front of", c.lower()) for c in said)
    assert any("cup" in c and ("out of frame" in c or "edge of the image" in c or "beyond the frame" in c) for c in said)


def test_unknown_depth_claims_no_occlusion():
    facts = FrameFacts(60, 40, (Seen("box", (10, 10, 5, 5), 25), Seen("ball", (30, 10, 5, 5), 25)), ())
    said = [c for seed in range(30) for c in captions(facts, 5, np.random.default_rng(seed))]
    assert not any("hidden" in c or "front of" in c or "occluded" in c for c in said)
    assert any("box is to the left of the ball" in c.lower() or "ball is to the right of the box" in c.lower()
               or "box is left of the ball" in c.lower() for c in said)


def test_user_templates_from_toml_and_json(tmp_path):
    toml = tmp_path / "t.toml"
    toml.write_text('templates = ["Look: {objects}.", "{Count} {context}."]\n'
                    'empty_templates = ["Nothing here."]\n[plurals]\nbox = "boxen"\n')
    style = load_style(toml)
    assert style.templates == ("Look: {objects}.", "{Count} {context}.") and style.plurals == {"box": "boxen"}
    js = tmp_path / "t.json"
    js.write_text(json.dumps({"extra_templates": ["Behold {main}."], "articles": {"ukulele": "an"}}))
    assert load_style(js).templates[-1] == "Behold {main}." and len(load_style(js).templates) > 10
    facts = FrameFacts(60, 40, (Seen("box", (10, 10, 5, 5), 25), Seen("box", (30, 10, 5, 5), 25)), (("floor", 900),))
    got = captions(facts, 5, np.random.default_rng(0), style)
    assert sorted(set(got)) == ["Look: two boxen.", "Two objects on the floor."]  # too few templates: repeats
    assert captions(FrameFacts(60, 40), 2, np.random.default_rng(0), style) == ["Nothing here."] * 2


@pytest.mark.parametrize("obj, text", [
    ({"templates": ["{Objects} near {place}."]}, "unknown placeholder {place}"),
    ({"templates": ["{Objects} {."]}, "unmatched brace"),
    ({"templates": []}, "non-empty list"),
    ({"template": ["x"]}, "unknown key 'template'"),
    ({"articles": {"x": "the"}}, "must be \"a\" or \"an\""),
    ({"prepositions": {"stage": "on stage"}}, "must contain {stuff}"),
])
def test_bad_template_files_are_one_line_errors_naming_the_file(obj, text):
    with pytest.raises(UserError) as err:
        style_from_dict(obj, "my_templates.toml")
    assert text in str(err.value) and "my_templates.toml" in str(err.value) and "\n" not in str(err.value)


def test_cli_caption_templates(tmp_path):
    ds = make_stuff_ds(tmp_path, frames=3, seed=8)
    t = tmp_path / "t.toml"
    t.write_text('templates = ["Here: {objects}.", "{Objects}, seen {context}."]\nempty_templates = ["Empty."]\n')
    r = subprocess.run([sys.executable, "-m", "blender_coco", "export", str(ds), "--tasks", "captions",
                        "--captions-per-image", "2", "--caption-templates", str(t)], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    caps = [a["caption"] for a in json.loads((ds / "annotations" / "captions.json").read_text())["annotations"]]
    assert len(caps) == 6 and all(re.fullmatch(r"Here: .+\.|.+, seen on the floor\.|Empty\.", c) for c in caps), caps
    t.write_text('templates = ["{nope}"]\n')
    r = subprocess.run([sys.executable, "-m", "blender_coco", "export", str(ds), "--tasks", "captions",
                        "--caption-templates", str(t)], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "{nope}" in r.stderr

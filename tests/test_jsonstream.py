"""The streamed COCO reader gives what json.loads gives, whatever the buffer size; errors are
one line with json's own line and column; streamed validation equals loaded validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from blender_coco.coco import jsonstream
from blender_coco.coco.jsonstream import iter_coco
from blender_coco.coco.validate import validate_coco, validate_file
from blender_coco.errors import UserError
from shared_assets import ASSETS, needs_assets

DOCS = [
    {"info": {"a": [1, 2.5, None, True, False]}, "images": [{"id": 1, "w": 1e308}],
     "annotations": [{"id": 1, "x": "é\"\\n", "seg": [[1.25, 2, 3]]}, 7, None, True, [], {}], "categories": []},
    {"annotations": []},
    {"annotations": {"not": "a list"}, "images": 3},
    {},
    [1, 2, {"annotations": [1]}],
    "text",
    12345678901234567890,
    {"annotations": [float("nan"), float("inf"), -float("inf"), 0.5, -0.0, 1e-300], "categories": [{"id": 1}]},
]


def _rebuild(path: Path) -> object:
    top: dict = {}
    for what, key, value in iter_coco(path):
        if what == "top":
            return value
        if what == "annotations":
            top["annotations"] = []
        elif what == "annotation":
            assert key == len(top["annotations"])
            top["annotations"].append(value)
        else:
            top[key] = value
    return top


@pytest.mark.parametrize("chunk", [1, 3, 7, 1 << 23])
@pytest.mark.parametrize("indent", [None, 2])
def test_streamed_values_equal_json_loads(tmp_path, monkeypatch, chunk, indent):
    monkeypatch.setattr(jsonstream, "CHUNK", chunk)
    for i, doc in enumerate(DOCS):
        path = tmp_path / f"{i}.json"
        text = json.dumps(doc, indent=indent)
        path.write_bytes(("\ufeff" if i == 1 else "").encode() + text.encode())  # one with a UTF-8 BOM
        got, want = _rebuild(path), json.loads(text)
        assert json.dumps(got, sort_keys=True) == json.dumps(want, sort_keys=True), (chunk, doc)


@pytest.mark.parametrize("chunk", [2, 1 << 23])
@pytest.mark.parametrize("text", [
    '{"images": [], "annotations": [{"id": 1}, {"id": 2}',       # cut short
    '{"images": [], "annotations": [{"id": 1} {"id": 2}]}',      # no comma
    '{"images": [],\n "annotations": [1, 2]}\n x',               # trailing data
    '{"images": [],\n\n  "annotations": [tru]}',                 # a broken literal
    '{"images": [1, 2,]}',                                       # trailing comma
    '{images: []}',
    '',
])
def test_malformed_json_is_one_line_with_jsons_position(tmp_path, monkeypatch, chunk, text):
    monkeypatch.setattr(jsonstream, "CHUNK", chunk)
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(json.JSONDecodeError) as want:
        json.loads(text)
    with pytest.raises(UserError) as got:
        list(iter_coco(path))
    msg = str(got.value)
    assert msg.startswith(f"COCO file {path} is not valid JSON (line {want.value.lineno}, column {want.value.colno}:"), \
        (msg, want.value)
    assert "\n" not in msg


def test_unreadable_files_are_one_line(tmp_path):
    for path, says in ((tmp_path / "missing.json", "does not exist"), (tmp_path, "is a folder")):
        with pytest.raises(UserError, match=says):
            list(iter_coco(path))
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"images": [{"file_name": "caf\xe9"}]}')
    with pytest.raises(UserError, match="is not UTF-8 text"):
        list(iter_coco(latin))


def _coco_files() -> list[Path]:
    root = ASSETS / "coco"
    return sorted(root.rglob("*.json")) if root.is_dir() else []


@needs_assets("coco")
@pytest.mark.parametrize("path", _coco_files(), ids=lambda p: str(p.relative_to(ASSETS)))
def test_streamed_validation_equals_loaded_validation_on_real_files(path, monkeypatch):
    monkeypatch.setattr(jsonstream, "CHUNK", 4096)  # many refills even for small files
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        pytest.skip("not a JSON file")
    kind = "stuff" if path.name.startswith("stuff") else None
    assert validate_file(path, kind=kind).problems == validate_coco(data, kind=kind)


def test_categories_and_images_after_the_annotations_give_the_same_problems(tmp_path):
    """The stream defers the category checks and holds annotations read before the images."""
    images = [{"id": 1, "file_name": "a.png", "width": 20, "height": 10}]
    categories = [{"id": 1, "name": "a", "keypoints": ["p", "q"]}, {"id": 2, "name": "b"}]
    anns = [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [0, 0, 30, 5], "area": 4, "iscrowd": 0,
             "segmentation": [[0, 0, 2, 0, 2, 2, 0, 2]]},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "area": 1, "iscrowd": 0,
             "keypoints": [1, 1, 2], "num_keypoints": 1},
            {"id": 2, "image_id": 9, "category_id": 2}]
    for order in (("images", "categories", "annotations"), ("annotations", "categories", "images"),
                  ("images", "annotations", "categories")):
        doc = {"info": {}, **{k: {"images": images, "categories": categories, "annotations": anns}[k] for k in order}}
        path = tmp_path / "x.json"
        path.write_text(json.dumps(doc))
        got = [str(p) for p in validate_file(path).problems]
        assert got == [str(p) for p in validate_coco(json.loads(path.read_text()))], order
        assert got == [
            "annotation 2: duplicate id: used 2 times (annotations[1], annotations[2]); ids must be unique",
            "annotation 1 (image 1): category_id 3 is not a category in this file",
            "annotation 1 (image 1): bbox [0, 0, 30, 5] ends at (30, 5), past the image's 20x10",
            "annotation 2 (image 1): keypoints has 3 values; category 1 has 2 keypoints, so 3*2 = 6",
        ], order

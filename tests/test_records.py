"""The frame-record contract (blender_coco.records) without Blender: the sidecar's exact
JSON, file names, completeness checks and what a new, resumed, overwriting or sharded
run does with the frames already in its folder. Frames are tiny fake files: a valid
PNG written with PIL, an EXR that is its magic number and padding; nothing renders."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from blender_coco.commands._common import flag
from blender_coco.errors import UserError
from blender_coco.files import atomic_path, write_json_atomic
from blender_coco.records.layout import FRAME_FILE, FRAME_NAME, TEMP_FILE, image_name, record_paths
from blender_coco.records.resume import prepare_out_dir
from blender_coco.records.scan import check_frame, file_is_complete, list_records
from blender_coco.records.sidecar import KEYS, Camera, Instance, Sidecar, load_record

ROOT = Path(__file__).resolve().parents[1]

# Sidecars written by the render stage (bpy 5.0): the demo scene (stuff, background,
# colours, a randomization config from the frame hook) and a rig with keypoints seen
# by an orthographic camera. The bytes are what write_json_atomic wrote.
DEMO = (b'{"format":"blender-coco-record","version":1,"index":1,"scene_frame":2,"seed":0,"image":"000001.png",'
        b'"passes":"000001.exr","width":64,"height":48,"blender_version":"5.0.1","view_layer":"ViewLayer",'
        b'"camera":{"name":"Camera","type":"PERSP","matrix_world":[[1.0,0.0,0.0,0.0],[0.0,0.3110392093658447,'
        b'-0.9503970742225647,-9.5],[0.0,0.9503970742225647,0.3110392093658447,4.199999809265137],'
        b'[0.0,0.0,0.0,1.0]]},"categories":[{"name":"ball","supercategory":"toy"},{"name":"box","supercategory":'
        b'"container"},{"name":"cone"},{"name":"fence"},{"name":"floor","isthing":false,"supercategory":"ground"},'
        b'{"name":"sky","isthing":false},{"name":"table","supercategory":"furniture"}],"instances":[{"pass_index":1,'
        b'"object":"Ball","category":"ball","color":[0.257,0.3867,0.7179]},{"pass_index":2,"object":"Ball.001",'
        b'"category":"ball","color":[0.257,0.3867,0.7179]},{"pass_index":3,"object":"Box.001","category":"box",'
        b'"color":[0.7505,0.3418,0.2195]},{"pass_index":4,"object":"Box.002","category":"box","color":[0.7505,'
        b'0.3418,0.2195]},{"pass_index":5,"object":"Cone","category":"cone","color":[0.7858,0.6531,0.1621]},'
        b'{"pass_index":6,"object":"Fence","category":"fence","color":[0.4361,0.8041,0.5215]},{"pass_index":7,'
        b'"object":"Ground","category":"floor","color":[0.7354,0.7354,0.7354]},{"pass_index":8,"object":"Table",'
        b'"category":"table","color":[0.5688,0.4668,0.308]}],"background":"sky","randomize":{"world":{"hue":'
        b'[0.5,0.65],"saturation":[0.05,0.4],"value":[0.3,0.8],"strength":[0.6,1.3]}}}')
RIG = (b'{"format":"blender-coco-record","version":1,"index":0,"scene_frame":1,"seed":0,"image":"000000.png",'
       b'"passes":"000000.exr","width":96,"height":72,"blender_version":"5.0.1","view_layer":"ViewLayer",'
       b'"camera":{"name":"Camera","type":"ORTHO","matrix_world":[[1.0,0.0,0.0,0.0],[0.0,-4.371138828673793e-08,'
       b'-1.0,-20.0],[0.0,1.0,-4.371138828673793e-08,0.0],[0.0,0.0,0.0,1.0]]},"categories":[{"name":"tube",'
       b'"keypoints":["base","mid"],"skeleton":[[1,2]]}],"instances":[{"pass_index":1,"object":"Armature",'
       b'"category":"tube","color":[0.5654,0.821,0.4966],"keypoints":[[47.99999918416211,61.08198881149292,20.0],'
       b'[48.16786888986826,35.959524657111615,20.0]]}]}')


@contextlib.contextmanager
def cli_error(match: str):
    """Expect a UserError whose message, as the CLI says it (settings as flags), matches ``match``."""
    with pytest.raises(UserError) as info:
        yield info
    assert re.search(match, info.value.render(flag)), info.value.render(flag)


# -- the sidecar -----------------------------------------------------------------


@pytest.mark.parametrize("raw", [DEMO, RIG], ids=["demo", "rig"])
def test_a_real_sidecar_round_trips_to_the_same_bytes(tmp_path, raw):
    data = json.loads(raw)
    sidecar = Sidecar.from_json(data)
    assert sidecar.to_json() == data
    assert list(sidecar.to_json()) == list(data)  # key order too
    write_json_atomic(tmp_path / "s.json", sidecar.to_json())
    assert (tmp_path / "s.json").read_bytes() == raw


def test_the_sidecar_the_render_stage_builds_gives_the_same_bytes(tmp_path):
    """Typed parts as pipeline._frame_sidecar fills them (tuples, floats) -> the render stage's bytes."""
    sidecar = Sidecar(
        index=0, scene_frame=1, seed=0, image=image_name(0, "PNG"), passes="000000.exr", width=96, height=72,
        blender_version="5.0.1", view_layer="ViewLayer",
        camera=Camera("Camera", "ORTHO", ((1.0, 0.0, 0.0, 0.0), (0.0, -4.371138828673793e-08, -1.0, -20.0),
                                          (0.0, 1.0, -4.371138828673793e-08, 0.0), (0.0, 0.0, 0.0, 1.0))),
        categories=({"name": "tube", "keypoints": ["base", "mid"], "skeleton": [[1, 2]]},),
        instances=(Instance(1, "tube", object="Armature", color=(0.5654, 0.821, 0.4966),
                            keypoints=((47.99999918416211, 61.08198881149292, 20.0),
                                       (48.16786888986826, 35.959524657111615, 20.0))),),
    )
    write_json_atomic(tmp_path / "s.json", sidecar.to_json())
    assert (tmp_path / "s.json").read_bytes() == RIG


def test_background_only_when_set_and_hook_fields_after_the_contract():
    base = Sidecar.from_json(json.loads(RIG))
    assert "background" not in base.to_json()
    keys = list(replace(base, background="sky", extra={"randomize": {"a": 1}, "note": 2}).to_json())
    assert keys == [k for k in KEYS if k != "background"][:14] + ["background", "randomize", "note"]
    with pytest.raises(ValueError, match="a frame hook cannot replace the sidecar field 'seed'"):
        replace(base, extra={"seed": 3})


@pytest.mark.parametrize("change, expect", [
    (lambda d: d.update(format="something-else"), "s.json is not a blender-coco frame record; delete it"),
    (lambda d: d.update(version=2), "s.json: record version 2 is not supported (expected 1)"),
    (lambda d: d.pop("index"), "s.json: malformed frame record (KeyError: 'index')"),
    (lambda d: d.update(width="wide"), "s.json: malformed frame record (ValueError"),
    (lambda d: d["instances"][0].pop("category"), "s.json: malformed frame record (KeyError: 'category')"),
    (lambda d: d["categories"].append({"id": 3}), "s.json: malformed frame record (KeyError: 'name')"),
    # keypoints: each [x, y, depth or null], one per keypoint name of the category (export would raise ValueError)
    (lambda d: d["instances"][0]["keypoints"][0].pop(), "a keypoint must be [x, y, depth]"),
    (lambda d: d["instances"][0]["keypoints"][1].__setitem__(0, "48"), "a keypoint must be [x, y, depth]"),
    (lambda d: d["instances"][0].update(keypoints={"base": [1, 2, 3]}), "instance keypoints must be a list"),
    (lambda d: d["instances"][0]["keypoints"].pop(), "instance 1 ('tube') has 1 keypoints, its category names 2"),
    (lambda d: d["categories"][0].pop("keypoints"), "instance 1 ('tube') has 2 keypoints, its category names 0"),
])
def test_a_bad_sidecar_is_one_line_naming_the_file(tmp_path, change, expect):
    data = json.loads(RIG)
    change(data)
    (tmp_path / "s.json").write_text(json.dumps(data))
    with pytest.raises(UserError) as err:
        load_record(tmp_path / "s.json")
    assert expect in str(err.value) and "\n" not in str(err.value)


def test_a_record_reads_as_the_exporter_expects(tmp_path):
    """FrameRecord: the sidecar's values, instance entries and the whole sidecar as JSON objects."""
    (tmp_path / "000001.json").write_bytes(DEMO)
    rec = load_record(tmp_path / "000001.json")
    assert (rec.index, rec.image, rec.width, rec.height, rec.seed) == (1, "000001.png", 64, 48, 0)
    assert rec.exr_path == tmp_path / "000001.exr"
    assert rec.raw == json.loads(DEMO) and rec.instances == tuple(json.loads(DEMO)["instances"])
    assert rec.categories[4] == {"name": "floor", "isthing": False, "supercategory": "ground"}
    assert rec.sidecar.background == "sky" and rec.sidecar.extra == {"randomize": json.loads(DEMO)["randomize"]}
    # what the exporter's tests write by hand (no camera type, an instance without its object) still reads
    lean = {"format": "blender-coco-record", "version": 1, "index": 0, "image": "000000.png",
            "passes": "000000.exr", "width": 4, "height": 3, "camera": {"name": "Camera"},
            "instances": [{"pass_index": 1, "category": "box"}]}
    assert Sidecar.from_json(lean).to_json() == {**lean, "seed": 0, "categories": []}


def test_the_package_imports_without_numpy_or_bpy():
    """A stock Blender's Python (no numpy) imports the contract; only read_passes needs numpy."""
    code = ("import sys; sys.modules['numpy'] = None; sys.modules['bpy'] = None\n"
            "import blender_coco.records.layout, blender_coco.records.sidecar, blender_coco.records.scan\n"
            "import blender_coco.records.resume, blender_coco.records.passes, blender_coco.coco.export_result\n"
            "import blender_coco.coco.merge\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr


# -- names and completeness ------------------------------------------------------


def test_file_names_and_the_temp_names_of_atomic_writes(tmp_path):
    assert record_paths(tmp_path, 7, "JPEG") == (tmp_path / "images" / "000007.jpg",
                                                 tmp_path / "records" / "000007.exr",
                                                 tmp_path / "records" / "000007.json")
    assert image_name(1234567, "PNG") == "1234567.png"
    with atomic_path(tmp_path / "records" / "000007.exr") as tmp:
        assert TEMP_FILE.match(tmp.name).groups() == ("000007", "exr")
        assert not FRAME_FILE.match(tmp.name)
        tmp.write_bytes(b"")
    assert FRAME_FILE.match("000007.json").groups() == ("000007", "json")
    assert not FRAME_FILE.match("00007.json") and not FRAME_FILE.match("000007.webp")
    assert FRAME_NAME.match("000012.jpeg").groups() == ("000012", ".jpeg")


def _png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 3), (200, 10, 10)).save(path)


def _exr(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x76\x2f\x31\x01" + bytes(96))


def test_whole_and_truncated_files(tmp_path):
    _png(tmp_path / "a.png")
    Image.new("RGB", (4, 3)).save(tmp_path / "a.jpg")
    _exr(tmp_path / "a.exr")
    for name in ("a.png", "a.jpg", "a.exr"):
        assert file_is_complete(tmp_path / name)
        whole = (tmp_path / name).read_bytes()
        (tmp_path / ("cut_" + name)).write_bytes(whole[:len(whole) // 2] if name != "a.exr" else whole[:40])
        assert not file_is_complete(tmp_path / ("cut_" + name))
    (tmp_path / "junk.png").write_bytes(b"not a png" * 20)
    assert not file_is_complete(tmp_path / "junk.png")
    assert not file_is_complete(tmp_path / "missing.exr")


# -- what a run does with the frames already in its folder -------------------------


def frame(out: Path, index: int, *, fmt: str = "PNG", seed: int = 0, width: int = 4, height: int = 3,
          randomize=None, sidecar: bool = True) -> tuple[Path, Path, Path]:
    """Write a complete fake frame (image, EXR, sidecar) as the render stage would."""
    image, exr, json_path = record_paths(out, index, fmt)
    if fmt == "PNG":
        _png(image)
    else:
        image.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (width, height)).save(image, "JPEG")
    _exr(exr)
    if sidecar:
        extra = {} if randomize is None else {"randomize": randomize}
        write_json_atomic(json_path, Sidecar(index=index, image=image.name, passes=exr.name, width=width,
                                             height=height, seed=seed, extra=extra).to_json())
    return image, exr, json_path


def expect(seed=0, width=4, height=3, randomize=None) -> dict:
    """The run-wide fields, as RenderJob._expected_record gives them."""
    return {"seed": seed, "width": width, "height": height, "randomize": randomize}


def files(out: Path) -> list[str]:
    return sorted(f"{p.parent.name}/{p.name}" for p in out.rglob("*") if p.is_file())


def test_a_new_run_in_an_empty_folder_creates_it(tmp_path):
    assert prepare_out_dir(tmp_path / "ds", 3, "PNG", expect=expect()) == set()
    assert (tmp_path / "ds" / "images").is_dir() and (tmp_path / "ds" / "records").is_dir()
    assert list_records(tmp_path / "ds") == []


def test_a_new_run_refuses_a_folder_with_frames(tmp_path):
    frame(tmp_path, 1)
    before = files(tmp_path)
    with cli_error(r"already holds 1 rendered frame\(s\) \(e\.g\. records/000001\.json\); "
                                        r"pass --resume .* --overwrite .* or choose a new --out"):
        prepare_out_dir(tmp_path, 3, "PNG", expect=expect())
    frame(tmp_path, 5)  # beyond --frames 3: also a finished run's frame
    with cli_error(r"already holds 2 rendered frame\(s\)"):
        prepare_out_dir(tmp_path, 3, "PNG", expect=expect())
    assert set(before) <= set(files(tmp_path))


def test_resume_keeps_complete_frames_and_redoes_the_rest(tmp_path, caplog):
    out = tmp_path
    for i in range(7):
        frame(out, i)
    image1, _, _ = record_paths(out, 1, "PNG")
    image1.write_bytes(image1.read_bytes()[:-20])                 # 1: truncated PNG
    _, exr2, _ = record_paths(out, 2, "PNG")
    exr2.write_bytes(exr2.read_bytes()[:30])                      # 2: truncated EXR
    (out / "records" / "000003.json").write_text("{ broken")     # 3: sidecar does not parse
    data = json.loads((out / "records" / "000004.json").read_text())
    write_json_atomic(out / "records" / "000004.json", dict(data, image="000009.png"))  # 4: names other files
    os.remove(record_paths(out, 5, "PNG")[0])                     # 5: image missing
    (out / "records" / ".000006.exr.4242.exr.tmp").write_bytes(b"half")   # 6 complete, a temp file beside it
    (out / "images" / ".000000.png.99.png.tmp").write_bytes(b"half")
    with caplog.at_level(logging.INFO, logger="blender_coco"):
        kept = prepare_out_dir(out, 7, "PNG", mode="resume", expect=expect())
    assert kept == {0, 6}
    assert files(out) == ["images/000000.png", "images/000006.png", "records/000000.exr", "records/000000.json",
                          "records/000006.exr", "records/000006.json"]
    for index, why in [(1, "images/000001.png is missing or incomplete"),
                       (2, "records/000002.exr is missing or incomplete"), (3, "its sidecar does not parse"),
                       (4, "its sidecar names other files"), (5, "images/000005.png is missing or incomplete")]:
        assert f"frame {index} is incomplete ({why}): rendering it again" in caplog.text
    assert "resuming: 2 of 7 frame(s) already complete" in caplog.text


def test_resume_drops_images_of_the_other_format_and_sidecar_less_files(tmp_path):
    frame(tmp_path, 0, fmt="JPEG")
    _png(tmp_path / "images" / "000000.png")  # an earlier PNG run's image of the same frame
    frame(tmp_path, 1, sidecar=False)          # killed before its sidecar
    assert prepare_out_dir(tmp_path, 2, "JPEG", mode="resume", expect=expect()) == {0}
    assert files(tmp_path) == ["images/000000.jpg", "records/000000.exr", "records/000000.json"]
    assert check_frame(tmp_path, 0, "JPEG", tmp_path / "records" / "000000.json") is None


def test_resume_refuses_frames_beyond_the_run_and_other_settings(tmp_path):
    frame(tmp_path, 0)
    frame(tmp_path, 4)
    with cli_error(r"holds frames beyond --frames 3 \(e\.g\. records/000004\.json\); resume "
                                        "with the --frames of the interrupted run, or --overwrite"):
        prepare_out_dir(tmp_path, 3, "PNG", mode="resume", expect=expect())
    with cli_error(r"^cannot resume: records/000000\.json was rendered with width 4 "
                                        r"\(this run: 8\); resume with the settings of the interrupted run, or "
                                        r"--overwrite$"):
        prepare_out_dir(tmp_path, 5, "PNG", mode="resume", expect=expect(width=8))
    assert files(tmp_path) == ["images/000000.png", "images/000004.png", "records/000000.exr", "records/000000.json",
                               "records/000004.exr", "records/000004.json"]


@pytest.mark.parametrize("had, now, why", [
    (None, {"camera": 1}, "no randomization (this run: its --config or the scene's coco_randomize)"),
    ({"camera": 1}, None, "a randomization config (this run: none)"),
    ({"camera": 1}, {"camera": 2}, "another randomization config (this run: its --config or the scene's "
                                   "coco_randomize)"),
])
def test_resume_refuses_another_randomization(tmp_path, had, now, why):
    frame(tmp_path, 0, randomize=had)
    with pytest.raises(UserError) as err:
        prepare_out_dir(tmp_path, 2, "PNG", mode="resume", expect=expect(randomize=now))
    assert err.value.render(flag).startswith(f"cannot resume: records/000000.json was rendered with {why}; ")


def test_overwrite_removes_only_this_runs_frames(tmp_path, caplog):
    for i in range(4):
        frame(tmp_path, i)
    (tmp_path / "images" / "notes.txt").write_text("mine")
    (tmp_path / "records" / "000001.json.bak").write_text("mine")
    with caplog.at_level(logging.INFO, logger="blender_coco"):
        assert prepare_out_dir(tmp_path, 2, "PNG", mode="overwrite", expect=expect(seed=9)) == set()
    assert files(tmp_path) == ["images/notes.txt", "records/000001.json.bak"]  # frames 2, 3: beyond, also gone
    assert "removing 12 frame file(s) of an earlier run" in caplog.text


def test_shards_sharing_a_folder_never_touch_each_others_files(tmp_path):
    # shard 1/2 of a 6-frame run has rendered frames 1 and 3 (5 is half-written)
    theirs = [*frame(tmp_path, 1), *frame(tmp_path, 3), *frame(tmp_path, 5, sidecar=False)[:2]]
    (tmp_path / "records" / ".000005.json.77.json.tmp").write_bytes(b"{")
    theirs.append(tmp_path / "records" / ".000005.json.77.json.tmp")
    snapshot = {p: p.read_bytes() for p in theirs}
    share = range(0, 6, 2)
    assert prepare_out_dir(tmp_path, 6, "PNG", share, "new", expect()) == set()
    frame(tmp_path, 0)
    frame(tmp_path, 2, sidecar=False)
    assert prepare_out_dir(tmp_path, 6, "PNG", share, "resume", expect()) == {0}
    assert not record_paths(tmp_path, 2, "PNG")[0].exists()  # our own half frame is redone
    assert prepare_out_dir(tmp_path, 6, "PNG", share, "overwrite", expect()) == set()
    assert not record_paths(tmp_path, 0, "PNG")[2].exists()
    assert {p: p.read_bytes() for p in theirs} == snapshot
    with cli_error(r"already holds 2 rendered frame\(s\) \(e\.g\. records/000001\.json\)"):
        prepare_out_dir(tmp_path, 6, "PNG", range(1, 6, 2), "new", expect())  # their own frames: refused


def test_a_shard_of_another_run_is_refused(tmp_path):
    frame(tmp_path, 1, seed=1)
    with cli_error(r"^.* holds frames of another run \(records/000001\.json has seed 1 \(this "
                                        r"run: 2\)\); use the same settings as the other shards, or choose a new "
                                        r"--out$"):
        prepare_out_dir(tmp_path, 4, "PNG", range(0, 4, 2), "new", expect(seed=2))
    with cli_error(r"records/000001\.json has height 3 \(this run: 30\)"):
        prepare_out_dir(tmp_path, 4, "PNG", range(0, 4, 2), "resume", expect(height=30, seed=1))
    assert prepare_out_dir(tmp_path, 4, "PNG", range(0, 4, 2), "new", expect(seed=1)) == set()  # same run: fine
    assert prepare_out_dir(tmp_path, 4, "PNG", range(0, 4, 2), "overwrite", expect(seed=7)) == set()
    assert record_paths(tmp_path, 1, "PNG")[2].exists()

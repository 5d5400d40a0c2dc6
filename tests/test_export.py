"""Export stage on synthetic frame records (EXR written with OpenEXR, no Blender):
both Blender pass layouts, COCO loading and self-evaluation, clean errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import OpenEXR
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blender_coco.cli import build_parser
from blender_coco.blender.handoff import export_command, run_export
from blender_coco.commands.export import config_from_args as export_command_config
from blender_coco.config import SEGMENTATION_MODES, TASKS, ExportConfig
from blender_coco.errors import UserError
from blender_coco.coco.export import export_dataset
from blender_coco.records.passes import read_passes
from cocotools import decode, load_coco, self_eval


def write_exr(path: Path, mask: np.ndarray, depth: np.ndarray, layout: str) -> None:
    idx = mask.astype(np.float32)
    if layout == "blender34":  # single part, IndexOB
        header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
        OpenEXR.File(header, {"ViewLayer.IndexOB.X": idx, "ViewLayer.Depth.Z": depth}).write(str(path))
    else:  # Blender 5.0: one part per pass, "Object Index"
        parts = [OpenEXR.Part({"type": OpenEXR.scanlineimage}, {"ViewLayer.Object Index.X": idx}, "ViewLayer.Object Index"),
                 OpenEXR.Part({"type": OpenEXR.scanlineimage}, {"ViewLayer.Depth.Z": depth}, "ViewLayer.Depth")]
        OpenEXR.File(parts).write(str(path))


def make_ds(tmp: Path, frames: int = 3, layout: str = "blender50") -> Path:
    ds = tmp / "ds"
    (ds / "records").mkdir(parents=True)
    (ds / "images").mkdir()
    rng = np.random.default_rng(0)
    for i in range(frames):
        h, w = 48, 64
        m = np.zeros((h, w), np.uint16)
        m[5 + i:20, 3:30] = 1                # box
        m[10:40, 25 + i:60] = 2              # ball, overlapping box
        m[30:48, 0:10] = 3                   # cut by the bottom and left borders
        m[14:17, 40:43] = 0                  # hole in the ball
        depth = np.where(m > 0, 5.0, 1e10).astype(np.float32)
        write_exr(ds / "records" / f"{i:06d}.exr", m, depth, layout)
        rec = {
            "format": "blender-coco-record", "version": 1, "index": i, "scene_frame": i + 1, "seed": 42,
            "image": f"{i:06d}.png", "passes": f"{i:06d}.exr", "width": w, "height": h, "blender_version": "5.0.1",
            "camera": {"name": "Camera"},
            "categories": [{"name": "box", "supercategory": "thing"}, {"name": "ball"}],
            "instances": [{"pass_index": 1, "object": "Box", "category": "box"},
                          {"pass_index": 2, "object": "Ball", "category": "ball"},
                          {"pass_index": 3, "object": "Box.001", "category": "box"},
                          {"pass_index": 4, "object": "Hidden", "category": "box"}],
        }
        (ds / "records" / f"{i:06d}.json").write_text(json.dumps(rec))
        _ = rng
    return ds


@pytest.mark.parametrize("layout", ["blender34", "blender50"])
def test_read_passes_both_layouts(tmp_path, layout):
    m = np.arange(12, dtype=np.uint16).reshape(3, 4) * 300
    write_exr(tmp_path / "p.exr", m, np.ones((3, 4), np.float32), layout)
    mask, depth = read_passes(tmp_path / "p.exr", 4, 3)
    assert mask.dtype == np.uint16 and np.array_equal(mask, m)
    assert depth is not None and depth.shape == (3, 4)


@pytest.mark.parametrize("mode", ["auto", "polygon", "rle"])
def test_export_loads_and_self_evaluates_to_one(tmp_path, mode):
    ds = make_ds(tmp_path)
    out = export_dataset(ds, ExportConfig(segmentation=mode)).files["instances"]
    assert out == ds / "annotations" / "instances.json"
    coco = load_coco(out)
    assert [c["name"] for c in coco.dataset["categories"]] == ["ball", "box"]  # ids 1..n by name
    assert sorted(coco.imgs) == [1, 2, 3]
    assert len(coco.anns) == 9  # 3 visible instances per frame; "Hidden" has no pixels
    assert self_eval(out, "bbox") == pytest.approx(1.0)
    assert self_eval(out, "segm") == pytest.approx(1.0)
    ball = [a for a in coco.dataset["annotations"] if a["category_id"] == 1 and a["image_id"] == 1][0]
    assert isinstance(ball["segmentation"], dict) == (mode != "polygon")  # the hole needs RLE in auto


def test_export_is_deterministic_and_jobs_do_not_change_it(tmp_path):
    ds = make_ds(tmp_path, frames=6)
    a = export_dataset(ds, out=tmp_path / "a.json").files["instances"].read_bytes()
    b = export_dataset(ds, jobs=2, out=tmp_path / "b.json").files["instances"].read_bytes()
    assert a == b


def test_export_masks_match_pass(tmp_path):
    ds = make_ds(tmp_path, frames=1, layout="blender34")
    data = json.loads(export_dataset(ds, ExportConfig(segmentation="rle")).files["instances"].read_text())
    mask, _ = read_passes(ds / "records" / "000000.exr")
    segs = [decode(a["segmentation"], 48, 64) for a in data["annotations"]]
    assert [a["category_id"] for a in data["annotations"]] == [2, 1, 2]  # pass index order: box, ball, box
    for label, (ann, seg) in enumerate(zip(data["annotations"], segs), start=1):
        assert np.array_equal(seg, mask == label)
        assert seg.sum() == ann["area"]


def test_corrupt_exr_and_missing_records_are_one_line_errors(tmp_path):
    with pytest.raises(UserError, match="no frame records"):
        export_dataset(tmp_path / "nothing")
    ds = make_ds(tmp_path, frames=2)
    (ds / "records" / "000001.exr").write_bytes(b"not an exr at all")
    with pytest.raises(UserError, match=r"000001\.exr cannot be read"):
        export_dataset(ds)
    assert not (ds / "annotations" / "instances.json").exists()
    r = subprocess.run([sys.executable, "-m", "blender_coco", "export", str(ds)], capture_output=True, text=True)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "000001.exr" in r.stderr


def test_failed_export_keeps_previous_annotations(tmp_path):
    ds = make_ds(tmp_path, frames=2)
    good = export_dataset(ds).files["instances"].read_bytes()
    (ds / "records" / "000000.json").write_text("{ broken")
    with pytest.raises(UserError, match="not valid JSON"):
        export_dataset(ds)
    assert (ds / "annotations" / "instances.json").read_bytes() == good
    assert sorted(p.name for p in (ds / "annotations").iterdir()) == ["captions.json", "instances.json"]  # no temp files


@settings(max_examples=200, deadline=None)
@given(st.builds(
    ExportConfig,
    segmentation=st.sampled_from(SEGMENTATION_MODES),
    tolerance=st.floats(0, 10, allow_nan=False),
    min_area=st.integers(1, 10**6),
    iscrowd=st.booleans(),
    keypoint_tolerance=st.floats(0, 1e6, allow_nan=False),
    tasks=st.one_of(st.none(), st.lists(st.sampled_from(TASKS), min_size=1, max_size=4, unique=True).map(tuple)),
    captions_per_image=st.integers(1, 100),
    stuff_other=st.booleans(),
    caption_templates=st.one_of(st.none(), st.just("my templates.toml")),
    info=st.lists(st.one_of(
        st.tuples(st.sampled_from(["description", "version", "contributor", "url", "date_created"]), st.text()),
        st.tuples(st.just("year"), st.integers(0, 9999).map(str))), max_size=3).map(tuple),
))
def test_the_stock_blender_hand_off_keeps_every_setting(config):
    """The command the render stage runs for an out-of-process export rebuilds the exact same config."""
    assert ExportConfig.from_json(json.loads(json.dumps(config.to_json()))) == config
    cmd = export_command("python3", Path("ds"), config)
    assert cmd[:5] == ["python3", "-m", "blender_coco", "export", "ds"]
    args = build_parser().parse_args(cmd[3:])
    assert export_command_config(args) == config


def test_info_comes_from_config_and_is_deterministic(tmp_path):
    ds = make_ds(tmp_path, frames=2)
    config = ExportConfig(info=(("description", "tabletop v2"), ("year", "2031"), ("date_created", "2031-05-01")))
    a = export_dataset(ds, config, out=tmp_path / "a.json").files["instances"]
    info = json.loads(a.read_text())["info"]
    assert (info["description"], info["year"], info["date_created"]) == ("tabletop v2", 2031, "2031-05-01")
    assert info["seed"] == 42 and info["frames"] == 2
    assert export_dataset(ds, config, out=tmp_path / "b.json").files["instances"].read_bytes() == a.read_bytes()
    with pytest.raises(UserError, match="info field must be one of description, version, year"):
        ExportConfig(info=(("author", "me"),))
    with pytest.raises(UserError, match="info year must be an integer, got 'soon'"):
        ExportConfig(info=(("year", "soon"),))


def test_export_in_another_python_gives_the_same_files_and_result(tmp_path):
    """The stock-Blender hand-off: config over as JSON, result back as JSON, bytes as in process."""
    ds = make_ds(tmp_path, frames=2)
    config = ExportConfig(segmentation="rle", tasks=("instances", "captions"), info=(("description", "x=1 'q'"),))
    here = export_dataset(ds, config)
    inst, caps = (here.files[t].read_bytes() for t in ("instances", "captions"))
    there = run_export(ds, config, sys.executable)
    assert there == here
    assert (here.images, here.annotations) == (2, {"ball": 2, "box": 4})
    assert here.files["instances"].read_bytes() == inst and here.files["captions"].read_bytes() == caps


def _fake_python(path: Path, log: Path, works: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    run = f'exec {sys.executable} "$@"' if works else "exit 1"
    path.write_text(f'#!/bin/sh\necho "{path}" >> {log}\n{run}\n')
    path.chmod(0o755)
    return path


def test_the_export_python_is_the_active_virtualenvs_then_python3_on_path(tmp_path, monkeypatch):
    """Outside the bpy module (a Blender binary) the hand-off goes to the first Python that can export:
    $BLENDER_COCO_PYTHON, else the activated venv's, else python3 on PATH; an explicit --python always wins."""
    from blender_coco.blender import handoff

    log = tmp_path / "probes.txt"
    venv_py = _fake_python(tmp_path / "venv" / "bin" / "python3", log, works=True)
    path_py = _fake_python(tmp_path / "bin" / "python3", log, works=True)
    monkeypatch.delenv("BLENDER_COCO_PYTHON", raising=False)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    monkeypatch.setenv("VIRTUAL_ENV", str(tmp_path / "venv"))
    assert handoff.find_python(None) == str(venv_py)
    _fake_python(venv_py, log, works=False)  # a venv without blender-coco: on to python3 on PATH
    assert handoff.find_python(None) == str(path_py)
    assert log.read_text().split()[-2:] == [str(venv_py), str(path_py)]
    _fake_python(path_py, log, works=False)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}")
    with pytest.raises(UserError) as err:
        handoff.find_python(None)
    assert f"(tried {venv_py}, {path_py})" in str(err.value) and "\n" not in str(err.value)
    monkeypatch.setenv("BLENDER_COCO_PYTHON", str(path_py))
    assert handoff.find_python(None) == str(path_py)  # the variable is taken as given
    assert handoff.export_python(sys.executable) == sys.executable  # explicit, even where the export imports here


def test_export_returns_and_logs_only_the_files_it_wrote(tmp_path, caplog):
    ds = make_ds(tmp_path, frames=1)
    with caplog.at_level("INFO", logger="blender_coco"):
        result = export_dataset(ds, ExportConfig(tasks=("captions",)))
    assert result.files == {"captions": ds / "annotations" / "captions.json"}
    assert all(p.is_file() for p in result.files.values()) and str(result) == str(ds / "annotations" / "captions.json")
    assert not (ds / "annotations" / "instances.json").exists()
    assert "instances.json" not in caplog.text
    result = export_dataset(ds, ExportConfig(tasks=("panoptic", "instances")))
    assert list(result.files) == ["instances", "panoptic"]  # in writing order
    assert all(p.is_file() for p in result.files.values())


@pytest.mark.parametrize("value, expect", [
    ("{not json", "--export-config is not valid JSON"),
    ('{"segmentation": "rle", "colour": 1}', "export config field must be one of segmentation, tolerance"),
    ('{"tolerance": 99}', "tolerance must be a number of pixels in [0, 10], got 99"),
    ('{"info": [["year"]]}', "export config is malformed"),
    ("@/nonexistent/config.json", "export config /nonexistent/config.json does not exist"),
])
def test_a_bad_export_config_is_one_line(tmp_path, value, expect):
    r = subprocess.run([sys.executable, "-m", "blender_coco", "export", str(tmp_path), "--export-config", value],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and expect in r.stderr, r.stderr


def test_person_keypoints_is_written_only_for_keypoint_categories(tmp_path, caplog):
    """No category with keypoints: not among the default files; asked for, a warning (an error
    when it is the only task) and no file."""
    ds = make_ds(tmp_path, frames=1)
    assert "person_keypoints" not in export_dataset(ds).files
    with caplog.at_level("WARNING", logger="blender_coco"):
        result = export_dataset(ds, ExportConfig(tasks=("instances", "person_keypoints")))
    assert list(result.files) == ["instances"] and "no category has keypoints" in caplog.text
    assert not (ds / "annotations" / "person_keypoints.json").exists()
    r = subprocess.run([sys.executable, "-m", "blender_coco", "export", str(ds), "--tasks", "person_keypoints"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--tasks asks only for person_keypoints" in r.stderr

"""The ``blender -b`` front end with a stock Blender (Debian's 3.4: Python 3.10, no numpy).

The demo builder saves a .blend with Blender 3.4, ``scripts/render_coco.py`` renders
it inside ``blender -b`` and hands the export to ``--python`` (this venv). The same
builder rendered by the bpy module (5.0) must give the same annotations (the scene as
built: the demo's own randomization drops toys with physics, and Bullet in 3.4 and
5.0 settle them differently). The demo's own randomization, physics and ``[[spawn]]``
included, runs in 3.4 too. Without the binary these tests skip, except under CI
(``$CI`` set), where they fail.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from cocotools import decode, iou, load_coco

SETTINGS = ["--resolution", "96x72", "--samples", "2", "--frames", "2", "--no-randomize"]


@pytest.fixture(scope="module")
def rendered_34(tmp_path_factory, run, blender_binary):
    tmp = tmp_path_factory.mktemp("blender34")
    blend = tmp / "demo.blend"
    run([blender_binary, "-b", "--factory-startup", "--python-exit-code", "1", "-P", "scenes/demo.py",
         "--", "--save", blend], "building the demo scene with blender -b")
    proc = run([blender_binary, "-b", blend, "--python-exit-code", "1", "-P", "scripts/render_coco.py", "--",
                "--out", tmp / "ds", *SETTINGS, "--python", sys.executable], "blender -b ... render_coco.py")
    return tmp / "ds", proc


@pytest.fixture(scope="module")
def rendered_module(tmp_path_factory, run):
    out = tmp_path_factory.mktemp("bpy_module") / "ds"
    run([sys.executable, "-m", "blender_coco", "render", "--out", out, *SETTINGS], "blender-coco render (demo)")
    return out


def test_blender_binary_renders_and_hands_the_export_to_python(rendered_34):
    ds, proc = rendered_34
    coco = load_coco(ds / "annotations" / "instances.json")
    assert len(coco.dataset["images"]) == 2 and len(coco.dataset["annotations"]) == 14
    record = json.loads((ds / "records" / "000001.json").read_text())
    assert record["blender_version"].startswith("3.") and record["scene_frame"] == 2
    assert "OpenImageDenoise" in proc.stderr  # Debian's Cycles has none: denoising off, said once
    assert proc.stderr.count("OpenImageDenoise") == 1


def test_blender_34_and_the_bpy_module_agree_on_every_annotation(rendered_34, rendered_module):
    a = load_coco(rendered_34[0] / "annotations" / "instances.json")
    b = load_coco(rendered_module / "annotations" / "instances.json")
    assert a.dataset["categories"] == b.dataset["categories"]
    for image in a.dataset["images"]:
        anns_a, anns_b = a.imgToAnns[image["id"]], b.imgToAnns[image["id"]]
        assert len(anns_a) == len(anns_b) == 7
        for x, y in zip(anns_a, anns_b):
            assert x["category_id"] == y["category_id"]
            assert np.abs(np.subtract(x["bbox"], y["bbox"])).max() <= 1, (x["bbox"], y["bbox"])
            h, w = image["height"], image["width"]
            assert iou(decode(x["segmentation"], h, w), decode(y["segmentation"], h, w)) >= 0.95


def test_an_activated_virtualenv_renders_and_exports_without_a_crash(rendered_34, rendered_module, tmp_path, run,
                                                                     blender_binary):
    """Issue 14: Debian's Blender puts an activated venv's site-packages on its sys.path; loading that venv's
    OpenEXR wheel inside Blender crashed (SIGSEGV) on the first EXR read. The exact command a user types after
    ``source .venv/bin/activate`` (no --python) must hand the export to the venv's Python and exit 0."""
    venv = Path(sys.prefix)
    assert venv != Path(sys.base_prefix), "the tests must run in a virtualenv (.venv/bin/python -m pytest)"
    env = {**os.environ, "PATH": os.pathsep.join([str(venv / "bin"), os.environ.get("PATH", "")]),
           "VIRTUAL_ENV": str(venv)}
    for name in ("BLENDER_COCO_PYTHON", "PYTHONHOME", "PYTHONPATH"):
        env.pop(name, None)
    blend = rendered_34[0].parent / "demo.blend"
    proc = run([blender_binary, "-b", blend, "-P", "scripts/render_coco.py", "--", "--out", tmp_path / "ds",
                *SETTINGS], "blender -b ... render_coco.py with the venv activated", ok=None, env=env)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stderr[-3000:]}"
    handoff = [ln for ln in proc.stderr.splitlines() if "exporting in a separate Python:" in ln]
    assert len(handoff) == 1 and f"{venv}/bin/python" in handoff[0], proc.stderr[-2000:]
    ours = load_coco(tmp_path / "ds" / "annotations" / "instances.json")
    with_python = load_coco(rendered_34[0] / "annotations" / "instances.json")
    assert ours.dataset["annotations"] == with_python.dataset["annotations"] != []
    module = load_coco(rendered_module / "annotations" / "instances.json")
    assert ours.dataset["categories"] == module.dataset["categories"]
    for image in ours.dataset["images"]:
        anns_a, anns_b = ours.imgToAnns[image["id"]], module.imgToAnns[image["id"]]
        assert [x["category_id"] for x in anns_a] == [y["category_id"] for y in anns_b]
        for x, y in zip(anns_a, anns_b):
            assert np.abs(np.subtract(x["bbox"], y["bbox"])).max() <= 1, (x["bbox"], y["bbox"])
            h, w = image["height"], image["width"]
            assert iou(decode(x["segmentation"], h, w), decode(y["segmentation"], h, w)) >= 0.95

def test_blender_34_runs_the_demos_own_randomization_with_physics(tmp_path, run, blender_binary):
    blend = tmp_path / "demo.blend"
    run([blender_binary, "-b", "--factory-startup", "--python-exit-code", "1", "-P", "scenes/demo.py",
         "--", "--save", blend], "building the demo scene with blender -b")
    run([blender_binary, "-b", blend, "--python-exit-code", "1", "-P", "scripts/render_coco.py", "--",
         "--out", tmp_path / "ds", *SETTINGS[:-1], "--python", sys.executable], "blender -b ... (own randomization)")
    records = [json.loads((tmp_path / "ds" / "records" / f"{i:06d}.json").read_text()) for i in range(2)]
    spawned = [i["object"] for r in records for i in r["instances"] if i["object"].startswith("spawn[0].")]
    assert spawned and set(records[0]["randomize"]) >= {"camera", "objects", "spawn"}
    coco = load_coco(tmp_path / "ds" / "annotations" / "instances.json")
    assert len(coco.dataset["annotations"]) > 14  # the demo's 7 per frame, and toys


def test_script_failure_exits_non_zero_even_without_python_exit_code(tmp_path, run, blender_binary):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    proc = run([blender_binary, "-b", "--factory-startup", "-P", "scripts/render_coco.py", "--",
                "--out", blocker / "ds", "--resolution", "32x24", "--python", sys.executable],
               "blender -b with an unwritable --out", ok=False)
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("blender-coco: error:")]
    assert len(errors) == 1 and str(blocker / "ds") in errors[0]


def test_a_bad_python_for_the_export_fails_before_rendering(tmp_path, run, blender_binary):
    proc = run([blender_binary, "-b", "--factory-startup", "-P", "scripts/render_coco.py", "--",
                "--out", tmp_path / "ds", "--resolution", "32x24", "--python", tmp_path / "no_python"],
               "blender -b with a missing --python", ok=False)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("blender-coco: error:")]
    assert len(errors) == 1 and "--python" in errors[0] and "no_python" in errors[0]
    assert not (tmp_path / "ds" / "records").exists() or not any((tmp_path / "ds" / "records").iterdir())

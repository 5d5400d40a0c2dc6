"""UserError names settings by config field; each front end says them its own way."""

from __future__ import annotations

import subprocess
import sys

import pytest

from blender_coco.commands._common import flag
from blender_coco.errors import UserError
from blender_coco.files import ensure_dir


def test_a_field_is_said_as_a_flag_by_the_cli_and_neutrally_elsewhere():
    err = UserError("output folder x is not writable; choose a writable {out}", field="out")
    assert err.render(flag) == "output folder x is not writable; choose a writable --out"
    assert err.render(lambda f: {"out": "Output folder"}[f]) == "output folder x is not writable; choose a writable Output folder"
    assert str(err) == "output folder x is not writable; choose a writable 'out'"


def test_flags_follow_the_cli_where_they_differ_from_the_field():
    assert [flag(f) for f in ("out", "keypoint_tolerance", "randomize", "iscrowd")] == \
        ["--out", "--keypoint-tolerance", "--config", "--crowd"]


def test_braces_that_are_not_fields_stay_and_prefixing_keeps_fields():
    err = UserError("bad JSON {\"a\": 1} in {python}; pass a working {python}", field=("python",)).prefixed("stage: ")
    assert err.render(flag) == "stage: bad JSON {\"a\": 1} in --python; pass a working --python"
    assert err.fields == ("python",)


def test_core_errors_carry_their_field(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UserError) as info:
        ensure_dir(blocker / "sub")
    assert info.value.fields == ("out",) and info.value.render(flag).endswith("choose a writable --out")


def test_the_cli_prints_the_flag(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    coco = tmp_path / "c.json"
    coco.write_text('{"images": [], "annotations": [], "categories": []}')
    r = subprocess.run([sys.executable, "-m", "blender_coco", "preview", str(coco), "--out", str(blocker / "x")],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr == f"blender-coco: error: cannot create output folder {blocker / 'x'}: Not a directory; choose a writable --out\n"

"""Every CLI command, given a file it cannot read, prints one line and exits non-zero (no traceback).

The commands come from the CLI's own parser, so a new command is covered the day it is
added: each gets the generic case (every positional argument and every required option
but ``--out`` is an unreadable file), and the test fails until :data:`DEEP` says where
it reads files inside a folder too.

Tests often run as root, where ``chmod 000`` does not stop a read. Then each command
runs under ``setpriv`` without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH: still uid 0 (it
reads the venv under /root), but file modes bind it, so the read raises a real
PermissionError as it would for any user.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image

from blender_coco.cli import build_parser
from blender_coco.coco.export import export_dataset
from blender_coco.config import ExportConfig
from test_export import make_ds

REPO = Path(__file__).resolve().parents[1]
NO_DAC = "-dac_override,-dac_read_search"


def command_names() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sorted(sub.choices)


def _unprivileged() -> list[str]:
    """The command prefix under which file modes bind this user; skip when there is none."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv"):
        return ["setpriv", f"--inh-caps={NO_DAC}", f"--bounding-set={NO_DAC}"]
    pytest.skip("running as root without setpriv: chmod 000 cannot make a file unreadable here")


@pytest.fixture(scope="module")
def unprivileged(tmp_path_factory) -> list[str]:
    prefix = _unprivileged()
    probe = tmp_path_factory.mktemp("probe") / "x"
    probe.write_text("x")
    probe.chmod(0)
    r = subprocess.run([*prefix, sys.executable, "-c", f"open({str(probe)!r}).read()"], capture_output=True, text=True)
    if "PermissionError" not in r.stderr:
        pytest.skip(f"cannot make a file unreadable for a child process here ({r.stderr.strip()[-200:]!r})")
    return prefix


def dataset(root: Path) -> Path:
    """A small dataset folder: frame records, images, annotations/instances.json."""
    ds = make_ds(root, frames=2)
    for i in range(2):
        Image.fromarray(np.full((48, 64, 3), 90 + i, np.uint8)).save(ds / "images" / f"{i:06d}.png")
    export_dataset(ds, ExportConfig())
    return ds


def masks(root: Path) -> tuple[Path, Path]:
    d = root / "masks"
    d.mkdir()
    m = np.zeros((6, 8, 3), np.uint8)
    m[1:4, 2:5] = (0, 255, 0)
    Image.fromarray(m).save(d / "a.png")
    Image.fromarray(m).save(d / "b.png")
    colors = root / "colors.json"
    colors.write_text(json.dumps({"categories": [{"id": 1, "name": "plant"}], "colors": {"#00ff00": "plant"}}))
    return d, colors


# Per command, cases where the unreadable file (or folder) sits inside a readable input:
# setup(tmp) -> (arguments, the file to make unreadable).
Case = Callable[[Path], "tuple[list[str], Path]"]


def _ds_file(rel: str, *args: str) -> Case:
    def setup(tmp: Path):
        ds = dataset(tmp)
        return [str(ds), *[a.replace("DS", str(ds)).replace("OUT", str(tmp / "out")) for a in args]], ds / rel
    return setup


def _coco_with(rel: str, *args: str) -> Case:
    def setup(tmp: Path):
        ds = dataset(tmp)
        return [str(ds / "annotations" / "instances.json"),
                *[a.replace("DS", str(ds)).replace("OUT", str(tmp / "out")) for a in args]], ds / rel
    return setup


def _masks(which: str) -> Case:
    def setup(tmp: Path):
        d, colors = masks(tmp)
        target = {"mask": d / "a.png", "colors": colors, "folder": d}[which]
        return [str(d), "--colors", str(colors), "--out", str(tmp / "out.json")], target
    return setup


def _render_config(tmp: Path):
    cfg = tmp / "r.toml"
    cfg.write_text("[camera]\n")
    return ["--out", str(tmp / "out"), "--config", str(cfg)], cfg


DEEP: dict[str, dict[str, Case]] = {
    "export": {"sidecar": _ds_file("records/000001.json"), "passes": _ds_file("records/000000.exr"),
               "templates": _ds_file("t.toml", "--caption-templates", "DS/t.toml"), "records": _ds_file("records")},
    "masks2coco": {"mask": _masks("mask"), "colors": _masks("colors"), "folder": _masks("folder")},
    "merge": {"instances": _ds_file("annotations/instances.json", "--out", "OUT"),
              "image": _ds_file("images/000001.png", "--out", "OUT"),
              "sidecar": _ds_file("records/000000.json", "--out", "OUT"),
              "images": _ds_file("images", "--out", "OUT")},
    "preview": {"image": _coco_with("images/000000.png", "--images", "DS/images", "--out", "OUT"),
                "html image": _coco_with("images/000000.png", "--html", "OUT")},
    "render": {"config": _render_config},
    "split": {"instances": _ds_file("annotations/instances.json", "--out", "OUT", "--train", "1"),
              "scene sidecar": _ds_file("records/000000.json", "--out", "OUT", "--train", "1", "--by", "scene")},
    "stats": {"instances": _ds_file("annotations/instances.json"),
              "sidecar": _ds_file("records/000000.json"), "records": _ds_file("records")},
    "validate": {"image": _coco_with("images/000000.png", "--images", "DS/images"),
                 "images": _coco_with("images", "--images", "DS/images")},
}


#: Options a command needs before it reads anything, that argparse does not require.
NEEDS = {"preview": ["--out", "OUT"], "split": ["--train", "1"]}


def generic_args(command: str, bad: Path, tmp: Path) -> list[str]:
    """Every positional argument and required option of ``command`` is ``bad``; ``--out`` a new path."""
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    args = [a.replace("OUT", str(tmp / "out")) for a in NEEDS.get(command, [])]
    for action in sub._actions:
        if action.option_strings:
            if action.required:
                args += [action.option_strings[0], str(tmp / "out" if action.dest == "out" else bad)]
        elif action.nargs != 0:
            args.append(str(bad))
    return args


def run_unreadable(prefix: list[str], command: str, args: list[str], bad: Path) -> None:
    if bad.name == "t.toml":
        bad.write_text('[templates]\nthing = ["a {name}"]\n')
    mode = bad.stat().st_mode
    bad.chmod(0)
    try:
        r = subprocess.run([*prefix, sys.executable, "-m", "blender_coco", "-q", command, *args], cwd=REPO,
                           capture_output=True, text=True, timeout=300)
    finally:
        bad.chmod(mode)
    lines = r.stderr.strip().splitlines()
    what = f"{command} {' '.join(args)} with {bad} unreadable"
    assert r.returncode not in (0, 1), f"{what}: exit {r.returncode} (1: a crash, or validate's problems found)"
    assert "Traceback" not in r.stderr, f"{what}:\n{r.stderr[-3000:]}"
    assert len(lines) == 1 and lines[0].startswith("blender-coco: error: "), f"{what}:\n{r.stderr[-3000:]}"
    assert str(bad) in lines[0] or bad.name in lines[0], f"{what}: the line does not name the file: {lines[0]}"


def test_every_command_is_covered():
    assert sorted(DEEP) == command_names(), "a new command: add where it reads files inside a folder to DEEP"


@pytest.mark.parametrize("command", command_names())
def test_an_unreadable_argument_is_one_line(command, tmp_path, unprivileged):
    bad = tmp_path / "unreadable.json"
    bad.write_text("{}")
    run_unreadable(unprivileged, command, generic_args(command, bad, tmp_path), bad)


@pytest.mark.parametrize("command,case", [(c, k) for c, cases in DEEP.items() for k in cases])
def test_an_unreadable_file_inside_an_input_is_one_line(command, case, tmp_path, unprivileged):
    args, bad = DEEP[command][case](tmp_path)
    run_unreadable(unprivileged, command, args, bad)

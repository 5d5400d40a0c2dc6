"""One run per output folder (blender_coco.records.lock; issue 15, item 4).

The lock's rules on their own (flock conflicts between open files, also within one
process), then real renders started together into one folder: two runs, or shards of two
runs, never both proceed; shards of one run render side by side and the last one exports
every shard's frames (the same bytes as one process); ``--resume`` with other samples or
another resolution refuses.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from blender_coco.errors import UserError
from blender_coco.records.lock import IDENTITY_FILE, RunLock
from conftest import _env

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "blender_coco"]
RUN = {"seed": 1, "width": 64, "height": 48, "samples": 1, "frames": 10}


def test_a_second_run_is_refused_while_the_first_holds_the_folder(tmp_path):
    first = RunLock.acquire(tmp_path, RUN)
    for shared in (False, True):  # neither a whole run nor a shard may join a whole run
        with pytest.raises(UserError, match=r"is in use by another blender-coco run \(pid \d+ on "):
            RunLock.acquire(tmp_path, RUN, shared=shared)
    first.release()
    RunLock.acquire(tmp_path, {**RUN, "seed": 2}).release()  # free again once released


def test_shards_share_the_folder_only_with_shards_of_the_same_run(tmp_path):
    a = RunLock.acquire(tmp_path, RUN, shared=True)
    b = RunLock.acquire(tmp_path, RUN, shared=True)
    with pytest.raises(UserError, match=r"shards of another run, which has seed 1 \(this run: 2\)"):
        RunLock.acquire(tmp_path, {**RUN, "seed": 2}, shared=True)
    with pytest.raises(UserError, match="frames 10 \\(this run: 20\\)"):
        RunLock.acquire(tmp_path, {**RUN, "frames": 20}, shared=True)
    with pytest.raises(UserError, match="in use by another blender-coco run"):
        RunLock.acquire(tmp_path, RUN)  # a whole run waits for the shards
    assert a.last_shard() is False  # b still renders: a leaves the export to it
    assert b.last_shard() is True   # b ends last: it holds the folder alone and exports
    with pytest.raises(UserError, match="in use"):
        RunLock.acquire(tmp_path, RUN, shared=True)
    a.release()
    b.release()
    assert (tmp_path / IDENTITY_FILE).is_file()


def start(args: list) -> subprocess.Popen:
    return subprocess.Popen([str(c) for c in CLI + ["render", *args]], cwd=REPO, env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def together(*arg_lists: list) -> list[tuple[int, str]]:
    procs = [start(a) for a in arg_lists]
    errs = [p.communicate(timeout=300)[1] for p in procs]
    return [(p.returncode, err) for p, err in zip(procs, errs)]


def one_line(code: int, err: str) -> str:
    assert code == 2 and "Traceback" not in err, err[-3000:]
    lines = [ln for ln in err.splitlines() if ln.startswith("blender-coco: error:")]
    assert len(lines) == 1 and err.rstrip().endswith(lines[0]), err[-3000:]
    return lines[0]


SLOW = ["--frames", "24", "--resolution", "64x48", "--samples", "1", "--no-randomize"]


@pytest.mark.parametrize("a, b, refused", [
    (["--seed", "1"], ["--seed", "2"], "is in use by another blender-coco run (pid "),
    (["--shard", "0/2", "--seed", "1"], ["--shard", "1/2", "--seed", "2"], "is being rendered by shards of another "
                                                                            "run, which has seed "),
])
def test_two_runs_started_together_into_one_folder_do_not_both_proceed(tmp_path, a, b, refused):
    out = tmp_path / "ds"
    results = together(["--out", out, *SLOW, *a], ["--out", out, *SLOW, *b])
    assert sorted(code for code, _ in results) == [0, 2], [err[-2000:] for _, err in results]
    line = one_line(*next(r for r in results if r[0] == 2))
    assert refused in line and line.endswith("choose another --out (shards of one run may share a folder)"
                                             if "in use" in refused else
                                             "use the same settings as the other shards, or choose another --out"), line
    seeds = {json.loads(p.read_text())["seed"] for p in (out / "records").glob("[0-9]*.json")}
    assert len(seeds) == 1  # no mix of two runs' frames


def test_shards_of_one_run_started_together_export_every_frame_once(tmp_path, run):
    ref, out = tmp_path / "ref", tmp_path / "ds"
    run(CLI + ["render", "--out", ref, *SLOW], "the one-process run")
    results = together(["--out", out, *SLOW, "--shard", "0/2"], ["--out", out, *SLOW, "--shard", "1/2"])
    assert [code for code, _ in results] == [0, 0], [err[-2000:] for _, err in results]
    exported = [err for _, err in results if "dataset written:" in err]
    assert len(exported) == 1, [err[-1500:] for _, err in results]  # the last shard to end exports
    assert any("another shard is still rendering" in err for _, err in results)
    assert (out / "annotations" / "instances.json").read_bytes() == (ref / "annotations" / "instances.json").read_bytes()


def test_resume_with_other_samples_or_resolution_refuses(tmp_path, run):
    out = tmp_path / "ds"
    base = ["render", "--out", out, "--frames", "2", "--no-randomize", "--no-export"]
    run(CLI + base + ["--resolution", "64x48", "--samples", "1"], "the first run")
    proc = run(CLI + base + ["--resolution", "64x48", "--samples", "2", "--resume"], "other samples", ok=None)
    assert "was rendered with samples 1 (this run: 2)" in one_line(proc.returncode, proc.stderr)
    proc = run(CLI + base + ["--resolution", "32x24", "--samples", "1", "--resume"], "other resolution", ok=None)
    assert "was rendered with width 64 (this run: 32)" in one_line(proc.returncode, proc.stderr)

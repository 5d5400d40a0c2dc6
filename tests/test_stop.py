"""Ctrl-C, SIGTERM and SIGHUP stop a render cleanly (blender_coco.stop; issue 15, item 2).

Real render processes (the bpy module through ``blender-coco render``, Debian's Blender
3.4 through scripts/render_coco.py) get real signals at random points of a run: they
stop after the frame in flight with 128 + the signal as exit code, one line naming the
frames kept and the exact ``--resume`` command, no traceback, no export; that command
then completes a dataset identical, byte for byte, to an uninterrupted run's. A second
Ctrl-C ends the process at once.
"""

from __future__ import annotations

import random
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import _env

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "blender_coco"]
FRAMES = 8
SETTINGS = ["--frames", str(FRAMES), "--resolution", "64x48", "--samples", "1", "--seed", "5"]
RNG = random.Random()


def start(cmd: list, **kw) -> subprocess.Popen:
    return subprocess.Popen([str(c) for c in cmd], cwd=REPO, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, **kw)


def sidecars(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "records").glob("[0-9]*.json")) if (out / "records").is_dir() else []


def wait_for_frames(proc: subprocess.Popen, out: Path, count: int, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while len(sidecars(out)) < count:
        assert proc.poll() is None, f"the render ended before frame {count}:\n{proc.stderr.read()[-3000:]}"
        assert time.monotonic() < deadline, "no frames appeared"
        time.sleep(0.02)


def interrupt(cmd: list, out: Path, signum: int) -> tuple[subprocess.CompletedProcess, int]:
    """Start ``cmd``, send ``signum`` at a random point after 1-3 frames; returns the outcome and that point."""
    proc = start(cmd)
    after = RNG.randint(1, 3)
    wait_for_frames(proc, out, after)
    time.sleep(RNG.uniform(0, 0.3))  # anywhere in a frame: hooks, render, writing its files
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(cmd, proc.returncode, "", err), after


def stopped_line(proc: subprocess.CompletedProcess, signum: int, what: str) -> str:
    """The one line an interrupted run ends with; asserts the exit code and that no traceback was printed."""
    assert proc.returncode == 128 + signum, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and "Segmentation" not in proc.stderr, proc.stderr[-3000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("blender-coco: stopped by")]
    assert len(lines) == 1 and proc.stderr.rstrip().endswith(lines[0]), proc.stderr[-3000:]
    assert lines[0].startswith(f"blender-coco: stopped by {what}: "), lines[0]
    return lines[0]


def kept_and_command(line: str, out: Path) -> tuple[int, list[str]]:
    head, command = line.split("; continue with: ")
    kept = int(head.split(": ")[2].split(" of ")[0])
    assert f" of {FRAMES} frame(s) complete and kept in {out} (not exported)" in head, line
    return kept, shlex.split(command)


def dataset_files(out: Path) -> dict[str, bytes]:
    """Every file of a finished dataset but the EXRs (their header holds the render time) and the lock files."""
    files = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
             if p.is_file() and p.suffix != ".exr" and not p.name.startswith(".")}  # (the run's lock files)
    assert "annotations/instances.json" in files and sum(k.startswith("images/") for k in files) == FRAMES
    return files


@pytest.fixture(scope="module")
def reference(tmp_path_factory, run):
    """An uninterrupted run of the demo scene (randomized: spawned assets with physics)."""
    out = tmp_path_factory.mktemp("stop") / "ref"
    run(CLI + ["render", "--out", out, *SETTINGS], "the uninterrupted run")
    return dataset_files(out)


@pytest.mark.parametrize("signum, what", [(signal.SIGINT, "Ctrl-C (SIGINT)"), (signal.SIGTERM, "SIGTERM")])
def test_a_signal_stops_after_the_frame_in_flight_and_resume_gives_the_same_dataset(tmp_path, run, reference,
                                                                                    signum, what):
    out = tmp_path / "ds"
    cmd = CLI + ["render", "--out", out, *SETTINGS]
    proc, after = interrupt(cmd, out, signum)
    line = stopped_line(proc, signum, what)
    kept, command = kept_and_command(line, out)
    # at most the frame in flight was finished after the signal; the count said is the count on disk
    assert after <= kept <= after + 2 and kept < FRAMES, (after, line)
    assert len(sidecars(out)) == kept
    assert not (out / "annotations").exists()  # no export after an interrupt
    assert command == ["blender-coco", "render", "--out", str(out), *SETTINGS, "--resume"]
    run(CLI + command[1:], "the resume command")
    assert dataset_files(out) == reference


def test_sighup_stops_with_exit_129(tmp_path):
    out = tmp_path / "ds"
    proc, _ = interrupt(CLI + ["render", "--out", out, *SETTINGS, "--overwrite"], out, signal.SIGHUP)
    line = stopped_line(proc, signal.SIGHUP, "SIGHUP (the terminal closed)")
    assert line.endswith(f"render --out {out} {' '.join(SETTINGS)} --resume")  # --overwrite becomes --resume


def test_a_second_ctrl_c_stops_at_once_and_resume_still_completes(tmp_path, run):
    out = tmp_path / "ds"
    slow = ["--frames", "4", "--resolution", "64x48", "--samples", "4000", "--no-randomize"]
    proc = start(CLI + ["render", "--out", out, *slow])
    wait_for_frames(proc, out, 1)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    seconds = time.monotonic() - t0
    assert proc.returncode == 130, err[-3000:]
    assert seconds < 2.0, f"the second Ctrl-C took {seconds:.1f} s"
    assert "Traceback" not in err, err[-3000:]
    assert err.rstrip().splitlines()[-1] == (f"blender-coco: Ctrl-C (SIGINT) again: stopped at once (the frame in "
                                             f"flight is lost); continue with: blender-coco render --out {out} "
                                             f"{' '.join(slow)} --resume")
    assert 1 <= len(sidecars(out)) < 4
    proc = run(CLI + ["render", "--out", out, *slow, "--resume"], "resume")
    assert len(sidecars(out)) == 4 and not list(out.rglob(".*.tmp"))


def test_stock_blender_stops_on_ctrl_c_and_resumes(tmp_path, run, blender_binary):
    """Blender 3.4 installs its own SIGINT handler (it ignored Ctrl-C before); the run's handlers replace it."""
    script = ["-P", "scripts/render_coco.py", "--", *SETTINGS, "--python", sys.executable]
    ref, out = tmp_path / "ref", tmp_path / "ds"
    run([blender_binary, "-b", "--python-exit-code", "1", *script[:3], "--out", ref, *script[3:]], "3.4 reference")
    cmd = [blender_binary, "-b", "--python-exit-code", "1", *script[:3], "--out", out, *script[3:]]
    proc, after = interrupt(cmd, out, signal.SIGINT)
    line = stopped_line(proc, signal.SIGINT, "Ctrl-C (SIGINT)")
    kept, command = kept_and_command(line, out)
    assert after <= kept < FRAMES and len(sidecars(out)) == kept
    assert command == [str(c) for c in cmd] + ["--resume"]
    run(command, "the resume command")
    assert dataset_files(out) == dataset_files(ref)


STOP_LOOP = """
import sys, time
from blender_coco import stop
stop.set_command(["prog", "--out", "ds", "--overwrite"])
with stop.on_signals():
    print("ready", flush=True)
    frames = 0
    while stop.requested() is None:
        time.sleep(float(sys.argv[1]))  # a frame: a long call, then the check between frames
        frames += 1
    try:
        stop.check(frames, 100, "ds")
    except stop.Interrupted as exc:
        print(exc, file=sys.stderr)
        sys.exit(exc.exit_code)
"""


@pytest.mark.parametrize("frame_seconds, signals, code, last", [
    (0.05, [signal.SIGTERM], 143, "stopped by SIGTERM: "),
    (30, [signal.SIGINT, signal.SIGINT], 130, "blender-coco: Ctrl-C (SIGINT) again: stopped at once"),
    (30, [signal.SIGTERM, signal.SIGINT], 130, "blender-coco: Ctrl-C (SIGINT) again: stopped at once"),
])
def test_stop_module_first_signal_asks_second_exits_at_once(frame_seconds, signals, code, last):
    proc = subprocess.Popen([sys.executable, "-c", STOP_LOOP, str(frame_seconds)], cwd=REPO, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.5)  # in the "frame"
    t0 = time.monotonic()
    for s in signals:
        proc.send_signal(s)
        time.sleep(0.2)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == code, err
    assert time.monotonic() - t0 < 5  # not after the 30 s "frame"
    assert err.rstrip().splitlines()[-1].startswith(last), err
    assert err.rstrip().endswith("continue with: prog --out ds --resume"), err
    assert "Traceback" not in err

"""Rendering on Ray (blender_coco.distribute) and the SLURM recipe, end to end.

Real Ray on this machine, loopback only: ``--ray local`` starts a private Ray; the
two-node test starts a head and a second node (Ray's own ``ray.cluster_utils.Cluster``:
two raylets with separate resources) in a helper process. Every render is a real
Blender (the bpy module) on the tabletop scene with scenes/randomize_tabletop.toml at
64x48, 1 sample; the reference is one uninterrupted one-process run with the same seed.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pixels import digest

from blender_coco.commands.render import add_render_arguments, config_from_args
from blender_coco.config import ExportConfig, RenderConfig
from blender_coco.distribute import plan
from blender_coco.distribute.task import render_argv
from blender_coco.distribute.ray_run import RayOptions, check_resources, export_jobs, parse_address, resume_command
from blender_coco.errors import UserError

pytest.importorskip("ray")

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "blender_coco"]
CONFIG = REPO / "scenes" / "randomize_tabletop.toml"
FRAMES = 8
SETTINGS = ["--seed", "3", "--resolution", "64x48", "--samples", "1", "--frames", str(FRAMES), "--config", str(CONFIG)]


def ray_env() -> dict[str, str]:
    """Loopback only (Ray's RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 keeps every node on 127.0.0.1), a token
    of this test run's own (nothing under ~/.ray), no usage stats."""
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(REPO), e.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    e.pop("BLENDER_COCO_PYTHON", None)
    e.pop("RAY_ADDRESS", None)
    e.update(RAY_USAGE_STATS_ENABLED="0", RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_AUTH_MODE="token",
             RAY_AUTH_TOKEN=TOKEN)
    return e


TOKEN = secrets.token_hex(32)


def run(cmd, what: str, ok: bool | None = True, timeout: float = 300, env=None) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=REPO, env=env or ray_env(),
                          timeout=timeout)
    if ok is True and proc.returncode != 0:
        pytest.fail(f"{what} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    if ok is False and proc.returncode == 0:
        pytest.fail(f"{what} should have failed:\n{proc.stderr[-2000:]}")
    return proc



def assert_same_dataset(out: Path, reference: Path) -> None:
    for name in ("instances.json", "captions.json"):
        assert (out / "annotations" / name).read_bytes() == (reference / "annotations" / name).read_bytes(), name
    assert digest(out / "images") == digest(reference / "images")
    assert sorted(p.name for p in (out / "records").iterdir()) == sorted(p.name for p in (reference / "records").iterdir())


def one_error_line(proc) -> str:
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("blender-coco: error:")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


def nodes_used(stderr: str) -> dict[str, int]:
    """'task attempts per node: host (id): n, ...' -> {node id: n}."""
    line = next(ln for ln in stderr.splitlines() if ln.startswith("task attempts per node:"))
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"\((\w+)\): (\d+)", line)}


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ray")
    run([sys.executable, "scenes/tabletop.py", "--save", tmp / "tabletop.blend"], "building the tabletop scene")
    return tmp


@pytest.fixture(scope="module")
def reference(work):
    run(CLI + ["render", work / "tabletop.blend", "--out", work / "ref", *SETTINGS], "the one-process run")
    return work / "ref"


# -- the pure parts --------------------------------------------------------------------

def test_chunks_cover_every_frame_once_and_skip_complete_ones():
    assert plan.plan_chunks(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert plan.plan_chunks(10, 4, done={0, 1, 2, 3, 5}) == [(4, 8), (8, 10)]
    assert plan.plan_chunks(3, 50) == [(0, 3)]
    assert plan.default_chunk(48, 2) == 24 and plan.default_chunk(1000, 8) == plan.MIN_CHUNK == 50
    assert plan.default_chunk(100000, 16) == plan.MAX_CHUNK == 1000 and plan.default_chunk(100000, 64) == 391
    assert plan.default_chunk(5, 8) == 1
    assert plan.format_frames([7, 0, 1, 2, 5, 8]) == "0-2, 5, 7-8"
    assert export_jobs(48, 8) == 1 and export_jobs(100000, 32) == 32 and export_jobs(1500, 32) == 3


def test_render_argv_rebuilds_the_config_but_the_export_settings():
    p = argparse.ArgumentParser()
    add_render_arguments(p)
    configs = [RenderConfig(out="/d"),
               RenderConfig(out="/d", scene="/s.blend", frames=9, seed=4, resolution=(64, 48), resolution_percentage=50,
                            samples=2, device="GPU", image_format="JPEG", randomize=str(CONFIG), frame_range=(3, 6),
                            threads=2, resume=True, stage="render", python="/py",
                            export=ExportConfig(segmentation="rle", tasks=("instances",), info=(("year", "2026"),))),
               RenderConfig(out="/d", frames=4, randomize="off", shard=(1, 2), overwrite=True, stage="prepare",
                            amodal=False)]
    for config in configs:
        assert config_from_args(p.parse_args(render_argv(config))) == dataclasses.replace(config, export=ExportConfig())


def test_addresses_and_resources():
    assert parse_address("127.0.0.1:6380") == ("127.0.0.1", 6380)
    assert parse_address("headnode") == ("headnode", 6379)
    assert parse_address("ray://127.0.0.1") == ("127.0.0.1", 10001)
    with pytest.raises(UserError, match="HOST:PORT"):
        parse_address("127.0.0.1:x")
    nodes = [{"Alive": True, "Resources": {"CPU": 8.0}}, {"Alive": True, "Resources": {"CPU": 4.0, "GPU": 2.0}}]
    assert check_resources(nodes, RayOptions("auto", threads_per_task=2)) == 6
    assert check_resources(nodes, RayOptions("auto", gpus_per_task=1)) == 2
    with pytest.raises(UserError, match="no node of the Ray cluster has 16 CPUs"):
        check_resources(nodes, RayOptions("auto", threads_per_task=16))
    assert resume_command(["render", "--out", "ds", "--ray", "auto", "--overwrite"]) == \
        "blender-coco render --out ds --ray auto --resume"


# -- real Ray ------------------------------------------------------------------------------

def test_ray_local_with_two_workers_equals_the_one_process_run(work, reference):
    out = work / "local"
    proc = run(CLI + ["render", work / "tabletop.blend", "--out", out, *SETTINGS, "--ray", "local", "--workers", "2"],
               "--ray local --workers 2")
    assert_same_dataset(out, reference)
    assert "Ray: 2 task(s) of up to 4 frame(s)" in proc.stderr  # default chunk: one task per worker
    assert re.search(r"frame 8/8 \(100%\), [\d.]+ frames/min, 0s left, 0 task\(s\) running", proc.stderr)
    assert "Traceback" not in proc.stderr and "(raylet)" not in proc.stderr


def _blender_of(out: Path, frame_range: str) -> int | None:
    """The pid of the task process rendering ``frame_range`` into ``out`` (from its command line)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(out).encode() in args and frame_range.encode() in args and b"--ray" not in args:
            return int(entry.name)
    return None


def test_a_killed_blender_is_retried_and_nothing_is_lost_or_rendered_twice(work, reference):
    out = work / "killed"
    driver = subprocess.Popen([str(c) for c in CLI + ["render", work / "tabletop.blend", "--out", out, *SETTINGS,
                                                      "--ray", "local", "--workers", "1", "--chunk", str(FRAMES)]],
                              cwd=REPO, env=ray_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    records = out / "records"
    deadline, victim = time.monotonic() + 240, None
    while time.monotonic() < deadline and driver.poll() is None:
        if (records / "000001.json").exists():
            victim = _blender_of(out, f"0:{FRAMES}")
            break
        time.sleep(0.01)
    assert victim is not None, "the task's Blender process was not found"
    os.kill(victim, signal.SIGKILL)
    kept = {p.name: p.stat().st_mtime_ns for p in records.glob("[0-9]*.json")}
    assert 2 <= len(kept) < FRAMES, sorted(kept)
    _, err = driver.communicate(timeout=300)
    assert driver.returncode == 0, err[-4000:]
    assert_same_dataset(out, reference)
    # frames finished before the kill were kept, not rendered again; no temp file is left
    assert {n: (records / n).stat().st_mtime_ns for n in kept} == kept
    assert not [p for p in out.rglob(".*.tmp")]
    assert "Blender was killed by SIGKILL" in err and ", 1 retried" in err
    assert sum(nodes_used(err).values()) == 2  # two attempts of the one task


def test_ctrl_c_of_the_driver_stops_the_tasks_and_says_how_to_resume(work, reference):
    """Ctrl-C in a terminal signals the whole process group (driver, local Ray, tasks): the driver
    cancels its tasks, exits 130 with the resume command, and that command completes the same dataset."""
    out = work / "interrupted"
    cmd = [str(c) for c in CLI + ["render", work / "tabletop.blend", "--out", out, *SETTINGS, "--ray", "local",
                                  "--workers", "1", "--chunk", str(FRAMES)]]
    driver = subprocess.Popen(cmd, cwd=REPO, env=ray_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True, start_new_session=True)
    deadline = time.monotonic() + 240
    while not (out / "records" / "000001.json").exists():
        assert driver.poll() is None and time.monotonic() < deadline, driver.stderr.read()[-3000:]
        time.sleep(0.02)
    os.killpg(driver.pid, signal.SIGINT)
    _, err = driver.communicate(timeout=120)
    assert driver.returncode == 130, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    last = err.rstrip().splitlines()[-1]
    assert last.startswith("blender-coco: stopped by Ctrl-C (SIGINT): ") and f"of {FRAMES} frame(s)" in last, last
    command = shlex.split(last.split("; continue with: ")[1])
    assert command == ["blender-coco", *cmd[3:], "--resume"]
    assert not (out / "annotations").exists()
    run(CLI + command[1:], "the resume command")
    assert_same_dataset(out, reference)


@pytest.fixture
def two_nodes():
    """A Ray head (1 CPU) and a second node (1 CPU, resource 'node2') on 127.0.0.1; yields the address."""
    code = ("import sys\nfrom ray.cluster_utils import Cluster\n"
            "c = Cluster(initialize_head=True, head_node_args={'num_cpus': 1, 'include_dashboard': False})\n"
            "c.add_node(num_cpus=1, resources={'node2': 1})\nc.wait_for_nodes()\n"
            "print(c.address, flush=True)\nsys.stdin.read()\nc.shutdown()\n")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=ray_env(), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        address = proc.stdout.readline().strip()
        assert address.startswith("127.0.0.1:"), proc.stderr.read() if proc.poll() is not None else address
        yield address
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_a_cluster_of_two_nodes_runs_tasks_on_both_with_the_same_output(work, reference, two_nodes):
    out = work / "cluster"
    proc = run(CLI + ["render", work / "tabletop.blend", "--out", out, *SETTINGS, "--ray", two_nodes, "--chunk", "2"],
               f"--ray {two_nodes}")
    assert_same_dataset(out, reference)
    used = nodes_used(proc.stderr)
    assert len(used) == 2 and sum(used.values()) == FRAMES // 2, proc.stderr[-2000:]
    assert "per task:" in proc.stderr and "from submission to start" in proc.stderr


def test_gpus_per_task_without_a_gpu_is_one_line(tmp_path):
    t0 = time.monotonic()
    proc = run(CLI + ["render", "--out", tmp_path / "ds", "--ray", "local", "--gpus-per-task", "1"], "no GPU", ok=False,
               timeout=120)
    line = one_error_line(proc)
    assert "--gpus-per-task 1: no node of the Ray cluster has 1 GPU" in line and "0 GPU" in line
    assert time.monotonic() - t0 < 60 and not (tmp_path / "ds").exists()


def test_without_ray_installed_is_one_line(tmp_path):
    code = "import sys; sys.modules['ray'] = None\nfrom blender_coco.cli import main\nsys.exit(main())"
    proc = run([sys.executable, "-c", code, "render", "--out", tmp_path / "ds", "--ray", "local"], "no ray", ok=False)
    assert one_error_line(proc) == ("blender-coco: error: --ray needs Ray, which is not installed: "
                                    "pip install 'blender-coco[ray]'")
    assert not (tmp_path / "ds").exists()


def test_an_unreachable_address_is_one_line_quickly_and_writes_nothing(tmp_path):
    with socket.socket() as s:  # a port on loopback that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    proc = run(CLI + ["render", "--out", tmp_path / "ds", "--ray", f"127.0.0.1:{port}"], "unreachable", ok=False)
    assert f"cannot reach the Ray cluster at 127.0.0.1:{port} (connection refused)" in one_error_line(proc)
    assert time.monotonic() - t0 < 20 and not (tmp_path / "ds").exists()


def test_the_slurm_recipe_run_locally_gives_the_one_process_dataset(work, reference):
    """scripts/slurm_render.sbatch once per array index (as SLURM would run them), then the export job."""
    out, n = work / "slurm", 3
    env = {**ray_env(), "BLENDER_COCO": f"{sys.executable} -m blender_coco", "SLURM_ARRAY_TASK_COUNT": str(n),
           "SLURM_CPUS_PER_TASK": "1"}
    procs = [subprocess.Popen(["bash", "scripts/slurm_render.sbatch", str(work / "tabletop.blend"), str(out), str(FRAMES),
                               *SETTINGS[:6], "--config", str(CONFIG)], cwd=REPO,
                              env={**env, "SLURM_ARRAY_TASK_ID": str(k)}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for k in range(n)]
    for k, p in enumerate(procs):
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, f"array task {k}: {err[-3000:]}"
    assert not (out / "annotations").exists()  # --no-export: only the export job writes annotations
    run(CLI + ["export", out], "the export job")
    assert_same_dataset(out, reference)


def test_tasks_in_a_stock_blender_equal_a_stock_blender_run(blender_binary, tmp_path):
    """--blender PATH: each task is 'blender -b ... -P scripts/render_coco.py' (Debian's 3.4, demo scene)."""
    args = ["--frames", "4", "--resolution", "64x48", "--samples", "1", "--python", sys.executable]
    run([blender_binary, "-b", "--python-exit-code", "1", "-P", "scripts/render_coco.py", "--", "--out",
         tmp_path / "one", *args], "one stock Blender run")
    proc = run(CLI + ["render", "--out", tmp_path / "ray", *args, "--ray", "local", "--workers", "2", "--blender",
                      blender_binary], "--ray local --blender")
    assert "Ray: 2 task(s)" in proc.stderr
    assert (tmp_path / "ray" / "annotations" / "instances.json").read_bytes() == \
        (tmp_path / "one" / "annotations" / "instances.json").read_bytes()
    assert digest(tmp_path / "ray" / "images") == digest(tmp_path / "one" / "images")


def test_frames_that_never_render_are_named_with_the_command_that_resumes_them(work, reference):
    out = work / "failed"
    driver = subprocess.Popen([str(c) for c in CLI + ["render", work / "tabletop.blend", "--out", out, *SETTINGS,
                                                      "--ray", "local", "--workers", "1", "--chunk", str(FRAMES),
                                                      "--retries", "0"]],
                              cwd=REPO, env=ray_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline, victim = time.monotonic() + 240, None
    while time.monotonic() < deadline and driver.poll() is None:
        if (out / "records" / "000001.json").exists():
            victim = _blender_of(out, f"0:{FRAMES}")
            break
        time.sleep(0.01)
    assert victim is not None
    os.kill(victim, signal.SIGKILL)
    _, err = driver.communicate(timeout=300)
    line = one_error_line(subprocess.CompletedProcess([], driver.returncode, "", err))
    done = len(list((out / "records").glob("[0-9]*.json")))
    assert f"{FRAMES - done} of {FRAMES} frame(s) never rendered: frames {done}-{FRAMES - 1} (last error: Blender " \
           "was killed by SIGKILL)" in line, line
    assert not (out / "annotations").exists()
    command = shlex.split(line.split("resume them with: ", 1)[1])
    assert command[0] == "blender-coco" and command[-1] == "--resume"
    proc = run(CLI + command[1:], "the resume command")
    assert f"resuming: {done} of {FRAMES} frame(s) already complete" in proc.stderr
    assert_same_dataset(out, reference)

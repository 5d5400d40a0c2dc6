"""Throughput of one run spread over processes: one process, Ray tasks, hand-made shards.

The same randomized run (the built-in demo scene with its own randomization, seed 0)
is rendered four ways on this machine, each a fresh set of processes timed from start
to the exported dataset (bpy start, scene, frames, export; Ray's start and stop too):

* one process with ``--threads 2``;
* ``--ray local --workers 2 --threads-per-task 1`` (default chunk: one task per worker);
* the same with ``--chunk 6`` (4 tasks per worker: the cost of a task's scene load);
* two shards by hand (``--shard k/2 --threads 1 --no-export``) in parallel, then
  ``blender-coco export``.

Every variant must give byte-identical annotations. Also printed: Ray's overhead per
task, from the driver's log: submission to start (Ray scheduling a worker) and start to
first frame written (Blender start, scene load, one frame).

    python benchmarks/scale_out.py                    # 48 frames, 320x240, 16 samples
    python benchmarks/scale_out.py --frames 8 --resolution 64x48 --samples 1
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "blender_coco"]


def _run_all(cmds: list[list[str]]) -> tuple[float, str]:
    """Run the commands in parallel; (wall seconds, stderr of the first)."""
    t0 = time.perf_counter()
    procs = [subprocess.Popen(c, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for c in cmds]
    errs = [p.communicate()[1] for p in procs]
    elapsed = time.perf_counter() - t0
    for c, p, e in zip(cmds, procs, errs):
        if p.returncode != 0:
            sys.exit(f"failed ({p.returncode}): {' '.join(c)}\n{e[-3000:]}")
    return elapsed, errs[0]


def variants(out: Path, common: list[str]) -> dict[str, list[list[list[str]]]]:
    """name -> steps; each step is a list of commands run in parallel."""
    render = CLI + ["render", *common]
    return {
        "1 process x 2 threads": [[render + ["--out", str(out / "one"), "--threads", "2"]]],
        "--ray local, 2 tasks x 1 thread": [[render + ["--out", str(out / "ray"), "--ray", "local", "--workers", "2"]]],
        "--ray local --chunk 6, 8 tasks x 1 thread": [[render + ["--out", str(out / "ray6"), "--ray", "local",
                                                                 "--workers", "2", "--chunk", "6"]]],
        "2 shards by hand x 1 thread, then export": [
            [render + ["--out", str(out / "shards"), "--shard", f"{k}/2", "--threads", "1", "--no-export"]
             for k in range(2)],
            [CLI + ["export", str(out / "shards")]]],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--resolution", default="320x240")
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=1, help="runs per variant (alternating); the fastest counts")
    args = ap.parse_args()
    common = ["--frames", str(args.frames), "--resolution", args.resolution, "--samples", str(args.samples)]
    best: dict[str, float] = {}
    overhead = ""
    with tempfile.TemporaryDirectory(prefix="scale_out_") as tmp:
        for r in range(args.repeat):
            out = Path(tmp) / f"run{r}"
            for name, steps in variants(out, common).items():
                total = 0.0
                for step in steps:
                    seconds, err = _run_all(step)
                    total += seconds
                    m = re.search(r"per task: ([\d.]+) s from submission to start.*?, ([\d.]+) s from start to its "
                                  r"first frame", err)
                    if m and name.startswith("--ray local, 2"):
                        overhead = f"Ray overhead per task: {m.group(1)} s submission -> start, {m.group(2)} s start " \
                                   "-> first frame written (median)"
                best[name] = min(best.get(name, float("inf")), total)
            ref = (out / "one" / "annotations" / "instances.json").read_bytes()
            for folder in ("ray", "ray6", "shards"):
                if (out / folder / "annotations" / "instances.json").read_bytes() != ref:
                    sys.exit(f"{folder}: annotations differ from the one-process run")
    shards = best["2 shards by hand x 1 thread, then export"]
    print(f"{args.frames} frames, {args.resolution}, {args.samples} samples, demo scene randomized; wall time from "
          f"start to exported dataset (best of {args.repeat})")
    print(f"{'variant':44} {'seconds':>8} {'frames/min':>11} {'vs shards':>10}")
    for name, seconds in best.items():
        print(f"{name:44} {seconds:8.1f} {args.frames / seconds * 60:11.1f} {(seconds / shards - 1) * 100:+9.1f}%")
    print(overhead)
    print("annotations byte-identical across variants: yes")


if __name__ == "__main__":
    main()

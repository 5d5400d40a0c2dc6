"""Per-frame cost of ``blender-coco render`` against a bare Cycles render of the same scene.

Both variants run as fresh bpy-module processes with the same scene (the demo
scene, or ``--scene``), resolution, samples, device and frames:

* bare: ``bpy.ops.render.render(write_still=True)`` per frame, writing only a PNG;
* full: the whole ``blender-coco render`` command: object-index and depth passes,
  PNG + multilayer EXR + JSON sidecar per frame, scene restore and COCO export.

Each variant's wall time covers its whole process (import bpy, build or open the
scene, render, write), divided by the frame count. With ``--repeat`` the variants
alternate and the fastest run of each counts (the machine may be shared).

    python benchmarks/render_overhead.py                      # 640x480, 32 samples, 20 frames
    python benchmarks/render_overhead.py --resolution 160x120 --samples 4 --frames 4
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

BARE = r"""
import sys
import bpy
from blender_coco.blender import demo_scene, session
from blender_coco.blender.pipeline import scene_frame

scene_path, out, width, height, samples, frames = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:7])
scene = session.open_blend(scene_path) if scene_path else demo_scene.new_scene()
r = scene.render
r.engine = "CYCLES"
r.resolution_x, r.resolution_y, r.resolution_percentage = width, height, 100
scene.cycles.samples = samples
scene.cycles.device = "CPU"
r.image_settings.file_format = "PNG"
r.image_settings.color_mode = "RGB"
r.image_settings.color_depth = "8"
for i in range(frames):
    scene.frame_set(scene_frame(scene, i))
    r.filepath = f"{out}/{i:06d}.png"
    bpy.ops.render.render(write_still=True)
"""


def _timed(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"benchmark run failed ({' '.join(cmd[:4])} ...):\n{proc.stderr[-2000:]}")
    return elapsed, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scene", default="", help=".blend to render (default: the built-in demo scene)")
    p.add_argument("--resolution", default="640x480", help="WIDTHxHEIGHT (default 640x480)")
    p.add_argument("--samples", type=int, default=32, help="Cycles samples (default 32)")
    p.add_argument("--frames", type=int, default=20, help="frames per run (default 20)")
    p.add_argument("--repeat", type=int, default=1, help="runs per variant; the fastest counts (default 1)")
    args = p.parse_args(argv)
    width, height = (int(v) for v in args.resolution.lower().split("x"))
    best = {"bare": (float("inf"), float("inf")), "full": (float("inf"), float("inf"))}
    with tempfile.TemporaryDirectory(prefix="render_overhead_") as tmp:
        for rep in range(args.repeat):
            for variant in (("bare", "full") if rep % 2 == 0 else ("full", "bare")):
                out = Path(tmp) / f"{variant}{rep}"
                out.mkdir()
                if variant == "bare":
                    cmd = [sys.executable, "-c", BARE, args.scene, str(out), str(width), str(height),
                           str(args.samples), str(args.frames)]
                else:
                    cmd = [sys.executable, "-m", "blender_coco", "-q", "render", *([args.scene] if args.scene else []),
                           "--out", str(out), "--resolution", f"{width}x{height}", "--samples", str(args.samples),
                           "--frames", str(args.frames), "--no-randomize"]  # the bare render is not randomized either
                wall, cpu = _timed(cmd)
                best[variant] = (min(best[variant][0], wall), min(best[variant][1], cpu))
    n = args.frames
    (bare_wall, bare_cpu), (full_wall, full_cpu) = best["bare"], best["full"]
    print(f"scene: {args.scene or 'demo'}, {width}x{height}, {args.samples} samples, CPU, {n} frames, "
          f"best of {args.repeat} run(s) per variant (whole processes: import, scene, frames, export)")
    print()
    print("| variant | frames | wall s/frame | CPU s/frame |")
    print("|---|---:|---:|---:|")
    print(f"| bare `bpy.ops.render.render(write_still=True)`, PNG only | {n} | {bare_wall / n:.3f} | {bare_cpu / n:.3f} |")
    print(f"| `blender-coco render` (passes, PNG + EXR + sidecar, export) | {n} | {full_wall / n:.3f} | "
          f"{full_cpu / n:.3f} |")
    print(f"| overhead | | {100 * (full_wall - bare_wall) / bare_wall:+.1f}% | "
          f"{100 * (full_cpu - bare_cpu) / bare_cpu:+.1f}% |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

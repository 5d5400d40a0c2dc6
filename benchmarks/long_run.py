"""A long randomized run of the demo scene: speed, and memory staying flat.

Renders ``--frames`` (300) frames of the built-in demo scene at a small size (64x48,
1 sample) with scenes/randomize_demo.toml plus a world image and material textures
drawn per frame from a folder of generated images (so that images are loaded and
released every frame), in a fresh bpy-module process. A progress callback reads
``/proc/self/status`` (VmHWM = peak resident memory, VmRSS = current) after every
frame; the report gives frames per minute and the memory after frame 30 and after
the last frame. Target: peak after the last frame <= 1.10 x peak after frame 30.

    .venv/bin/python benchmarks/long_run.py                   # 300 frames, 64x48, 1 sample
    .venv/bin/python benchmarks/long_run.py --frames 100 --resolution 96x72
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

RUN = r"""
import json, sys, time
import bpy
from blender_coco.blender import demo_scene, pipeline
from blender_coco.config import RenderConfig

out, config, width, height, frames = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
marks = {}

def status():
    fields = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                fields[key] = int(value.split()[0]) / 1024.0  # MiB
    return fields

t = {}
def progress(done, total):
    if done == 1:
        t["first"] = time.monotonic()
    if done in (1, 30, total) or done % 50 == 0:
        marks[done] = dict(status(), images=len(bpy.data.images), objects=len(bpy.data.objects),
                           lights=len(bpy.data.lights), worlds=len(bpy.data.worlds))
    if done == total:
        t["last"] = time.monotonic()

scene = demo_scene.new_scene()
t0 = time.monotonic()
pipeline.render_dataset(RenderConfig(out=out, frames=frames, resolution=(width, height), samples=1, randomize=config),
                        scene, progress=progress)
print("RESULT " + json.dumps({"marks": marks, "render_seconds": t["last"] - t["first"], "frames": frames,
                              "total_seconds": time.monotonic() - t0}))
"""


def make_config(folder: Path) -> Path:
    """scenes/randomize_demo.toml plus a world image and material textures from a folder of 6 images."""
    from PIL import Image

    images = folder / "images"
    images.mkdir()
    for k in range(6):
        Image.new("RGB", (256, 128), (40 * k, 255 - 40 * k, 128)).save(images / f"img{k}.png")
    data = tomllib.loads((REPO / "scenes" / "randomize_demo.toml").read_text())
    data["world"].update(images=str(images), image_probability=0.5, rotation=[0, 360])
    data["materials"][0].update(textures=str(images), texture_probability=0.5)
    path = folder / "randomize.json"
    path.write_text(json.dumps(data))
    return path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--resolution", default="64x48")
    args = p.parse_args()
    width, height = map(int, args.resolution.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        config = make_config(Path(tmp))
        proc = subprocess.run([sys.executable, "-c", RUN, str(Path(tmp) / "ds"), str(config), str(width), str(height),
                               str(args.frames)], capture_output=True, text=True, cwd=REPO,
                              env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
        if proc.returncode != 0:
            print(proc.stderr[-3000:], file=sys.stderr)
            return 1
        result = json.loads(next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))[7:])
    marks = {int(k): v for k, v in result["marks"].items()}
    rate = (args.frames - 1) / result["render_seconds"] * 60
    print(f"demo scene, {args.frames} frames at {width}x{height}, 1 sample, scenes/randomize_demo.toml "
          f"+ world images + textures")
    print(f"{rate:.0f} frames/min ({60 / rate:.2f} s/frame) while rendering; whole run {result['total_seconds']:.0f} s "
          "(bpy start, scene, render, export)")
    print(f"{'after frame':>12} {'VmHWM MiB':>10} {'VmRSS MiB':>10} {'images':>7} {'objects':>8} {'lights':>7} {'worlds':>7}")
    for done in sorted(marks):
        m = marks[done]
        print(f"{done:>12} {m['VmHWM']:>10.1f} {m['VmRSS']:>10.1f} {m['images']:>7} {m['objects']:>8} "
              f"{m['lights']:>7} {m['worlds']:>7}")
    last = max(marks)
    ratio = marks[last]["VmHWM"] / marks[30]["VmHWM"]
    print(f"peak memory after frame {last} / after frame 30: {ratio:.3f} (target <= 1.10)")
    return 0 if ratio <= 1.10 else 1


if __name__ == "__main__":
    sys.exit(main())

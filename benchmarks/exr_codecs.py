"""Size and speed of the passes EXR per codec: DWAB (the default) against ZIP (read inside Blender).

One bpy-module process renders the demo scene once (object-index and depth passes on,
as ``blender-coco render`` sets them) and saves the Render Result as a multilayer
32-bit EXR with each codec, as :func:`blender_coco.blender.image_format.use_exr_multilayer`
does. Then this process reads each file's index and depth passes with the OpenEXR
library and with blender-coco's numpy reader (:mod:`blender_coco.records.exr`; it
decodes NONE, RLE, ZIPS and ZIP only) and checks both give the same pixels. Times are
the fastest of ``--repeat`` reads.

    python benchmarks/exr_codecs.py                       # 640x480, 16 samples
    python benchmarks/exr_codecs.py --resolution 1920x1080
    python benchmarks/exr_codecs.py --blender /usr/bin/blender  # Blender 3.4: one part
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CODECS = ("DWAB", "DWAA", "ZIP", "ZIPS", "PXR24", "PIZ", "RLE", "NONE")

WRITER = r"""
import json, sys, time
from pathlib import Path
argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
sys.path.insert(0, argv[0])
import bpy
from blender_coco.blender import demo_scene, image_format

out, width, height, samples = Path(argv[1]), int(argv[2]), int(argv[3]), int(argv[4])
codecs = argv[5].split(",")
scene = demo_scene.new_scene()
r = scene.render
r.engine = "CYCLES"
r.resolution_x, r.resolution_y, r.resolution_percentage = width, height, 100
scene.cycles.samples = samples
scene.cycles.use_denoising = False
layer = scene.view_layers[0]
layer.use_pass_object_index = True
layer.use_pass_z = True
bpy.ops.render.render()
result = bpy.data.images["Render Result"]
times = {}
for codec in codecs:
    image_format.use_exr_multilayer(r.image_settings, codec)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        result.save_render(filepath=str(out / f"{codec}.exr"), scene=scene)
        best = min(best, time.perf_counter() - t0)
    times[codec] = best
print("TIMES " + json.dumps(times))
"""


def _best(fn, repeat: int) -> tuple[float, object]:
    best, value = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - t0)
    return best, value


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--resolution", default="640x480")
    p.add_argument("--samples", type=int, default=16)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--blender", help="write with this Blender binary (e.g. /usr/bin/blender: 3.4, single-part "
                                     "files) instead of the bpy module (5.0: a part per pass)")
    args = p.parse_args()
    width, height = map(int, args.resolution.split("x"))

    import OpenEXR

    from blender_coco.records import exr
    from blender_coco.records.passes import _wanted

    def with_openexr(path: Path) -> dict:
        f = OpenEXR.File(str(path), separate_channels=True)
        return {n: c.pixels for part in f.parts for n, c in part.channels.items() if _wanted(n)}

    with tempfile.TemporaryDirectory() as tmp:
        writer_args = [str(REPO), tmp, str(width), str(height), str(args.samples), ",".join(CODECS)]
        writer = ([args.blender, "-b", "--factory-startup", "--python-exit-code", "1", "--python-expr", WRITER, "--"]
                  if args.blender else [sys.executable, "-c", WRITER])
        proc = subprocess.run(writer + writer_args, cwd=REPO, capture_output=True, text=True)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("TIMES ")]
        if proc.returncode != 0 or not lines:
            print(proc.stderr[-3000:], file=sys.stderr)
            return 1
        write_times = json.loads(lines[-1][len("TIMES "):])
        dwab = (Path(tmp) / "DWAB.exr").stat().st_size
        print(f"demo scene {width}x{height}, {args.samples} samples, written by {args.blender or 'the bpy module'} "
              f"(fastest of 3 writes, {args.repeat} reads)")
        print(f"{'codec':<6} {'MB':>7} {'x DWAB':>7} {'write ms':>9} {'OpenEXR ms':>11} {'numpy ms':>9}  same pixels")
        for codec in CODECS:
            path = Path(tmp) / f"{codec}.exr"
            size = path.stat().st_size
            t_lib, ref = _best(lambda: with_openexr(path), args.repeat)
            try:
                t_np, ours = _best(lambda: exr.read_channels(path, _wanted), args.repeat)
                same = "yes" if set(ours) == set(ref) and all(np.array_equal(ours[k], ref[k]) for k in ref) else "NO"
                np_ms = f"{1000 * t_np:9.1f}"
            except exr.ExrError:
                np_ms, same = f"{'-':>9}", "(not decoded)"
            print(f"{codec:<6} {size / 1e6:7.2f} {size / dwab:7.1f} {1000 * write_times[codec]:9.1f} "
                  f"{1000 * t_lib:11.1f} {np_ms}  {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

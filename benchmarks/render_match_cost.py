"""Cost of matching the viewport's settings to the render's (blender/render_match.py), per frame.

A run calls ``RenderMatch.apply()`` once at the start and once per frame (after the frame
hooks). This times both calls on scenes of N objects, each with a Subdivision Surface and
a Bevel modifier whose viewport settings differ from the render's, in one bpy-module
process, side by side with one Cycles render of the same scene (64x48, 1 sample), so the
ratio shows what a frame pays:

    python benchmarks/render_match_cost.py                    # 200, 2000 and 10000 objects
    python benchmarks/render_match_cost.py --objects 500 5000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's blender_coco


def measure(n: int) -> tuple[float, float, float]:
    import bpy

    from blender_coco.blender.guard import SettingsGuard
    from blender_coco.blender.render_match import RenderMatch

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.samples = 1
    scene.cycles.use_denoising = False
    scene.render.resolution_x, scene.render.resolution_y = 64, 48
    cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    cam.location = (0.0, 0.0, 50.0)
    scene.collection.objects.link(cam)
    scene.camera = cam
    mesh = bpy.data.meshes.new("tri")
    mesh.from_pydata([(0, 0, 0), (1, 0, 0), (0, 1, 0)], [], [(0, 1, 2)])
    for i in range(n):
        obj = bpy.data.objects.new(f"o{i}", mesh)
        obj.location = (i % 100 - 50, i // 100 - 50, 0)
        scene.collection.objects.link(obj)
        sub = obj.modifiers.new("sub", "SUBSURF")
        sub.levels, sub.render_levels = 0, 1
        obj.modifiers.new("bevel", "BEVEL").show_viewport = False
    guard = SettingsGuard()
    match = RenderMatch(scene, bpy.context.view_layer, guard)
    t0 = time.perf_counter()
    match.apply()
    t1 = time.perf_counter()
    match.apply()
    t2 = time.perf_counter()
    bpy.ops.render.render(write_still=False)
    t3 = time.perf_counter()
    guard.restore()
    return (t1 - t0) * 1000, (t2 - t1) * 1000, (t3 - t2) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, nargs="+", default=[200, 2000, 10000])
    args = parser.parse_args()
    print(f"{'objects':>8} {'first apply ms':>15} {'per-frame apply ms':>19} {'render ms':>10} {'apply/render':>13}")
    for n in args.objects:
        first, again, render = measure(n)
        print(f"{n:>8} {first:>15.1f} {again:>19.1f} {render:>10.0f} {again / render:>12.1%}")


if __name__ == "__main__":
    main()

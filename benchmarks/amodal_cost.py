"""Cost of amodal masks against the render of the same frame, and against one render per object.

One bpy-module process builds a frame of N marked objects (UV spheres, subdivided
monkeys, cubes, cones, cylinders; random poses, overlapping) under a perspective camera
(plus an unmarked floor), then times, side by side and in this order:

* render: the frame as ``blender-coco render`` renders it (Cycles, the given samples,
  object-index and depth passes);
* amodal: :func:`blender_coco.blender.amodal.frame_amodal` for all N objects (evaluated
  meshes -> camera-space triangles -> pixel-centre rasterization -> RLE), with numpy and
  with the pure-Python rasterizer a Blender without numpy uses;
* per object: the naive way, one cheap index-only Cycles render per object with every
  other object hidden (1 sample, no bounces, no shading work beyond the first hit).

It also counts how many amodal pixels differ from the per-object index renders
(the rasterizer's accuracy on this frame). ``--repeat`` keeps the fastest of each.

    python benchmarks/amodal_cost.py                     # 30 objects, 640x480, 32 samples
    python benchmarks/amodal_cost.py --objects 10 --resolution 160x120 --samples 4
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import json, math, random, sys, time
import bpy
import numpy as np
from blender_coco.blender import amodal, marking
from blender_coco.records.passes import read_passes

n, width, height, samples, repeat, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
r = scene.render
r.engine = "CYCLES"
r.resolution_x, r.resolution_y, r.resolution_percentage = width, height, 100
scene.cycles.samples = samples
scene.cycles.use_denoising = False
scene.cycles.device = "CPU"
layer = bpy.context.view_layer
layer.use_pass_object_index = True
layer.use_pass_z = True
rng = random.Random(1)
adders = [lambda **k: bpy.ops.mesh.primitive_uv_sphere_add(radius=0.5, segments=48, ring_count=24, **k),
          lambda **k: bpy.ops.mesh.primitive_monkey_add(size=0.9, **k),
          lambda **k: bpy.ops.mesh.primitive_cube_add(size=0.8, **k),
          lambda **k: bpy.ops.mesh.primitive_cone_add(radius1=0.5, depth=1.0, vertices=64, **k),
          lambda **k: bpy.ops.mesh.primitive_cylinder_add(radius=0.4, depth=1.0, vertices=64, **k)]
objects = []
for i in range(n):
    adders[i % 5](location=(rng.uniform(-3.5, 3.5), rng.uniform(-2.0, 3.0), rng.uniform(-1.5, 1.5)),
                  rotation=(rng.uniform(0, 3), rng.uniform(0, 3), rng.uniform(0, 3)))
    obj = bpy.context.object
    obj.name = f"obj{i:02d}"
    if i % 5 == 1:
        mod = obj.modifiers.new("sub", "SUBSURF"); mod.levels = mod.render_levels = 2
    marking.mark(obj, "thing")
    obj.pass_index = i + 1
    objects.append(obj)
bpy.ops.mesh.primitive_plane_add(size=30, location=(0, 0, -2.2))
floor = bpy.context.object
bpy.ops.object.light_add(type="SUN", location=(0, 0, 10))
cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
cam.location = (0.0, -10.0, 2.5); cam.rotation_euler = (math.radians(78), 0.0, 0.0)
scene.collection.objects.link(cam); scene.camera = cam
bpy.context.view_layer.update()
depsgraph = bpy.context.evaluated_depsgraph_get()
triangles = sum(len(o.evaluated_get(depsgraph).data.polygons) for o in objects)

def best(fn):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter(); value = fn(); times.append(time.perf_counter() - t0)
    return min(times), value

render_s, _ = best(lambda: bpy.ops.render.render(write_still=False))
wanted = {o.pass_index for o in objects}
amodal_s, masks = best(lambda: amodal.frame_amodal(scene, layer, cam, wanted))
with_numpy = amodal.has_numpy
amodal.has_numpy = lambda: False  # what a Blender without numpy (Debian's 3.4) runs
pure_s, pure = best(lambda: amodal.frame_amodal(scene, layer, cam, wanted))
amodal.has_numpy = with_numpy
same = all(pure[i] == masks[i] for i in masks)

def per_object():
    s = scene.cycles
    saved = (s.samples, s.max_bounces, r.use_persistent_data)
    s.samples, s.max_bounces, r.use_persistent_data = 1, 0, True
    settings = r.image_settings
    if hasattr(settings, "media_type"):
        settings.media_type = "MULTI_LAYER_IMAGE"
    settings.file_format = "OPEN_EXR_MULTILAYER"
    alone = {}
    for obj in objects:
        for other in objects + [floor]:
            other.hide_render = other is not obj
        bpy.ops.render.render(write_still=False)
        path = f"{out}/alone.exr"
        bpy.data.images["Render Result"].save_render(filepath=path, scene=scene)
        mask, _ = read_passes(path, width, height)
        alone[obj.pass_index] = mask == obj.pass_index
    for other in objects + [floor]:
        other.hide_render = False
    s.samples, s.max_bounces, r.use_persistent_data = saved
    return alone

naive_s, alone = best(per_object)
from pycocotools import mask as mu
differ = 0
pixels = 0
for index, truth in alone.items():
    got = mu.decode({"size": [height, width], "counts": masks[index].counts.encode()}).astype(bool)
    differ += int((got != truth).sum()); pixels += int(truth.sum())
print("RESULT" + json.dumps({"render": render_s, "amodal": amodal_s, "pure": pure_s, "same": same,
                             "naive": naive_s, "triangles": triangles,
                             "differ": differ, "pixels": pixels}))
"""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--objects", type=int, default=30)
    p.add_argument("--resolution", default="640x480")
    p.add_argument("--samples", type=int, default=32)
    p.add_argument("--repeat", type=int, default=2)
    args = p.parse_args()
    width, height = (int(v) for v in args.resolution.lower().split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, "-c", SCRIPT, str(args.objects), str(width), str(height),
                               str(args.samples), str(args.repeat), tmp],
                              cwd=REPO, capture_output=True, text=True, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")), None)
    if proc.returncode != 0 or line is None:
        sys.stderr.write(proc.stderr[-3000:])
        return 1
    res = json.loads(line[len("RESULT"):])
    render = res["render"]
    print(f"{args.objects} objects ({res['triangles']} evaluated faces), {width}x{height}, {args.samples} samples, "
          f"best of {args.repeat}")
    print("| what | seconds | share of the render |")
    print("|---|---:|---:|")
    print(f"| render ({args.samples} samples, index + depth passes) | {render:.3f} | 100 % |")
    print(f"| amodal masks, rasterized ({args.objects} objects) | {res['amodal']:.3f} | {100 * res['amodal'] / render:.1f} % |")
    print(f"| amodal masks, pure Python (a Blender without numpy) | {res['pure']:.3f} | "
          f"{100 * res['pure'] / render:.1f} % |")
    print(f"| one index-only render per object (1 sample, no bounces) | {res['naive']:.3f} | "
          f"{100 * res['naive'] / render:.1f} % |")
    print(f"\nrasterized vs per-object index renders: {res['differ']} of {res['pixels']} object pixels differ; "
          f"pure Python and numpy records {'identical' if res['same'] else 'DIFFER'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

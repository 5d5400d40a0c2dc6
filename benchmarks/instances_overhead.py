"""Per-frame cost of coverage masks on a scene of 50 scattered instances (issue 10).

Three variants render the same scene (a geometry-nodes scatter of 50 marked cubes on
a floor, one sun light) at the same resolution, samples and frames, each in a fresh
bpy-module process, timed from the first render to the end of the export:

* bare: ``bpy.ops.render.render(write_still=True)`` per frame, a PNG only;
* before: ``render_dataset`` from another checkout (``--before``, default /work/main):
  object-index + depth passes, one annotation for all copies;
* now: ``render_dataset`` from this checkout: + Cryptomatte object layer and the
  instance-id AOV, one annotation per copy.

The variants alternate ``--repeat`` times and the fastest run of each counts (the
machine may be shared). Wall time suffers from other processes on a shared machine;
CPU time (every thread of the process: Cycles, passes, file writing, export) much less,
so the table shows both.

    python benchmarks/instances_overhead.py                     # 640x480, 32 samples, 3 frames
    python benchmarks/instances_overhead.py --frames 2 --repeat 1
    python benchmarks/instances_overhead.py --before ../other-checkout
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SCENE = r"""
import json, sys, time
import bpy

variant, out, width, height, samples, frames = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:7])
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
r = scene.render
r.engine = "CYCLES"
r.resolution_x, r.resolution_y, r.resolution_percentage = width, height, 100
scene.cycles.samples = samples
scene.cycles.device = "CPU"
scene.cycles.use_denoising = False
cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
cam.location = (0, -14, 10); cam.rotation_euler = (0.95, 0, 0)
scene.collection.objects.link(cam); scene.camera = cam
sun = bpy.data.objects.new("Sun", bpy.data.lights.new("Sun", "SUN")); sun.rotation_euler = (0.6, 0.2, 0)
scene.collection.objects.link(sun)
floor = bpy.data.meshes.new("floor"); floor.from_pydata([(-20,-20,0),(20,-20,0),(20,20,0),(-20,20,0)], [], [(0,1,2,3)])
scene.collection.objects.link(bpy.data.objects.new("Floor", floor))
import bmesh
mesh = bpy.data.meshes.new("cube"); bm = bmesh.new(); bmesh.ops.create_cube(bm, size=0.8); bm.to_mesh(mesh)
mat = bpy.data.materials.new("M"); mat.use_nodes = True; mesh.materials.append(mat)
tree = mat.node_tree; info = tree.nodes.new("ShaderNodeObjectInfo")
tree.links.new(info.outputs["Random"], tree.nodes["Principled BSDF"].inputs["Base Color"])
src = bpy.data.objects.new("Cube", mesh); src.location = (0, 0, -50); scene.collection.objects.link(src)
src["coco_category"] = "cube"
import random
rng = random.Random(0)
pts = bpy.data.meshes.new("pts")
pts.from_pydata([(rng.uniform(-6, 6), rng.uniform(-4, 6), 0.4) for _ in range(50)], [], [])
scatter = bpy.data.objects.new("Scatter", pts); scene.collection.objects.link(scatter)
group = bpy.data.node_groups.new("Scatter", "GeometryNodeTree")
group.interface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
group.interface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
gin, gout = group.nodes.new("NodeGroupInput"), group.nodes.new("NodeGroupOutput")
iop = group.nodes.new("GeometryNodeInstanceOnPoints"); oi = group.nodes.new("GeometryNodeObjectInfo")
oi.inputs["Object"].default_value = src
group.links.new(gin.outputs[0], iop.inputs["Points"]); group.links.new(oi.outputs["Geometry"], iop.inputs["Instance"])
group.links.new(iop.outputs["Instances"], gout.inputs[0])
scatter.modifiers.new("Scatter", "NODES").node_group = group
scene.frame_start, scene.frame_end = 1, frames
t0, c0 = time.perf_counter(), time.process_time()
annotations = None
if variant == "bare":
    r.image_settings.file_format = "PNG"
    for i in range(frames):
        scene.frame_set(1 + i)
        r.filepath = f"{out}/{i:06d}.png"
        bpy.ops.render.render(write_still=True)
else:
    from blender_coco.blender import pipeline
    from blender_coco.config import RenderConfig
    result = pipeline.render_dataset(RenderConfig(out=out, frames=frames), scene)
    data = json.load(open(result.files["instances"]))
    annotations = len(data["annotations"]) / frames
seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
json.dump({"per_frame": seconds / frames, "cpu_per_frame": cpu / frames, "annotations": annotations},
          open(out + "/timing.json", "w"))
"""


def run(variant: str, checkout: Path, args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, PYTHONPATH=str(checkout))
        proc = subprocess.run([sys.executable, "-c", SCENE, variant, tmp, str(args.width), str(args.height),
                               str(args.samples), str(args.frames)], cwd=checkout, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            sys.exit(f"{variant} failed:\n{proc.stderr[-3000:]}")
        return json.loads((Path(tmp) / "timing.json").read_text())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--resolution", default="640x480")
    p.add_argument("--samples", type=int, default=32)
    p.add_argument("--frames", type=int, default=3)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--before", type=Path, default=None,
                   help="a checkout of the pipeline to compare with (default: git archive of --before-rev)")
    p.add_argument("--before-rev", default="5e80b91", help="the commit before issue 10 (default 5e80b91)")
    args = p.parse_args()
    if args.before is None:
        keep = tempfile.TemporaryDirectory()
        args.before = Path(keep.name)
        archive = subprocess.run(["git", "archive", args.before_rev], cwd=REPO, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(args.before)], input=archive, check=True)
    args.width, args.height = map(int, args.resolution.split("x"))
    best: dict[str, dict] = {}
    for _ in range(args.repeat):
        for variant, checkout in (("bare", REPO), ("before", args.before), ("now", REPO)):
            got = run("bare" if variant == "bare" else "pipeline", checkout, args)
            old = best.setdefault(variant, got)
            for key in ("per_frame", "cpu_per_frame"):
                old[key] = min(old[key], got[key])
    bare, bare_cpu = best["bare"]["per_frame"], best["bare"]["cpu_per_frame"]
    print(f"{args.width}x{args.height}, {args.samples} samples, {args.frames} frames, 50 scattered instances, "
          f"best of {args.repeat}")
    print(f"{'variant':<8} {'wall s/frame':>12} {'vs bare':>8} {'CPU s/frame':>12} {'vs bare':>8} "
          f"{'annotations/frame':>18}")
    for variant in ("bare", "before", "now"):
        b = best[variant]
        ann = "-" if b["annotations"] is None else f"{b['annotations']:.0f}"
        print(f"{variant:<8} {b['per_frame']:12.2f} {b['per_frame'] / bare - 1:+8.1%} {b['cpu_per_frame']:12.2f} "
              f"{b['cpu_per_frame'] / bare_cpu - 1:+8.1%} {ann:>18}")


if __name__ == "__main__":
    main()

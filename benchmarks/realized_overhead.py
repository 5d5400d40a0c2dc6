"""Per-frame cost of splitting realized geometry-node instances (blender/realized.py).

One scene (a geometry-nodes scatter of N marked cubes on a floor, one sun light, as in
benchmarks/instances_overhead.py), three variants, each in a fresh bpy-module process,
timed from the first render to the end of the export:

* bare: the scatter with Realize Instances + Set Position, ``bpy.ops.render.render`` per
  frame, a PNG only;
* unrealized: ``render_dataset`` of the scatter without the realize (copies are
  depsgraph instances: one annotation each, the path issue 10 built first);
* realized: ``render_dataset`` of the realized scatter (tagged copies, the muted-realize
  probe each frame for the copies' sources, one annotation each).

Also printed: seconds per frame in ``realized.frame_pieces`` and in its probe. The variants
alternate ``--repeat`` times and the fastest run of each counts (the machine may be shared).

    python benchmarks/realized_overhead.py                      # 640x480, 32 samples, 3 frames, 50 copies
    python benchmarks/realized_overhead.py --copies 1000 --cuts 20 --resolution 320x240 --samples 4 --frames 2 --repeat 1
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

variant, out, width, height, samples, frames, copies, cuts = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:9])
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
mesh = bpy.data.meshes.new("cube"); bm = bmesh.new(); bmesh.ops.create_cube(bm, size=0.8)
if cuts:  # a detailed copy: 6 * (cuts + 1)**2 faces
    bmesh.ops.subdivide_edges(bm, edges=bm.edges[:], cuts=cuts, use_grid_fill=True)
bm.to_mesh(mesh)
mat = bpy.data.materials.new("M"); mat.use_nodes = True; mesh.materials.append(mat)
tree = mat.node_tree; info = tree.nodes.new("ShaderNodeObjectInfo")
tree.links.new(info.outputs["Random"], tree.nodes["Principled BSDF"].inputs["Base Color"])
src = bpy.data.objects.new("Cube", mesh); src.location = (0, 0, -50); scene.collection.objects.link(src)
src["coco_category"] = "cube"
import random
rng = random.Random(0)
pts = bpy.data.meshes.new("pts")
pts.from_pydata([(rng.uniform(-6, 6), rng.uniform(-4, 6), 0.4) for _ in range(copies)], [], [])
scatter = bpy.data.objects.new("Scatter", pts); scene.collection.objects.link(scatter)
group = bpy.data.node_groups.new("Scatter", "GeometryNodeTree")
group.interface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
group.interface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
gin, gout = group.nodes.new("NodeGroupInput"), group.nodes.new("NodeGroupOutput")
iop = group.nodes.new("GeometryNodeInstanceOnPoints"); oi = group.nodes.new("GeometryNodeObjectInfo")
oi.inputs["Object"].default_value = src
group.links.new(gin.outputs[0], iop.inputs["Points"]); group.links.new(oi.outputs["Geometry"], iop.inputs["Instance"])
if variant == "unrealized":
    group.links.new(iop.outputs["Instances"], gout.inputs[0])
else:  # the copies realized, then a Set Position (a node after the realize, left as it is)
    realize = group.nodes.new("GeometryNodeRealizeInstances"); move = group.nodes.new("GeometryNodeSetPosition")
    group.links.new(iop.outputs["Instances"], realize.inputs[0]); group.links.new(realize.outputs[0], move.inputs[0])
    group.links.new(move.outputs[0], gout.inputs[0])
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
    spent = {}
else:
    from blender_coco.blender import pipeline, realized
    from blender_coco.config import RenderConfig
    spent = {"frame_pieces": 0.0, "probe": 0.0}
    def timed(func, key):
        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return func(*a, **k)
            finally:
                spent[key] += time.perf_counter() - t
        return wrapper
    realized._probe = timed(realized._probe, "probe")
    pipeline.realized.frame_pieces = timed(realized.frame_pieces, "frame_pieces")
    result = pipeline.render_dataset(RenderConfig(out=out, frames=frames), scene)
    data = json.load(open(result.files["instances"]))
    annotations = len(data["annotations"]) / frames
seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
json.dump({"per_frame": seconds / frames, "cpu_per_frame": cpu / frames, "annotations": annotations,
           **{k: v / frames for k, v in spent.items()}},
          open(out + "/timing.json", "w"))
"""


def run(variant: str, args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, PYTHONPATH=str(REPO))
        proc = subprocess.run([sys.executable, "-c", SCENE, variant, tmp, str(args.width), str(args.height),
                               str(args.samples), str(args.frames), str(args.copies), str(args.cuts)], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            sys.exit(f"{variant} failed:\n{proc.stderr[-3000:]}")
        return json.loads((Path(tmp) / "timing.json").read_text())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--resolution", default="640x480")
    p.add_argument("--samples", type=int, default=32)
    p.add_argument("--frames", type=int, default=3)
    p.add_argument("--copies", type=int, default=50)
    p.add_argument("--cuts", type=int, default=0, help="subdivide each cube: 6 * (cuts + 1)**2 faces a copy")
    p.add_argument("--repeat", type=int, default=2)
    args = p.parse_args()
    args.width, args.height = map(int, args.resolution.split("x"))
    best: dict[str, dict] = {}
    for _ in range(args.repeat):
        for variant in ("bare", "unrealized", "realized"):
            got = run(variant, args)
            old = best.setdefault(variant, got)
            for key in ("per_frame", "cpu_per_frame", "frame_pieces", "probe"):
                if key in got:
                    old[key] = min(old[key], got[key])
    bare, bare_cpu = best["bare"]["per_frame"], best["bare"]["cpu_per_frame"]
    print(f"{args.width}x{args.height}, {args.samples} samples, {args.frames} frames, {args.copies} scattered copies "
          f"of {6 * (args.cuts + 1) ** 2} faces, best of {args.repeat}")
    print(f"{'variant':<11} {'wall s/frame':>12} {'vs bare':>8} {'CPU s/frame':>12} {'vs bare':>8} "
          f"{'annotations/frame':>18} {'frame_pieces s':>15} {'probe s':>8}")
    for variant in ("bare", "unrealized", "realized"):
        b = best[variant]
        ann = "-" if b["annotations"] is None else f"{b['annotations']:.0f}"
        pieces = f"{b['frame_pieces']:.3f}" if "frame_pieces" in b else "-"
        probe = f"{b['probe']:.3f}" if "probe" in b else "-"
        print(f"{variant:<11} {b['per_frame']:12.2f} {b['per_frame'] / bare - 1:+8.1%} {b['cpu_per_frame']:12.2f} "
              f"{b['cpu_per_frame'] / bare_cpu - 1:+8.1%} {ann:>18} {pieces:>15} {probe:>8}")


if __name__ == "__main__":
    main()

"""Frames per minute of ``blender-coco render`` with ``[[spawn]]`` against the loop a user would write.

The scene (built by this script, nothing binary committed): a floor, a table, a
backdrop mesh of ``--triangles`` triangles (default 1.5M), a world lit by a
generated 2048x1024 environment image, and an asset collection holding one
high-poly sphere (16k triangles) with a generated 2048x2048 texture. Each frame
30 copies of it go onto the table. Variants, each a fresh bpy-module process timed
as a whole (import, open, frames, and for blender-coco the export):

* bare: the loop a user writes by hand: open the .blend, then per frame remove the
  last frame's copies, make 30 new ones (``obj.copy()``, shared mesh) at random
  places on the table, render, save the PNG (Blender's defaults otherwise);
* blender-coco: ``blender-coco render`` with a ``[[spawn]]`` group placing the
  copies on the table without physics (same work, plus object-index and depth
  passes, EXR + sidecar per frame and the COCO export);
* blender-coco + physics: the same with ``physics`` (copies dropped and settled);
  its simulation time per frame (from the progress log) is listed separately.

Frames/min counts whole processes; ``--repeat`` alternates the variants and keeps
the fastest run of each.

    python benchmarks/spawn_throughput.py                          # 320x240, 8 samples, 12 frames
    python benchmarks/spawn_throughput.py --frames 4 --triangles 50000   # a quick look
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COPIES = 30

BUILD = r"""
import math, sys
import bpy, bmesh
import numpy as np
from mathutils import Matrix
from blender_coco.blender import demo_scene as d
from blender_coco.blender.marking import mark
from blender_coco.blender.scene_utils import set_render

path, tris, width, height, samples = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
folder = path.rsplit("/", 1)[0]
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
d.add_object(scene, "Floor", d.box(20, 20, 0.02), (0, 0, -0.02), d.material("floor", (0.5, 0.5, 0.5)))
d.add_object(scene, "TableTop", d.box(2.0, 1.2, 0.06), (0, 0, 0.74), d.material("wood", (0.4, 0.25, 0.12)))
n = max(2, int(math.sqrt(tris / 2)))  # a displaced grid: 2 n^2 triangles
bm = bmesh.new()
bmesh.ops.create_grid(bm, x_segments=n, y_segments=n, size=4.0)
for v in bm.verts:
    v.co.z = 0.15 * math.sin(7 * v.co.x) * math.cos(5 * v.co.y) + 0.05 * math.sin(31 * v.co.x + 17 * v.co.y)
bmesh.ops.triangulate(bm, faces=bm.faces[:])
mesh = bpy.data.meshes.new("Backdrop"); bm.to_mesh(mesh); bm.free()
mesh.materials.append(d.material("rock", (0.35, 0.3, 0.28)))
backdrop = bpy.data.objects.new("Backdrop", mesh); scene.collection.objects.link(backdrop)
backdrop.matrix_world = Matrix.Translation((0, 3.0, 2.0)) @ Matrix.Rotation(math.radians(90), 4, "X")

def image(name, w, h, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / np.array([h, w])[:, None, None]
    px = np.stack([0.5 + 0.5 * np.sin(6 * x + seed), 0.5 + 0.5 * np.cos(9 * y), 0.6 * x * y, np.ones_like(x)], -1)
    px[..., :3] += 0.1 * rng.random((h, w, 3))
    img = bpy.data.images.new(name, w, h, float_buffer=True)
    img.pixels.foreach_set(px[::-1].astype(np.float32).ravel())
    img.filepath_raw = f"{folder}/{name}.exr"
    img.file_format = "OPEN_EXR"
    img.save()
    return bpy.data.images.load(f"{folder}/{name}.exr")

world = bpy.data.worlds.new("World"); scene.world = world
world.use_nodes = True
env = world.node_tree.nodes.new("ShaderNodeTexEnvironment")
env.image = image("environment", 2048, 1024, 1)
world.node_tree.links.new(env.outputs["Color"], world.node_tree.nodes["Background"].inputs["Color"])
props = bpy.data.collections.new("Props"); scene.collection.children.link(props)
bpy.context.view_layer.layer_collection.children["Props"].exclude = True
mat = d.material("painted", (0.8, 0.2, 0.1))
tex = mat.node_tree.nodes.new("ShaderNodeTexImage"); tex.image = image("paint", 2048, 2048, 2)
mat.node_tree.links.new(tex.outputs["Color"], mat.node_tree.nodes["Principled BSDF"].inputs["Base Color"])
bm = bmesh.new(); bmesh.ops.create_uvsphere(bm, u_segments=128, v_segments=64, radius=0.05, calc_uvs=True)
me = bpy.data.meshes.new("Ball"); bm.to_mesh(me); bm.free(); me.materials.append(mat)
ball = bpy.data.objects.new("Ball", me); props.objects.link(ball); mark(ball, "ball")
cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera")); scene.collection.objects.link(cam)
cam.location = (0, -2.4, 2.0); cam.rotation_euler = (math.radians(52), 0, 0); scene.camera = cam
set_render(scene, width, height, samples)
scene.cycles.device = "CPU"
bpy.ops.wm.save_as_mainfile(filepath=path)
print(sum(len(p.vertices) - 2 for p in mesh.polygons) + 30 * sum(len(p.vertices) - 2 for p in me.polygons))
"""

BARE = r"""
import random, sys
import bpy
blend, out, frames = sys.argv[1], sys.argv[2], int(sys.argv[3])
bpy.ops.wm.open_mainfile(filepath=blend)
scene = bpy.context.scene
ball = bpy.data.objects["Ball"]
holder = bpy.data.collections.new("copies"); scene.collection.children.link(holder)
copies = []
for i in range(frames):
    rng = random.Random(i)
    for c in copies:
        bpy.data.objects.remove(c)
    copies = []
    for k in range(30):
        c = ball.copy()
        c.location = (rng.uniform(-0.9, 0.9), rng.uniform(-0.5, 0.5), 0.77 + 0.05)
        holder.objects.link(c)
        copies.append(c)
    scene.render.filepath = f"{out}/{i:06d}.png"
    bpy.ops.render.render(write_still=True)
"""


def _config(physics: bool) -> dict:
    group = {"collection": "Props", "count": COPIES, "surface": "TableTop", "rotation": {"z": [0, 360]}}
    if physics:
        group.update(rotation={"x": [0, 360], "y": [0, 360], "z": [0, 360]},
                     physics={"colliders": ["Floor"], "drop_height": [0.02, 0.3]})
    return {"spawn": [group]}


def _timed(cmd: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"benchmark run failed ({' '.join(map(str, cmd[:5]))} ...):\n{proc.stderr[-2000:]}")
    return elapsed, proc.stderr


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--resolution", default="320x240", help="WIDTHxHEIGHT (default 320x240)")
    p.add_argument("--samples", type=int, default=8, help="Cycles samples (default 8)")
    p.add_argument("--frames", type=int, default=12, help="frames per run (default 12)")
    p.add_argument("--triangles", type=int, default=1_500_000, help="triangles of the backdrop (default 1500000)")
    p.add_argument("--repeat", type=int, default=1, help="runs per variant; the fastest counts (default 1)")
    args = p.parse_args(argv)
    width, height = (int(v) for v in args.resolution.lower().split("x"))
    variants = ("bare", "coco", "physics")
    best = {v: float("inf") for v in variants}
    physics = []
    with tempfile.TemporaryDirectory(prefix="spawn_throughput_") as tmp:
        blend = Path(tmp) / "heavy.blend"
        done = subprocess.run([sys.executable, "-c", BUILD, str(blend), str(args.triangles), str(width), str(height),
                               str(args.samples)], cwd=REPO, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"building the scene failed:\n{done.stderr[-2000:]}")
        triangles = int(done.stdout.strip().splitlines()[-1])
        for k, physics_on in enumerate((False, True)):
            (Path(tmp) / f"spawn{k}.json").write_text(json.dumps(_config(physics_on)))
        for rep in range(args.repeat):
            for variant in (variants if rep % 2 == 0 else variants[::-1]):
                out = Path(tmp) / f"{variant}{rep}"
                out.mkdir()
                if variant == "bare":
                    cmd = [sys.executable, "-c", BARE, str(blend), str(out), str(args.frames)]
                else:
                    config = Path(tmp) / f"spawn{int(variant == 'physics')}.json"
                    cmd = [sys.executable, "-m", "blender_coco", "render", str(blend), "--out", str(out),
                           "--frames", str(args.frames), "--config", str(config)]
                wall, log = _timed(cmd)
                best[variant] = min(best[variant], wall)
                found = re.findall(r"physics ([0-9.]+) s/frame", log)
                if variant == "physics" and found:
                    physics.append(float(found[-1]))
    n = args.frames
    rate = {v: 60.0 * n / best[v] for v in variants}
    print(f"scene: {triangles} triangles (backdrop {args.triangles}, {COPIES} copies of a 16k-triangle "
          f"sphere), 2048x1024 environment image, 2048x2048 texture; {width}x{height}, {args.samples} samples, "
          f"CPU, {n} frames, best of {args.repeat} run(s) per variant (whole processes)")
    print()
    print("| variant | frames/min | s/frame | x bare |")
    print("|---|---:|---:|---:|")
    names = {"bare": "bare loop (open, copy 30 by hand, render, save PNG)",
             "coco": "`blender-coco render`, [[spawn]] 30 copies",
             "physics": "`blender-coco render`, [[spawn]] 30 copies + physics"}
    for v in variants:
        print(f"| {names[v]} | {rate[v]:.1f} | {best[v] / n:.2f} | {rate[v] / rate['bare']:.2f} |")
    if physics:
        sim = min(physics)
        rest = best["physics"] / n - sim
        print(f"| of which the physics simulation (progress log) | | {sim:.2f} | |")
        print(f"| `blender-coco render` + physics, simulation time left out | {60.0 / rest:.1f} | {rest:.2f} | "
              f"{60.0 / rest / rate['bare']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

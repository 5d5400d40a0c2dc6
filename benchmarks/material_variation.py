"""Three ways to give 30 copies of one asset a colour and roughness of their own, timed per frame.

The copies share a mesh (and so its material slots). Each way, one fresh bpy-module
process, 20 frames of 30 copies on a table, every frame new colours and roughness,
rendered with Cycles' persistent data on (as ``blender-coco render`` does):

* pool: object-linked slots holding pooled material copies, rewritten every frame
  (what ``[[spawn]] material`` does: blender_coco/blender/randomizers/variation.py);
* fresh: a new material copy per copy and frame, removed after the frame;
* attribute: one shared material whose base colour and roughness come from
  Attribute nodes reading each object's custom properties (no textures per copy).

Printed: milliseconds per frame for setting the values and for rendering, and the
materials in the file after the run (growth would be a leak).

    python benchmarks/material_variation.py                 # 160x120, 4 samples, 20 frames
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import random, sys, time
sys.path.insert(0, sys.argv[5])
import bpy, bmesh
from blender_coco.blender.demo_scene import material
from blender_coco.blender.randomizers.variation import VariantPool
from blender_coco.randomize import MaterialVariation, parse_range

way, width, height, samples = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
frames = 20
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
scene.render.engine = "CYCLES"
scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = width, height, 100
scene.cycles.samples = samples
scene.render.use_persistent_data = True
scene.render.filepath = "/tmp/material_variation.png"
cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera")); scene.collection.objects.link(cam)
cam.location = (0, -3, 2.5); cam.rotation_euler = (0.9, 0, 0); scene.camera = cam
sun = bpy.data.objects.new("Sun", bpy.data.lights.new("Sun", "SUN")); scene.collection.objects.link(sun)
mat = material("paint", (0.7, 0.2, 0.1))
bm = bmesh.new(); bmesh.ops.create_uvsphere(bm, u_segments=32, v_segments=16, radius=0.1)
mesh = bpy.data.meshes.new("Ball"); bm.to_mesh(mesh); bm.free(); mesh.materials.append(mat)
copies = []
for k in range(30):
    o = bpy.data.objects.new(f"copy{k:02d}", mesh); scene.collection.objects.link(o)
    o.location = ((k % 6) * 0.3 - 0.75, (k // 6) * 0.3 - 0.6, 0.1)
    copies.append(o)
if way == "attribute":
    shared = mat.copy(); shared.name = "paint_attribute"
    tree = shared.node_tree; bsdf = tree.nodes["Principled BSDF"]
    col = tree.nodes.new("ShaderNodeAttribute"); col.attribute_type = "OBJECT"; col.attribute_name = "coco_color"
    rough = tree.nodes.new("ShaderNodeAttribute"); rough.attribute_type = "OBJECT"; rough.attribute_name = "coco_rough"
    tree.links.new(col.outputs["Color"], bsdf.inputs["Base Color"])
    tree.links.new(rough.outputs["Fac"], bsdf.inputs["Roughness"])
    for o in copies:
        o.material_slots[0].link = "OBJECT"; o.material_slots[0].material = shared
cfg = MaterialVariation(hue=parse_range([-0.3, 0.3], "hue"), roughness=parse_range([0.1, 0.9], "roughness"))
pool = VariantPool(cfg, None, "material")

class F:  # what a frame shares (only images, unused here)
    images = set()

vary = render = 0.0
for i in range(frames):
    rng = random.Random(i)
    t0 = time.perf_counter()
    if way == "attribute":
        for o in copies:
            o["coco_color"] = (rng.random(), rng.random(), rng.random())
            o["coco_rough"] = rng.random()
            o.update_tag()
    else:
        if way == "fresh":  # back to the shared material, then the last frame's copies go
            for o in copies:
                o.material_slots[0].link = "DATA"
            pool.finish()
        pool.begin_frame()
        for o in copies:
            pool.vary([o], pool.draw(rng), F)
    t1 = time.perf_counter()
    bpy.ops.render.render(write_still=True)
    t2 = time.perf_counter()
    if i:  # the first frame builds everything
        vary += t1 - t0
        render += t2 - t1
print(f"{1000 * vary / (frames - 1):.1f} {1000 * render / (frames - 1):.1f} {len(bpy.data.materials)}")
"""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--resolution", default="160x120")
    p.add_argument("--samples", type=int, default=4)
    args = p.parse_args(argv)
    width, height = (int(v) for v in args.resolution.lower().split("x"))
    print(f"30 copies of one 1k-triangle sphere, {width}x{height}, {args.samples} samples, persistent data on, "
          "19 frames after the first")
    print()
    print("| way | set values, ms/frame | render, ms/frame | materials after 20 frames |")
    print("|---|---:|---:|---:|")
    for way in ("pool", "fresh", "attribute"):
        done = subprocess.run([sys.executable, "-c", SCRIPT, way, str(width), str(height), str(args.samples),
                               str(REPO)], capture_output=True, text=True, cwd=REPO)
        if done.returncode != 0:
            sys.exit(done.stderr[-2000:])
        vary, render, mats = done.stdout.strip().splitlines()[-1].split()
        print(f"| {way} | {vary} | {render} | {mats} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

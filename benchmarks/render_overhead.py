"""Per-frame cost of ``blender-coco render`` against a bare Cycles render of the same scene.

Every variant is a fresh bpy-module process rendering the same scene, resolution,
samples and frames (Cycles CPU):

* bare: ``bpy.ops.render.render(write_still=True)`` per frame, writing only a PNG;
* before REF (``--before REF``, repeatable): the ``blender-coco render`` command of a
  ``git archive`` of commit REF, e.g. 5e80b91, the pipeline before issue 10
  (object-index and depth passes only; the 50 copies give no annotation);
* now: the ``blender-coco render`` command of this checkout: object-index, depth,
  Cryptomatte and instance-id passes, PNG + multilayer EXR + JSON sidecar and amodal
  silhouettes per frame, scene restore and the COCO export.

Scenes (``--scene``): ``demo`` (the built-in demo scene, rendered with
``--no-randomize``), ``scatter`` (a geometry-nodes scatter of 50 marked cubes with
Object Info > Random colours on a floor, one sun: issue 10's benchmark scene, saved to
a temporary .blend that every variant opens; ``--copies``, ``--cuts`` for more or
detailed copies), ``realized`` (the same scatter with Realize Instances and a Set
Position after it: one mesh that blender/realized.py splits per copy; its cost shows in
the sidecar column) or the path of a .blend.

Each run is timed as a whole process (import bpy, open the scene, render, write,
export) from outside; wall and CPU time (every thread: Cycles, passes, files, export)
are divided by the frame count. Inside, each process also times its parts: the
Cycles render (``render_pre`` to ``render_post``), the record files (PNG + EXR +
sidecar), the frame's sidecar (copies, amodal silhouettes), the export, and the rest
(import, scene, set-up). The variants alternate ``--repeat`` times and the fastest
run of each counts (the machine may be shared: then trust CPU time more than wall).

    python benchmarks/render_overhead.py --scene scatter --before 5e80b91 --frames 8 --repeat 2
    python benchmarks/render_overhead.py --scene realized --frames 3 --repeat 2
    python benchmarks/render_overhead.py --scene realized --copies 1000 --cuts 20 --resolution 320x240 --samples 4 --frames 2
    python benchmarks/render_overhead.py                      # demo scene, 640x480, 32 samples, 20 frames
    python benchmarks/render_overhead.py --resolution 160x120 --samples 4 --frames 4
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SCATTER = r"""
import random, sys
import bpy
import bmesh

path, copies, cuts, realize = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
scene.render.engine = "CYCLES"
scene.cycles.device = "CPU"
scene.cycles.use_denoising = False
cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
cam.location = (0, -14, 10); cam.rotation_euler = (0.95, 0, 0)
scene.collection.objects.link(cam); scene.camera = cam
sun = bpy.data.objects.new("Sun", bpy.data.lights.new("Sun", "SUN")); sun.rotation_euler = (0.6, 0.2, 0)
scene.collection.objects.link(sun)
floor = bpy.data.meshes.new("floor"); floor.from_pydata([(-20, -20, 0), (20, -20, 0), (20, 20, 0), (-20, 20, 0)], [], [(0, 1, 2, 3)])
scene.collection.objects.link(bpy.data.objects.new("Floor", floor))
mesh = bpy.data.meshes.new("cube"); bm = bmesh.new(); bmesh.ops.create_cube(bm, size=0.8)
if cuts:  # a detailed copy: 6 * (cuts + 1)**2 faces
    bmesh.ops.subdivide_edges(bm, edges=bm.edges[:], cuts=cuts, use_grid_fill=True)
bm.to_mesh(mesh)
mat = bpy.data.materials.new("M"); mat.use_nodes = True; mesh.materials.append(mat)
tree = mat.node_tree; info = tree.nodes.new("ShaderNodeObjectInfo")
tree.links.new(info.outputs["Random"], tree.nodes["Principled BSDF"].inputs["Base Color"])
src = bpy.data.objects.new("Cube", mesh); src.location = (0, 0, -50); scene.collection.objects.link(src)
src["coco_category"] = "cube"
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
if realize:  # the copies realized into one mesh, then a Set Position (a node after the realize)
    real = group.nodes.new("GeometryNodeRealizeInstances"); move = group.nodes.new("GeometryNodeSetPosition")
    group.links.new(iop.outputs["Instances"], real.inputs[0]); group.links.new(real.outputs[0], move.inputs[0])
    group.links.new(move.outputs[0], gout.inputs[0])
else:
    group.links.new(iop.outputs["Instances"], gout.inputs[0])
scatter.modifiers.new("Scatter", "NODES").node_group = group
scene.frame_start = scene.frame_end = 1
bpy.ops.wm.save_as_mainfile(filepath=path)
"""

# argv: variant timing.json scene(.blend or "") width height samples frames [out]
CHILD = r"""
import json, sys, time
import bpy

variant, timing, scene_path = sys.argv[1:4]
width, height, samples, frames = map(int, sys.argv[4:8])
out = sys.argv[8]
parts = {"cycles": [0.0, 0.0], "files": [0.0, 0.0], "sidecar": [0.0, 0.0], "export": [0.0, 0.0]}
clock = {}

def now():
    return time.perf_counter(), time.process_time()

def add(name, t):
    w, c = now()
    parts[name][0] += w - t[0]
    parts[name][1] += c - t[1]

@bpy.app.handlers.persistent  # kept when a .blend is opened
def render_pre(*_):
    clock["render"] = now()

@bpy.app.handlers.persistent
def render_post(*_):
    add("cycles", clock["render"])

bpy.app.handlers.render_pre.append(render_pre)
bpy.app.handlers.render_post.append(render_post)

if variant == "bare":
    from blender_coco.blender import demo_scene, session
    from blender_coco.blender.pipeline import scene_frame

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
    annotations = None
else:
    from blender_coco import cli
    from blender_coco.blender import frame_files, pipeline

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            t = now()
            try:
                return fn(*args, **kwargs)
            finally:
                add(name, t)
        return wrapper

    frame_files.write_record = timed("files", frame_files.write_record)
    pipeline.RenderJob._frame_sidecar = timed("sidecar", pipeline.RenderJob._frame_sidecar)
    pipeline.run_export = timed("export", pipeline.run_export)
    argv = ["-q", "render", *([scene_path] if scene_path else []), "--out", out, "--resolution", f"{width}x{height}",
            "--samples", str(samples), "--frames", str(frames), "--device", "CPU", "--no-randomize"]
    code = cli.main(argv)
    if code:
        sys.exit(code)
    with open(f"{out}/annotations/instances.json") as fh:
        annotations = len(json.load(fh)["annotations"]) / frames
json.dump({"parts": parts, "annotations": annotations}, open(timing, "w"))
"""

PARTS = ("cycles", "files", "sidecar", "export")


def _timed(cmd: list[str], checkout: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one child process importing blender_coco from ``checkout``."""
    env = dict(os.environ, PYTHONPATH=str(checkout))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=checkout, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"benchmark run failed ({' '.join(cmd[:4])} ...):\n{proc.stderr[-3000:]}")
    return elapsed, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def _checkout(ref: str, into: Path) -> Path:
    """A ``git archive`` of ``ref`` (a commit of this repository) unpacked in ``into``."""
    archive = subprocess.run(["git", "archive", ref], cwd=REPO, capture_output=True)
    if archive.returncode != 0:
        sys.exit(f"--before {ref}: git archive failed: {archive.stderr.decode().strip()}")
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def _scene(arg: str, tmp: Path, copies: int, cuts: int) -> str:
    """The .blend to render ("" for the built-in demo scene)."""
    if arg == "demo":
        return ""
    if arg in ("scatter", "realized"):
        path = tmp / f"{arg}.blend"
        proc = subprocess.run([sys.executable, "-c", SCATTER, str(path), str(copies), str(cuts),
                               "1" if arg == "realized" else "0"], cwd=REPO, capture_output=True, text=True)
        if proc.returncode != 0 or not path.is_file():
            sys.exit(f"could not build the scatter scene:\n{proc.stderr[-3000:]}")
        return str(path)
    if not Path(arg).is_file():
        sys.exit(f"--scene {arg}: no such .blend (or use demo, scatter or realized)")
    return str(Path(arg).resolve())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scene", default="demo", help="demo, scatter, realized or a .blend (default demo)")
    p.add_argument("--copies", type=int, default=50, help="scatter/realized: copies (default 50)")
    p.add_argument("--cuts", type=int, default=0,
                   help="scatter/realized: subdivide each cube, 6 * (cuts + 1)**2 faces a copy (default 0)")
    p.add_argument("--resolution", default="640x480", help="WIDTHxHEIGHT (default 640x480)")
    p.add_argument("--samples", type=int, default=32, help="Cycles samples (default 32)")
    p.add_argument("--frames", type=int, default=20, help="frames per run (default 20)")
    p.add_argument("--repeat", type=int, default=1, help="runs per variant; the fastest counts (default 1)")
    p.add_argument("--before", metavar="REF", action="append", default=[],
                   help="also run the pipeline of this commit (git archive), e.g. 5e80b91; may be repeated")
    args = p.parse_args(argv)
    width, height = (int(v) for v in args.resolution.lower().split("x"))
    with tempfile.TemporaryDirectory(prefix="render_overhead_") as tmp_name:
        tmp = Path(tmp_name)
        checkouts = {"bare": REPO}
        for ref in args.before:
            checkouts[f"before {ref}"] = _checkout(ref, tmp / f"before-{ref}")
        checkouts["now"] = REPO
        scene = _scene(args.scene, tmp, args.copies, args.cuts)
        names = list(checkouts)
        best: dict[str, dict] = {}
        for rep in range(args.repeat):
            for variant in (names if rep % 2 == 0 else names[::-1]):
                out, timing = tmp / f"{variant}{rep}".replace(" ", "-"), tmp / f"{variant}{rep}.json".replace(" ", "-")
                out.mkdir()
                cmd = [sys.executable, "-c", CHILD, "bare" if variant == "bare" else "pipeline", str(timing), scene,
                       str(width), str(height), str(args.samples), str(args.frames), str(out)]
                wall, cpu = _timed(cmd, checkouts[variant])
                run = {"wall": wall, "cpu": cpu, "run_cpu": cpu, **json.loads(timing.read_text())}
                old = best.get(variant)
                if old is None or wall < old["wall"]:
                    best[variant] = {**run, "cpu": min(cpu, old["cpu"]) if old else cpu}
                else:
                    old["cpu"] = min(old["cpu"], cpu)
    n = args.frames
    print(f"scene {args.scene}, {width}x{height}, {args.samples} samples, Cycles CPU, {n} frames, best of "
          f"{args.repeat} alternating run(s) per variant (whole processes: import, scene, frames, export)")
    print()
    print("| variant | wall s/frame | vs bare | CPU s/frame | vs bare | annotations/frame |")
    print("|---|---:|---:|---:|---:|---:|")
    bare = best["bare"]
    for variant in names:
        b = best[variant]
        ann = "-" if b["annotations"] is None else f"{b['annotations']:.1f}"
        print(f"| {variant} | {b['wall'] / n:.3f} | {b['wall'] / bare['wall'] - 1:+.1%} | {b['cpu'] / n:.3f} | "
              f"{b['cpu'] / bare['cpu'] - 1:+.1%} | {ann} |")
    print()
    print("Inside the fastest run, CPU s/frame (wall in brackets); rest: import, scene, set-up, frame changes")
    print()
    print("| variant | Cycles render | record files | sidecar | export | rest |")
    print("|---|---:|---:|---:|---:|---:|")
    for variant in names:
        b = best[variant]
        parts = b["parts"]
        rest = (b["wall"] - sum(parts[k][0] for k in PARTS), b["run_cpu"] - sum(parts[k][1] for k in PARTS))
        cells = [f"{cpu / n:.3f} ({wall / n:.3f})" for wall, cpu in [*(parts[k] for k in PARTS), rest]]
        print(f"| {variant} | {' | '.join(cells)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

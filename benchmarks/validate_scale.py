"""``blender-coco validate`` on a COCO file of 100k images and 2M polygon annotations (~850 MB, as in issue 15).

Generates the file once (deterministic; ``--file``, default /tmp/validate_scale.json,
reused when it exists with the same size parameters), then runs ``validate`` on it in
a child process per source tree, side by side in one run, and prints a table of wall
time, the child's CPU time (user + system: the fair measure on a shared machine) and
its peak RSS (``ru_maxrss``), both from ``os.wait4``.

``--before DIR``: another checkout of blender-coco (e.g. the base commit exported with
``git archive BASE | tar -x -C DIR``) to run first, for the before/after ratio.

    .venv/bin/python benchmarks/validate_scale.py --before /tmp/validate-base
    .venv/bin/python benchmarks/validate_scale.py --images 10000 --per-image 20   # ~85 MB, quick
    .venv/bin/python benchmarks/validate_scale.py --command stats --before /tmp/validate-base

Each annotation: a 22-vertex polygon (coordinates with 2 decimals, inside a 640x480
image), bbox, area a little under its pixel count, iscrowd 0; 80 categories. The file
is clean, so every tree must print ``OK: no problems``; the script checks that.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
W, H = 640, 480
VERTICES = 22
SHAPES = 4000  # distinct polygons, reused (pycocotools rasterizes each annotation anyway)


def _shape(rng: random.Random) -> str:
    r = rng.uniform(4, 60)
    cx, cy = rng.uniform(r + 1, W - r - 1), rng.uniform(r + 1, H - r - 1)
    pts = []
    for k in range(VERTICES):
        a = 2 * math.pi * k / VERTICES
        rr = r * rng.uniform(0.85, 1.0)
        pts += [round(cx + rr * math.cos(a), 2), round(cy + rr * math.sin(a), 2)]
    xs, ys = pts[0::2], pts[1::2]
    x0, y0 = math.floor(min(xs)), math.floor(min(ys))
    bbox = [x0, y0, math.ceil(max(xs)) - x0, math.ceil(max(ys)) - y0]
    shoelace = abs(sum(xs[i] * ys[i - 1] - xs[i - 1] * ys[i] for i in range(VERTICES))) / 2
    area = round(shoelace * 0.97)  # at most the polygon's pixel count
    coords = ",".join(f"{v:.2f}" for v in pts)
    return f'"segmentation":[[{coords}]],"area":{area},"bbox":[{bbox[0]},{bbox[1]},{bbox[2]},{bbox[3]}],"iscrowd":0'


def generate(path: Path, images: int, per_image: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    shapes = [_shape(rng) for _ in range(SHAPES)]
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        f.write('{"info":{"description":"validate_scale"},"licenses":[],"images":[')
        f.write(",".join(f'{{"id":{i},"file_name":"{i:06d}.jpg","width":{W},"height":{H}}}'
                         for i in range(1, images + 1)))
        f.write('],"annotations":[')
        ann_id = 0
        for img in range(1, images + 1):
            parts = []
            for _ in range(per_image):
                ann_id += 1
                parts.append(f'{{"id":{ann_id},"image_id":{img},"category_id":{ann_id % 80 + 1},'
                             f'{shapes[ann_id % SHAPES]}}}')
            f.write(("," if img > 1 else "") + ",".join(parts))
        f.write('],"categories":[')
        f.write(",".join(f'{{"id":{c},"name":"c{c}","supercategory":"s"}}' for c in range(1, 81)))
        f.write("]}")
    os.replace(tmp, path)


def run_measured(tree: Path, file: Path, command: str = "validate") -> tuple[float, float, float, str]:
    """(wall s, CPU s, peak RSS MB, last output line) of ``COMMAND FILE`` run from ``tree``, from os.wait4."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    out_path = Path(f"/tmp/validate_scale_out_{os.getpid()}.txt")
    with open(out_path, "w") as out:
        t0 = time.perf_counter()
        extra = ["--json"] if command == "stats" else []
        proc = subprocess.Popen([sys.executable, "-m", "blender_coco", command, str(file), *extra], cwd=tree, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
    lines = out_path.read_text(errors="replace").strip().splitlines()
    out_path.unlink()
    if command == "stats":
        lines = [f"exit {proc.returncode}"]
    cpu = usage.ru_utime + usage.ru_stime
    return wall, cpu, usage.ru_maxrss / 1024, (lines[-1] if lines else f"exit {proc.returncode}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--file", type=Path, default=Path("/tmp/validate_scale.json"))
    ap.add_argument("--images", type=int, default=100_000)
    ap.add_argument("--per-image", type=int, default=20)
    ap.add_argument("--before", type=Path, help="another blender-coco source tree to run first (the old code)")
    ap.add_argument("--command", choices=("validate", "stats"), default="validate",
                    help="the command to measure (stats: its --json output, exit 0 expected)")
    args = ap.parse_args()
    stamp = args.file.with_suffix(".params")
    params = f"{args.images} {args.per_image} {VERTICES} {SHAPES}"
    if not (args.file.is_file() and stamp.is_file() and stamp.read_text() == params):
        t0 = time.perf_counter()
        generate(args.file, args.images, args.per_image)
        stamp.write_text(params)
        print(f"generated {args.file} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    size_mb = args.file.stat().st_size / 1e6
    rows = []
    load = os.getloadavg()[0]
    for name, tree in (("before", args.before), ("after", REPO)):
        if tree is None:
            continue
        wall, cpu, peak, last = run_measured(tree.resolve(), args.file, args.command)
        rows.append((name, wall, cpu, peak, last))
        print(f"{name}: {wall:.1f} s, {cpu:.1f} s CPU, {peak:.0f} MB: {last}", file=sys.stderr)
    print(f"\n{args.command} {args.file} ({size_mb:.0f} MB, {args.images} images, {args.images * args.per_image} annotations)\n")
    print(f"load average before the runs: {load:.1f} on {os.cpu_count()} cores\n")
    print("| code | wall s | CPU s | peak RSS MB | output |")
    print("|---|---:|---:|---:|---|")
    for name, wall, cpu, peak, last in rows:
        print(f"| {name} | {wall:.1f} | {cpu:.1f} | {peak:.0f} | {last.split(': ', 1)[-1]} |")
    if len(rows) == 2:
        print(f"\nafter/before: wall {rows[1][1] / rows[0][1]:.2f}x, CPU {rows[1][2] / rows[0][2]:.2f}x, "
              f"peak RSS {rows[1][3] / rows[0][3]:.2f}x")
    ok = "exit 0" if args.command == "stats" else "OK: no problems"
    bad = [r for r in rows if ok not in r[4]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

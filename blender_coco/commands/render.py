"""``blender-coco render``: render a marked .blend (or the demo scene) into a COCO dataset.

Runs Blender as a Python module (``pip install 'blender-coco[bpy]'``). The same
arguments drive ``scripts/render_coco.py`` under a stock ``blender -b``:
:func:`add_render_arguments` and :func:`config_from_args` are shared with it, so the
two front ends cannot drift apart.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from blender_coco import randomize, stop
from blender_coco.commands._common import add_export_options, add_task_options, export_config_from_args
from blender_coco.config import DEVICES, IMAGE_FORMATS, RenderConfig, parse_cameras, parse_resolution
from blender_coco.errors import UserError

log = logging.getLogger(__name__)

EXAMPLE = """example:
  blender-coco render scene.blend --out ds --frames 100 --resolution 640x480 --samples 32
  blender-coco render --out demo_ds --frames 20     # the built-in demo scene, randomized
  blender-coco render scene.blend --out ds --frames 1000 --seed 7 --config scenes/randomize_tabletop.toml
production runs (frames i with i % N == I; same frame numbers as one run):
  blender-coco render scene.blend --out ds --frames 100000 --config r.toml --shard 0/4 [--resume]
  blender-coco export ds              # after every shard wrote into ds (or: blender-coco merge DS0 DS1 ... --out ds)
on a Ray cluster (pip install 'blender-coco[ray]'; --out on a shared filesystem):
  blender-coco render scene.blend --out /shared/ds --frames 100000 --config r.toml --ray auto --gpus-per-task 1 --device GPU
  blender-coco render --out ds --frames 64 --ray local --workers 2
stock Blender instead of the bpy module:
  blender -b scene.blend --python-exit-code 1 -P scripts/render_coco.py -- --out ds --python .venv/bin/python"""


def parse_shard(text: str) -> tuple[int, int]:
    """'1/4' -> (1, 4), with a one-line error otherwise (0 <= I < N)."""
    parts = text.split("/")
    ok = len(parts) == 2 and all(p.strip().isdigit() for p in parts) and 0 <= int(parts[0]) < int(parts[1])
    if not ok:
        raise UserError(f"--shard must be I/N with 0 <= I < N (e.g. 0/4 for the first of four shards), got {text!r}")
    return int(parts[0]), int(parts[1])


def randomize_from_args(args: argparse.Namespace) -> str | None:
    """``--config FILE`` / ``--no-randomize`` -> RenderConfig.randomize; a bad config fails now
    (before Blender loads the scene) when this Python can read it (TOML needs Python 3.11)."""
    if getattr(args, "no_randomize", False):
        if args.config:
            raise UserError("--config and --no-randomize exclude each other; pick one")
        return randomize.OFF
    path = args.config
    if not path or path == randomize.OFF:
        return path
    if sys.version_info >= (3, 11) or path.lower().endswith(".json"):
        randomize.load(path)
    return os.path.abspath(path)


def add_render_arguments(p: argparse.ArgumentParser) -> None:
    """The render options, shared by ``blender-coco render`` and scripts/render_coco.py."""
    p.add_argument("scene", nargs="?", metavar="SCENE.blend",
                   help="scene with objects marked by the coco_category property (default: the demo scene)")
    p.add_argument("--out", required=True, metavar="DS", help="dataset folder (images/, annotations/, records/)")
    p.add_argument("--frames", type=int, default=1, metavar="N",
                   help="frames to render; frame i shows scene frame start + i modulo the frame range (default 1)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="base seed for randomization (default 0)")
    p.add_argument("--resolution", metavar="WxH", help="override the scene's resolution, e.g. 640x480")
    p.add_argument("--resolution-percentage", type=int, metavar="P", help="override the scene's resolution %%")
    p.add_argument("--samples", type=int, metavar="N", help="override the scene's Cycles samples")
    p.add_argument("--device", choices=DEVICES, default="CPU",
                   help="CPU (default) or GPU (OptiX/CUDA/HIP/Metal/oneAPI, whichever is present)")
    p.add_argument("--image-format", choices=IMAGE_FORMATS, default="PNG", help="RGB image format (default PNG)")
    p.add_argument("--config", metavar="FILE",
                   help="randomization config (TOML or JSON; docs/randomize.md): camera, lights, world, objects, "
                        "materials, armatures drawn per frame from (seed, frame). Default: the scene's own "
                        "(property coco_randomize; the demo scene has one), else none")
    p.add_argument("--no-randomize", action="store_true", help="render the scene as it is, even if it has its own "
                                                                 "randomization")
    p.add_argument("--shard", metavar="I/N", help="render only frames k with k %% N == I (several machines or "
                                                  "processes, one output folder or one each)")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run: keep complete frames, render the missing or half-written ones")
    p.add_argument("--overwrite", action="store_true",
                   help="render every frame again when --out already holds frames of a run (default: an error)")
    p.add_argument("--frame-range", metavar="START:STOP",
                   help="render only frames START <= k < STOP, under their global numbers (what one Ray task renders)")
    p.add_argument("--cameras", metavar="CAM,CAM|all",
                   help="render every frame from each camera (same randomized scene; images NNNNNN_CAM.png); "
                        "'all': every camera of the scene, sorted by name (default: the scene camera)")
    p.add_argument("--threads", type=int, metavar="N", help="Cycles CPU threads (default: all cores)")
    p.add_argument("--no-export", action="store_true",
                   help="render the frame records only; 'blender-coco export DS' writes the annotations later")
    p.add_argument("--prepare-only", action="store_true", help=argparse.SUPPRESS)  # the Ray driver's check
    add_export_options(p)
    add_task_options(p)
    p.add_argument("--amodal", action=argparse.BooleanOptionalAction, default=RenderConfig.amodal,
                   help="store each object's unoccluded (amodal) mask, visible fraction and truncation; a rasterization "
                        "of its triangles, no extra render (default on; docs/benchmarks.md has its cost)")
    p.add_argument("--python", metavar="PATH",
                   help="Python with blender-coco installed, for the export stage when Blender's own Python "
                        "lacks numpy (stock Blender); default $BLENDER_COCO_PYTHON, then python3")


def parse_frame_range(text: str) -> tuple[int, int]:
    """'0:50' -> (0, 50), with a one-line error otherwise (the bounds are checked by RenderConfig)."""
    parts = text.split(":")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise UserError(f"--frame-range must be START:STOP (frames START <= k < STOP, e.g. 0:50), got {text!r}")
    return int(parts[0]), int(parts[1])


def config_from_args(args: argparse.Namespace) -> RenderConfig:
    """A validated :class:`RenderConfig` from parsed arguments (UserError on bad values)."""
    return RenderConfig(
        out=args.out,
        scene=args.scene,
        frames=args.frames,
        seed=args.seed,
        resolution=parse_resolution(args.resolution) if args.resolution else None,
        resolution_percentage=args.resolution_percentage,
        samples=args.samples,
        device=args.device,
        image_format=args.image_format,
        export=export_config_from_args(args),
        python=args.python,
        randomize=randomize_from_args(args),
        shard=parse_shard(args.shard) if args.shard else None,
        resume=args.resume,
        overwrite=args.overwrite,
        frame_range=parse_frame_range(args.frame_range) if args.frame_range else None,
        threads=args.threads,
        stage="prepare" if args.prepare_only else "render" if args.no_export else "all",
        cameras=parse_cameras(args.cameras) if args.cameras else None,
        amodal=args.amodal,
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("render", help="render a marked scene into a COCO dataset (Blender as a Python module)",
                       description="Render SCENE.blend (or the built-in demo scene) with Cycles and write a COCO "
                                   "dataset: DS/images, DS/records (frame records), DS/annotations/instances.json.",
                       epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_render_arguments(p)
    add_ray_arguments(p)
    p.set_defaults(func=run)


def add_ray_arguments(p: argparse.ArgumentParser) -> None:
    """--ray and its options: render on a Ray cluster (blender_coco.distribute)."""
    g = p.add_argument_group("rendering on a Ray cluster (pip install 'blender-coco[ray]'; README: "
                             "Rendering on a cluster)")
    g.add_argument("--ray", metavar="auto|local|ADDRESS",
                   help="render in Ray tasks: 'auto' joins the running cluster ($RAY_ADDRESS or this machine's "
                        "head), 'local' starts a private Ray on this machine, HOST:PORT joins that cluster. "
                        "--out must be a folder every node sees (a shared filesystem)")
    g.add_argument("--workers", type=int, metavar="N", help="at most N tasks at once (default: what the cluster offers)")
    g.add_argument("--chunk", type=int, metavar="K",
                   help="frames per task (default: one task per worker on small runs, else about four per worker, "
                        "50 to 1000 frames each)")
    g.add_argument("--threads-per-task", type=int, default=1, metavar="T",
                   help="Cycles threads of each task, and the CPUs Ray reserves for it (default 1)")
    g.add_argument("--gpus-per-task", type=float, default=0, metavar="G",
                   help="GPUs Ray reserves for each task (it sees only those: CUDA_VISIBLE_DEVICES); "
                        "use with --device GPU (default 0)")
    g.add_argument("--retries", type=int, default=3, metavar="R",
                   help="times a task whose Blender died is retried; its complete frames are kept (default 3)")
    g.add_argument("--blender", metavar="PATH",
                   help="run each task in this Blender binary (blender -b ... -P scripts/render_coco.py) "
                        "instead of the bpy module")


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    with stop.on_signals():  # from here on (importing bpy takes seconds) a signal stops the run cleanly
        return _run(args, config)


def _run(args: argparse.Namespace, config: RenderConfig) -> int:
    if args.ray is not None:
        from blender_coco.distribute import options_from_args, render_on_ray

        render_on_ray(config, options_from_args(args))
        return 0
    try:
        from blender_coco.blender import session
    except ImportError as exc:
        if getattr(exc, "name", None) not in ("bpy", "bmesh", "mathutils"):
            raise
        raise UserError("'blender-coco render' needs Blender as a Python module: pip install 'blender-coco[bpy]' "
                        "(Python 3.11), or use blender -b SCENE.blend -P scripts/render_coco.py -- --out DS") from None
    session.render(config, demo_when_empty=True)
    return 0

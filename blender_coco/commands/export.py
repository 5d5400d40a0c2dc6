"""``blender-coco export``: rebuild annotations from frame records, without re-rendering."""

from __future__ import annotations

import argparse

from blender_coco.commands._common import add_export_options, add_task_options, export_config_from_args

EXAMPLE = """example:
  blender-coco export ds --segmentation rle          # re-export ds/records as exact RLE
  blender-coco export ds --tolerance 1.0 --jobs 2    # coarser polygons, two processes
  blender-coco export ds --tasks all --captions-per-image 5   # + stuff, panoptic, captions"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="frame records -> annotations/instances.json (no re-render)",
                       description="Rebuild DS/annotations/instances.json from the frame records in DS/records.",
                       epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", metavar="DS", help="dataset folder written by 'blender-coco render'")
    add_export_options(p)
    add_task_options(p)
    p.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--output", metavar="FILE", help="write here instead of DS/annotations/instances.json")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from blender_coco.coco.export import export_dataset

    export_dataset(args.dataset, export_config_from_args(args), jobs=args.jobs, out=args.output)
    return 0

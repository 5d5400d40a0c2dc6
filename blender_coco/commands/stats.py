"""``blender-coco stats``: per-category counts, COCO size buckets, instances per image,
truncation, occlusion and keypoint visibility of a dataset, as a table, JSON or a plot."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from blender_coco.coco.keypoints import DEFAULT_TOLERANCE

EXAMPLE = """example:
  blender-coco stats ds                          # ds/annotations/instances.json (+ occlusion from ds/records)
  blender-coco stats person_keypoints_val2017.json --json > stats.json
  blender-coco stats ds --plot stats.png         # needs matplotlib: pip install blender-coco[plot]"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("stats", help="dataset statistics: categories, sizes, per image, truncation, keypoints",
                       description="Count instances per category and COCO size bucket (small < 32^2, medium < 96^2, "
                                   "large), instances per image, truncated (box on the border) and occluded instances "
                                   "where known, and keypoint visibility (v=0/1/2) per keypoint name.",
                       epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", metavar="DS|FILE.json", help="dataset folder (its annotations/instances.json) or a COCO file")
    p.add_argument("--json", action="store_true", help="print the statistics as JSON instead of a table")
    p.add_argument("--plot", metavar="OUT.png", type=Path, help="also draw them into a PNG (matplotlib)")
    p.add_argument("--no-passes", action="store_true",
                   help="for a dataset folder, do not read the frame records' passes to find occluded instances")
    p.add_argument("--keypoint-tolerance", type=float, default=DEFAULT_TOLERANCE, metavar="M",
                   help=f"depth gap (metres) that counts as occlusion when reading passes (default {DEFAULT_TOLERANCE})")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from blender_coco.records.scan import list_records
    from blender_coco.coco.stats import dataset_stats, format_table, load_target, plot_stats, records_occlusion

    path, data, ds = load_target(args.target)
    occlusion = None
    if ds is not None and not args.no_passes and list_records(ds):
        occlusion = records_occlusion(ds, data, args.keypoint_tolerance)
    stats = dataset_stats(data, occlusion)
    if args.json:
        sys.stdout.write(json.dumps(stats, indent=2) + "\n")
    else:
        sys.stdout.write(format_table(stats, str(path)) + "\n")
    if args.plot is not None:
        plot_stats(stats, args.plot, str(path))
    return 0

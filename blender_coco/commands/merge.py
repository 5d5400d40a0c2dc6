"""``blender-coco merge``: combine dataset folders (shards of one run, or separate runs) into one."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)

EXAMPLE = """example:
  blender-coco merge shard0 shard1 shard2 --out ds        # shards rendered with --shard 0/3, 1/3, 2/3
  blender-coco merge day1 day2 --out all --renumber       # two separate runs: new frame numbers

Categories are unified by name (one name with two definitions is an error). Equal image
file names are one frame: kept once when their annotations agree (shards of one run),
an error otherwise (use --renumber). Ids are kept when the inputs agree on them, so
merged shards equal one unsharded run. Frame records are merged too:
'blender-coco export OUT' re-exports every task (stuff, panoptic, captions)."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("merge", help="combine datasets (shards or runs) into one",
                       description="Merge dataset folders: images, frame records and annotations/instances.json, "
                                   "with categories unified by name and ids remapped.",
                       epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="DS", help="dataset folders (each with annotations/instances.json)")
    p.add_argument("--out", required=True, metavar="DS", help="new dataset folder")
    p.add_argument("--renumber", action="store_true",
                   help="give every image a new frame number (inputs in order) instead of matching file names")
    p.add_argument("--link", action="store_true", help="hard-link images and records instead of copying them")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from blender_coco.coco.merge import merge_datasets

    merge_datasets(args.inputs, args.out, renumber=args.renumber, link=args.link)
    return 0

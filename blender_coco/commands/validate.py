"""``blender-coco validate``: check a COCO file and list every problem, one line each.

The file is read as a stream (:func:`blender_coco.coco.validate.validate_file`), so
its size is bounded by the disk, not the memory.

Exit status: 0 when the file is clean, 1 when problems were found, 2 when the file
cannot be read (missing, not JSON). The problem lines and the summary are the
command's output, so they go to stdout (also under ``--quiet``), ready for grep.
Identical problems of many items print as one line with a count and example ids
(:mod:`blender_coco.coco.validate.grouping`); ``--each`` prints one line per problem.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)

EXAMPLE = """example:
  blender-coco validate ds/annotations/instances.json --images ds/images
  blender-coco validate ds/annotations/panoptic.json      # + its PNGs in ds/annotations/panoptic/
  blender-coco validate person_keypoints_val2017.json | grep 'annotation'

Panoptic files are checked with their segment PNGs (default: the folder named after
the file, as COCO ships panoptic_val2017.json next to panoptic_val2017/); files named
stuff*.json get the stuff rules; captions files need no categories. Crowd regions
(iscrowd 1) get every check but area against the mask: COCO's crowd areas are not
pixel counts. Identical problems of many items print as one line, e.g.
"977 annotations have no 'iscrowd' (e.g. annotation 1, 2, 3)"; --each lists them all.

exit status: 0 clean, 1 problems found, 2 unreadable file"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check a COCO file; print every problem, one line each",
                       description="Check a COCO file's structure and meaning (ids, references, boxes, areas, "
                                   "polygons, RLE, keypoints, skeletons) and print every problem found.",
                       epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", metavar="FILE.json", help="COCO annotation file")
    p.add_argument("--images", metavar="DIR", type=Path,
                   help="image folder: also check each file exists and has the JSON's width and height")
    p.add_argument("--panoptic-dir", metavar="DIR", type=Path,
                   help="folder of a panoptic file's segment PNGs (default: FILE without .json, when it exists)")
    p.add_argument("--stuff", action="store_true",
                   help="apply the stuff rules (default for files named stuff*.json)")
    p.add_argument("--each", action="store_true",
                   help="one line per problem (default: identical problems of many items as one line with a count)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from blender_coco.errors import UserError
    from blender_coco.coco.validate import summary, validate_file
    from blender_coco.coco.validate.grouping import grouped_lines

    if args.images is not None and not args.images.is_dir():
        raise UserError(f"--images {args.images} is not a folder; pass the folder that holds the image files")
    panoptic_dir = args.panoptic_dir
    if panoptic_dir is not None and not panoptic_dir.is_dir():
        raise UserError(f"--panoptic-dir {panoptic_dir} is not a folder; pass the folder that holds the segment PNGs")
    guess = Path(args.file).with_suffix("")
    if panoptic_dir is None and guess.is_dir():
        panoptic_dir = guess
    kind = "stuff" if args.stuff or Path(args.file).name.startswith("stuff") else None
    problems, held, panoptic = validate_file(args.file, args.images, panoptic_dir, kind)
    if panoptic and panoptic_dir is None:
        log.warning("segment PNGs not checked: no folder %s; pass --panoptic-dir", guess)
    out = sys.stdout
    for line in map(str, problems) if args.each else grouped_lines(problems):
        out.write(f"{line}\n")
    out.write(f"{args.file}: {summary(None, problems, held)}\n")
    out.flush()
    return 1 if problems else 0

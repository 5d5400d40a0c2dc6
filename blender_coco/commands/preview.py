"""``blender-coco preview``: one overlay PNG per image (masks, boxes, labels, keypoints, skeleton)."""

from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLE = """example:
  blender-coco preview ds/annotations/instances.json --images ds/images --out ds/preview --limit 20
  blender-coco preview person_keypoints_val2017.json --out preview --image-ids 785 872

Without --images (or where an image file is missing) annotations are drawn on a grey
canvas of the image's size. Output files are named after the image files (stem + .png)."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("preview", help="draw annotations over the images as PNGs, to check them by eye",
                       description="Draw each image's masks, boxes, category labels, keypoints (filled: visible, "
                                   "hollow: occluded) and skeleton into one PNG per image.",
                       epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", metavar="FILE.json", help="COCO annotation file")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder for the preview PNGs")
    p.add_argument("--images", type=Path, metavar="DIR", help="folder holding the image files (default: grey canvas)")
    p.add_argument("--image-ids", type=int, nargs="+", metavar="ID", help="only these image ids")
    p.add_argument("--limit", type=int, metavar="N", help="at most N images")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from blender_coco.errors import UserError
    from blender_coco.io.files import read_json
    from blender_coco.io.preview import write_previews

    if args.limit is not None and args.limit <= 0:
        raise UserError(f"--limit must be a positive integer, got {args.limit}")
    if args.images is not None and not args.images.is_dir():
        raise UserError(f"--images {args.images} is not a folder; pass the folder that holds the image files")
    data = read_json(args.file, "COCO file")
    write_previews(data, args.out, images_dir=args.images, image_ids=args.image_ids, limit=args.limit)
    return 0

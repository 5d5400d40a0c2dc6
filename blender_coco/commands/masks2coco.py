"""``blender-coco masks2coco``: hand-painted color masks (one flat color per object) -> COCO."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from blender_coco.commands._common import add_export_options, export_config_from_args
from blender_coco.config import MAX_MASK_PIXELS
from blender_coco.errors import UserError

log = logging.getLogger(__name__)

EXAMPLE = """example:
  blender-coco masks2coco masks/ --colors colors.json --out instances.json --images images/

colors.json:
  {"categories": [{"id": 1, "name": "houseplant", "supercategory": "plant"},
                  {"id": 2, "name": "book", "supercategory": "thing"}],
   "colors": {"#00ff00": "houseplant"},
   "masks": {"plant_book_mask.png": {"#0000ff": "book"}}}

Masks: black background, one flat color per object, painted without anti-aliasing.
In RGBA masks alpha 0 is background. "colors" applies to every mask, "masks" per file.
A category with "isthing": 0 is stuff: not in OUT.json, one merged segment per image in
--panoptic output (blender-coco masks2coco masks/ --colors c.json --out i.json --panoptic pan/)."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("masks2coco", help="painted color masks -> COCO instances JSON",
                       description="Convert color masks (black background, one flat RGB color per object) "
                                   "into a COCO instances file; every distinct color is one instance.",
                       epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mask_dir", metavar="MASK_DIR", help="folder of mask images (.png, .bmp, .tif), or one mask")
    p.add_argument("--colors", required=True, metavar="COLORS.json", help="categories and color -> category map")
    p.add_argument("--out", required=True, metavar="OUT.json", help="COCO file to write (atomically)")
    p.add_argument("--images", metavar="IMAGE_DIR",
                   help="folder of the images; each mask's file_name becomes the image with the same stem")
    add_export_options(p, mask_threshold=False)
    p.add_argument("--ignore-unmapped", action="store_true",
                   help="skip colors the colors file does not map (default: error)")
    p.add_argument("--panoptic", metavar="DIR_OR_JSON",
                   help="also write COCO panoptic output: X.json with its PNGs in X/, or a folder D "
                        "(D/panoptic.json + D/panoptic/*.png)")
    p.add_argument("--jobs", type=int, metavar="N",
                   help="worker processes (default: one per core when the masks hold 8 megapixels or more; "
                        "the output is the same)")
    p.add_argument("--max-pixels", type=int, default=MAX_MASK_PIXELS, metavar="N",
                   help=f"largest mask to read, in pixels (default {MAX_MASK_PIXELS:,}: 10000x10000; converting takes "
                        "about 16 bytes of memory a pixel)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from blender_coco.coco.colormask import colormask_to_coco, find_mask_files, load_color_spec

    out = Path(args.out)
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; pass a file name such as {out / 'instances.json'}")
    config = export_config_from_args(args)
    spec = load_color_spec(args.colors)
    masks = find_mask_files(args.mask_dir)
    if args.panoptic is not None and Path(args.panoptic).resolve() == out.resolve():
        raise UserError(f"--panoptic {args.panoptic} is the --out file; give panoptic output its own name")
    ds = colormask_to_coco(masks, spec, images_dir=args.images, config=config, ignore_unmapped=args.ignore_unmapped,
                           panoptic=args.panoptic, jobs=args.jobs, max_pixels=args.max_pixels)
    ds.write(str(out))
    log.info("wrote %s: %d images, %d annotations, %d categories",
             out, len(ds.images), len(ds.annotations), len(ds.categories))
    return 0

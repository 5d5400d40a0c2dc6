"""``blender-coco preview``: one overlay PNG per image (masks, boxes, labels, keypoints, skeleton)."""

from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLE = """example:
  blender-coco preview ds/annotations/instances.json --images ds/images --out ds/preview --limit 20
  blender-coco preview person_keypoints_val2017.json --out preview --image-ids 785 872

Without --images (or where an image file is missing) annotations are drawn on a grey
canvas of the image's size. Output files are named after the image files (stem + .png).

HTML gallery (open OUT/index.html in a browser; toggles per category and per layer):
  blender-coco preview ds/annotations/instances.json --html ds/gallery
It shows stuff.json, panoptic.json (+ panoptic/) and captions.json found next to
FILE.json, or the files given with --stuff/--panoptic/--captions; images default to
DS/images for DS/annotations/FILE.json."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("preview", help="draw annotations over the images as PNGs, to check them by eye",
                       description="Draw each image's masks, boxes, category labels, keypoints (filled: visible, "
                                   "hollow: occluded) and skeleton into one PNG per image.",
                       epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", metavar="FILE.json", help="COCO annotation file")
    p.add_argument("--out", type=Path, metavar="DIR", help="folder for the preview PNGs")
    p.add_argument("--html", type=Path, metavar="OUT_DIR", help="write a static HTML gallery (index.html + images) here")
    p.add_argument("--stuff", type=Path, metavar="FILE", help="gallery: stuff.json to show (default: next to FILE.json)")
    p.add_argument("--panoptic", type=Path, metavar="FILE",
                   help="gallery: panoptic JSON, its PNGs in the folder of the same name (default: next to FILE.json)")
    p.add_argument("--captions", type=Path, metavar="FILE", help="gallery: captions.json (default: next to FILE.json)")
    p.add_argument("--images", type=Path, metavar="DIR", help="folder holding the image files (default: grey canvas)")
    p.add_argument("--image-ids", type=int, nargs="+", metavar="ID", help="only these image ids")
    p.add_argument("--limit", type=int, metavar="N", help="at most N images")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from blender_coco.errors import UserError
    from blender_coco.coco.dataset import load_coco
    from blender_coco.coco.preview import write_previews

    if args.limit is not None and args.limit <= 0:
        raise UserError(f"--limit must be a positive integer, got {args.limit}")
    if args.images is not None and not args.images.is_dir():
        raise UserError(f"--images {args.images} is not a folder; pass the folder that holds the image files")
    if args.out is None and args.html is None:
        raise UserError("give --out DIR (preview PNGs) or --html DIR (a gallery), or both")
    data = load_coco(args.file)
    if args.out is not None:
        write_previews(data, args.out, images_dir=args.images, image_ids=args.image_ids, limit=args.limit)
    if args.html is not None:
        _gallery(args, data)
    return 0


def _gallery(args: argparse.Namespace, data: dict) -> None:
    from blender_coco.errors import UserError
    from blender_coco.coco.dataset import load_coco
    from blender_coco.files import shown_name
    from blender_coco.coco.gallery import sibling_files, write_gallery
    from blender_coco.coco.panoptic import panoptic_paths

    found = sibling_files(args.file)
    files = {key: getattr(args, key) or found.get(key) for key in ("stuff", "panoptic", "captions")}
    loaded = {key: load_coco(path, f"{key} file") if path is not None else None for key, path in files.items()}
    panoptic_dir = None
    if files["panoptic"] is not None:
        panoptic_dir = panoptic_paths(files["panoptic"])[1]
        if not panoptic_dir.is_dir():
            raise UserError(f"panoptic file {files['panoptic']} has no PNG folder {panoptic_dir}; "
                            "keep the PNGs in the folder named after the JSON")
    images = args.images
    if images is None:
        guess = Path(args.file).resolve().parent.parent / "images"
        images = guess if Path(args.file).resolve().parent.name == "annotations" and guess.is_dir() else None
    write_gallery(data, args.html, images, stuff=loaded["stuff"], panoptic=loaded["panoptic"], panoptic_dir=panoptic_dir,
                  captions=loaded["captions"], image_ids=args.image_ids, limit=args.limit,
                  title=f"blender-coco: {shown_name(Path(args.file).name)}")

"""Options shared by several subcommands (export settings), and how the CLI names a setting (:func:`flag`)."""

from __future__ import annotations

import argparse

from blender_coco.coco.split import SPLIT_BY, parse_fractions
from blender_coco.config import INFO_FIELDS, SEGMENTATION_MODES, TASKS, ExportConfig
from blender_coco.errors import UserError


#: Settings whose flag is not ``--`` plus the field name with dashes.
_FLAGS = {"randomize": "--config", "iscrowd": "--crowd"}


def flag(field: str) -> str:
    """The command-line flag of a config field: ``out`` -> ``--out``, ``randomize`` -> ``--config``."""
    return _FLAGS.get(field, "--" + field.replace("_", "-"))


def add_export_options(p: argparse.ArgumentParser, mask_threshold: bool = True) -> None:
    """--segmentation, --tolerance, --min-area, --keypoint-tolerance, --crowd: how masks become annotations;
    --mask-threshold (rendered records only) which pixels an instance owns."""
    d = ExportConfig()
    p.add_argument("--segmentation", choices=SEGMENTATION_MODES, default=d.segmentation,
                   help="auto: polygons, RLE for masks with holes (default); polygon; rle")
    p.add_argument("--tolerance", type=float, default=d.tolerance, metavar="PX",
                   help=f"polygon simplification in pixels (default {d.tolerance}: rasterizes back exactly)")
    p.add_argument("--min-area", type=int, default=d.min_area, metavar="N",
                   help="drop instances with fewer visible pixels (default 1)")
    p.add_argument("--min-visibility", type=float, default=d.min_visibility, metavar="F",
                   help="drop annotations whose visible_fraction (visible / amodal area) is below F (default 0: keep "
                        "all; needs records rendered with --amodal)")
    p.add_argument("--max-truncation", type=float, default=d.max_truncation, metavar="F",
                   help="drop annotations whose truncation (share of the silhouette outside the image) is above F "
                        "(default 1: keep all; needs records rendered with --amodal)")
    p.add_argument("--keypoint-tolerance", type=float, default=d.keypoint_tolerance, metavar="M",
                   help=f"self-occlusion tolerance for keypoints, in metres whatever the scene's unit scale "
                        f"(default {d.keypoint_tolerance}: joints sit inside the body)")
    if mask_threshold:
        p.add_argument("--mask-threshold", type=float, default=d.mask_threshold, metavar="SHARE",
                       help="share of a pixel (0-1] an instance must cover to own it (default: the majority: at least "
                            "as much as everything unannotated in the pixel)")
    p.add_argument("--crowd", action="store_true",
                   help="mark annotations iscrowd=1 (Detectron2 and COCOeval then ignore them)")
    p.add_argument("--info", action="append", default=[], metavar="KEY=VALUE", type=_info_pair,
                   help=f"set a field of the dataset's info block ({', '.join(INFO_FIELDS)}); repeatable, "
                        "e.g. --info description='tabletop v2' --info year=2026")


def _info_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with KEY one of {', '.join(INFO_FIELDS)}, got {text!r}")
    return key.strip(), value


def parse_tasks(text: str) -> tuple[str, ...]:
    """'instances,panoptic' -> ('instances', 'panoptic'); 'all' -> every task."""
    if text.strip() == "all":
        return TASKS
    names = tuple(t.strip() for t in text.split(",") if t.strip())
    bad = [t for t in names if t not in TASKS]
    if bad or not names:
        raise UserError(f"--tasks must be 'all' or a comma-separated list of {', '.join(TASKS)}, got {text!r}")
    return tuple(dict.fromkeys(names))


def add_task_options(p: argparse.ArgumentParser) -> None:
    """--tasks, --captions-per-image, --caption-templates, --stuff-other: which annotation files to write;
    --split, --split-by, --split-seed: COCO's train/val/test layout of them."""
    d = ExportConfig()
    p.add_argument("--tasks", metavar="LIST", default=None,
                   help=f"files to write: 'all' or a comma-separated list of {', '.join(TASKS)} (default: instances and "
                        "captions, plus person_keypoints when a category has keypoints, stuff and panoptic when the "
                        "scene marks stuff)")
    p.add_argument("--captions-per-image", type=int, default=d.captions_per_image, metavar="N",
                   help=f"captions per image in captions.json (default {d.captions_per_image})")
    p.add_argument("--caption-templates", metavar="FILE",
                   help="TOML or JSON file of caption templates, plurals and articles (see blender_coco.coco.captions)")
    p.add_argument("--stuff-other", action="store_true",
                   help="in stuff.json, label unmarked surfaces with the extra category 'other'")
    p.add_argument("--split", metavar="SPEC",
                   help="also write COCO's split layout into the dataset: annotations/{task}_{train,val,test}.json and "
                        "images/{train,val,test}/ (hard links), e.g. train=0.8,val=0.1,test=0.1 (fractions sum to 1; "
                        "replaces an earlier split)")
    p.add_argument("--split-by", choices=SPLIT_BY, default=d.split_by,
                   help="frame: each image on its own (default); scene: images of one scene frame stay together")
    p.add_argument("--split-seed", type=int, default=d.split_seed, metavar="S",
                   help=f"seed of the split's shuffle (default {d.split_seed})")


def export_config_from_args(args: argparse.Namespace, **extra) -> ExportConfig:
    tasks = getattr(args, "tasks", None)
    task_options = {}
    if hasattr(args, "captions_per_image"):
        task_options = {"tasks": parse_tasks(tasks) if tasks is not None else None,
                        "captions_per_image": args.captions_per_image, "stuff_other": args.stuff_other,
                        "caption_templates": args.caption_templates,
                        "split": parse_fractions(args.split) if args.split else None,
                        "split_by": args.split_by, "split_seed": args.split_seed}
    return ExportConfig(segmentation=args.segmentation, tolerance=args.tolerance, min_area=args.min_area,
                        keypoint_tolerance=args.keypoint_tolerance, iscrowd=args.crowd, info=tuple(args.info),
                        min_visibility=args.min_visibility, max_truncation=args.max_truncation,
                        mask_threshold=getattr(args, "mask_threshold", None),
                        **task_options, **extra)


"""Options shared by several subcommands (segmentation settings)."""

from __future__ import annotations

import argparse

from blender_coco.config import SEGMENTATION_MODES, ExportConfig


def add_export_options(p: argparse.ArgumentParser) -> None:
    """--segmentation, --tolerance, --min-area, --keypoint-tolerance, --crowd: how masks become annotations."""
    d = ExportConfig()
    p.add_argument("--segmentation", choices=SEGMENTATION_MODES, default=d.segmentation,
                   help="auto: polygons, RLE for masks with holes (default); polygon; rle")
    p.add_argument("--tolerance", type=float, default=d.tolerance, metavar="PX",
                   help=f"polygon simplification in pixels (default {d.tolerance}: rasterizes back exactly)")
    p.add_argument("--min-area", type=int, default=d.min_area, metavar="N",
                   help="drop instances with fewer visible pixels (default 1)")
    p.add_argument("--keypoint-tolerance", type=float, default=d.keypoint_tolerance, metavar="M",
                   help=f"self-occlusion tolerance for keypoints, in scene units (default {d.keypoint_tolerance}: "
                        "joints sit inside the body)")
    p.add_argument("--crowd", action="store_true",
                   help="mark annotations iscrowd=1 (Detectron2 and COCOeval then ignore them)")


def export_config_from_args(args: argparse.Namespace, **extra) -> ExportConfig:
    return ExportConfig(segmentation=args.segmentation, tolerance=args.tolerance, min_area=args.min_area,
                        keypoint_tolerance=args.keypoint_tolerance, iscrowd=args.crowd, **extra)

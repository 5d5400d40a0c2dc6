"""``blender-coco export``: rebuild annotations from frame records, without re-rendering.

Two internal options carry the hand-off from a render stage running in another
Python (a stock Blender, :mod:`blender_coco.blender.handoff`): ``--export-config``
gives the whole :class:`~blender_coco.config.ExportConfig` as JSON (instead of the
export flags) and ``--export-result`` asks for the
:class:`~blender_coco.coco.export_result.ExportResult` as JSON.
"""

from __future__ import annotations

import argparse
import json

from blender_coco.commands._common import add_export_options, add_task_options, export_config_from_args
from blender_coco.config import ExportConfig
from blender_coco.errors import UserError
from blender_coco.files import read_json, write_json_atomic

EXAMPLE = """example:
  blender-coco export ds --segmentation rle          # re-export ds/records as exact RLE
  blender-coco export ds --tolerance 1.0 --jobs 2    # coarser polygons, two processes
  blender-coco export ds --tasks all --captions-per-image 5   # + person_keypoints, stuff, panoptic, captions
  blender-coco export ds --split train=0.8,val=0.1,test=0.1   # + annotations/*_{train,val,test}.json, images/{train,...}/"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="frame records -> annotations/instances.json (no re-render)",
                       description="Rebuild DS/annotations/instances.json from the frame records in DS/records.",
                       epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", metavar="DS", help="dataset folder written by 'blender-coco render'")
    add_export_options(p)
    add_task_options(p)
    p.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--output", metavar="FILE", help="write here instead of DS/annotations/instances.json")
    p.add_argument("--export-config", metavar="JSON|@FILE",
                   help="internal (the render stage's hand-off): every export setting as ExportConfig JSON, inline "
                        "or in FILE; replaces the options above")
    p.add_argument("--export-result", metavar="FILE",
                   help="internal (the render stage's hand-off): write the files written and the counts as JSON")
    p.set_defaults(func=run)


def config_from_json_arg(text: str) -> ExportConfig:
    """``--export-config``: ExportConfig JSON inline, or ``@FILE`` holding it."""
    if text.startswith("@"):
        return ExportConfig.from_json(read_json(text[1:], "export config"))
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UserError(f"--export-config is not valid JSON ({exc}); pass what ExportConfig.to_json() gives") from None
    return ExportConfig.from_json(data)


def config_from_args(args: argparse.Namespace) -> ExportConfig:
    """The export settings: ``--export-config`` when given, else the export options."""
    return config_from_json_arg(args.export_config) if args.export_config else export_config_from_args(args)


def run(args: argparse.Namespace) -> int:
    from blender_coco.coco.export import export_dataset

    result = export_dataset(args.dataset, config_from_args(args), jobs=args.jobs, out=args.output)
    if args.export_result:
        write_json_atomic(args.export_result, result.to_json())
    return 0

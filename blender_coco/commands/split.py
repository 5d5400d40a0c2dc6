"""``blender-coco split``: a dataset folder -> COCO's train/val/test layout (:mod:`blender_coco.coco.split`)."""

from __future__ import annotations

import argparse

from blender_coco.coco.split import SPLIT_BY, SplitSpec, split_dataset
from blender_coco.errors import UserError

EXAMPLE = """example:
  blender-coco split ds --out ds_split --train 0.8 --val 0.1 --test 0.1
  blender-coco split ds --out ds_split --train 0.9 --val 0.1 --by scene --seed 3

writes ds_split/images/{train,val,test}/ (hard links to ds/images, copies across file
systems) and ds_split/annotations/{instances,person_keypoints,stuff,panoptic,captions}_{split}.json
for each of those files ds/annotations has (panoptic PNGs in annotations/panoptic_{split}/).
Every image lands in exactly one split with its id and its annotations' ids; categories
are the same in every split. --by scene keeps the images of one scene frame (frame
records' scene_frame: repeats of an animation frame, several cameras of one moment) in
one split. The same --seed gives the same split. render and export take --split
train=0.8,val=0.1,test=0.1 to write this layout into the dataset folder itself."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("split", help="split a dataset into train/val/test in COCO's folder layout",
                       description="Split dataset folder DS into OUT in COCO's layout: images/{train,val,test}/ and "
                                   "annotations/{task}_{split}.json. Fractions must sum to 1; a split of fraction 0 "
                                   "gets no files.",
                       epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", metavar="DS", help="dataset folder (annotations/*.json, images/)")
    p.add_argument("--out", required=True, metavar="OUT", help="output folder (may be DS itself)")
    for name in ("train", "val", "test"):
        p.add_argument(f"--{name}", type=float, metavar="F", help=f"fraction of images in {name} (default 0)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the shuffle (default 0)")
    p.add_argument("--by", choices=SPLIT_BY, default="frame",
                   help="frame: each image on its own (default); scene: images of one scene frame stay together "
                        "(needs DS/records)")
    p.add_argument("--overwrite", action="store_true", help="replace a split OUT already holds (default: an error)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    given = {name: getattr(args, name) for name in ("train", "val", "test") if getattr(args, name) is not None}
    if not given:
        raise UserError("give the split's fractions, e.g. --train 0.8 --val 0.1 --test 0.1")
    total = sum(given.values())
    terms = " + ".join(f"--{name} {f:g}" for name, f in given.items())
    if abs(total - 1) > 1e-6:
        raise UserError(f"the fractions must sum to 1, got {terms} = {total:g}")
    spec = SplitSpec(tuple(given.items()), args.seed, args.by)
    split_dataset(args.dataset, args.out, spec, overwrite=args.overwrite)
    return 0

"""Split a dataset into train/val/test in COCO's own layout.

::

    SplitSpec(fractions=(("train", 0.8), ("val", 0.1), ("test", 0.1)), seed=0, by="frame")
    parse_fractions("train=0.8,val=0.1,test=0.1") -> (("train", 0.8), ("val", 0.1), ("test", 0.1))
    assign(groups, spec) -> {image id: split name}     groups: {image id: group key}
    split_dataset(ds, out, spec, overwrite=False, files=None) -> SplitResult(files, images, linked, copied)

Input: ``DS/annotations/{instances,person_keypoints,stuff,panoptic,captions}.json``
(those that exist; or ``files``, task -> path, as the export passes them), the images
they name under ``DS/images/`` and a panoptic file's PNGs in the folder named after it.
Output, for each split whose fraction is > 0 (splits of fraction 0 get no files)::

    OUT/images/{split}/...                         hard links to DS/images/... (copies across file systems)
    OUT/annotations/{task}_{split}.json            per input file: its images of the split and their annotations
    OUT/annotations/panoptic_{split}/*.png         that split's panoptic PNGs (hard links)

The rules:

* Every image (by id, over all input files) lands in exactly one split; an image keeps
  its id, ``file_name`` (now relative to ``images/{split}/``) and annotations, with
  their ids. Everything else in a file (info, licenses, categories) is copied as it
  is, so category ids are identical across splits and the splits' union is the input.
* ``by="frame"``: images are assigned one by one. ``by="scene"``: images that show the
  same scene frame (the frame records' ``scene_frame``: an animation frame, whatever
  the run's randomization did to it, e.g. frames i and i + range of an animation
  rendered longer than its range, or several cameras of one moment) form one group
  that goes to one split whole, so near-duplicates never straddle train and test.
  It needs the frame records (``DS/records``); split sizes then follow the fractions
  only as closely as whole groups allow.
* Deterministic: groups are shuffled with ``random.Random(seed)`` (largest groups
  placed first), each nonzero split first gets one group, then every group goes to
  the split furthest below its share. Sizes: ``round(fraction * n)`` with the
  remainders distributed so they add up to n, at least one image per nonzero split.
* Fractions are those of :data:`SPLITS` (train, val, test), each in [0, 1], summing
  to 1; a split with a fraction > 0 that would stay empty is an error.
* Writes are atomic: everything is built in a hidden staging folder in OUT and moved
  into place at the end (images folders and JSON files by rename). OUT already
  holding a split is an error unless ``overwrite`` (then every old split file and
  folder is removed first, also those of splits the new spec leaves out).

Plain Python (standard library): never imports bpy.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Hashable

from blender_coco.errors import UserError, check
from blender_coco.files import ensure_dir, read_json, write_json_atomic
from blender_coco.values import is_int, is_number

log = logging.getLogger(__name__)

#: Split names, in their order.
SPLITS = ("train", "val", "test")
#: How images are grouped before they are assigned.
SPLIT_BY = ("frame", "scene")
#: The annotation files a split splits (``DS/annotations/{task}.json``), in writing order.
SPLIT_TASKS = ("instances", "person_keypoints", "stuff", "panoptic", "captions")
#: Fractions must add up to 1 within this.
SUM_TOLERANCE = 1e-6


@dataclass(frozen=True)
class SplitSpec:
    """How to split: ``fractions`` ``(name, fraction)`` with names from :data:`SPLITS`,
    ``seed`` for the shuffle, ``by`` ``frame`` or ``scene`` (module docstring)."""

    fractions: tuple[tuple[str, float], ...]
    seed: int = 0
    by: str = "frame"

    def __post_init__(self) -> None:
        pairs = self.fractions
        ok = isinstance(pairs, (tuple, list)) and all(
            isinstance(p, (tuple, list)) and len(p) == 2 and p[0] in SPLITS and is_number(p[1]) for p in pairs)
        check(ok and len(pairs) > 0, f"split must give fractions of {', '.join(SPLITS)} (e.g. train=0.8,val=0.1,test=0.1), "
                                     f"got {pairs!r}")
        names = [name for name, _ in pairs]
        check(len(set(names)) == len(names), f"split names each split once, got {', '.join(names)}")
        for name, fraction in pairs:
            check(0 <= fraction <= 1, f"split fraction of {name} must be in [0, 1], got {fraction!r}")
        total = sum(f for _, f in pairs)
        terms = " + ".join(f"{name} {f:g}" for name, f in pairs)
        check(abs(total - 1) <= SUM_TOLERANCE, f"split fractions must sum to 1, got {terms} = {total:g}")
        object.__setattr__(self, "fractions", tuple(sorted(((str(n), float(f)) for n, f in pairs),
                                                           key=lambda p: SPLITS.index(p[0]))))
        check(is_int(self.seed) and 0 <= self.seed < 2**63, f"split seed must be an integer in [0, 2^63), got {self.seed!r}")
        check(self.by in SPLIT_BY, f"split by must be one of {', '.join(SPLIT_BY)}, got {self.by!r}")

    @property
    def names(self) -> tuple[str, ...]:
        """The splits that get files: those with a fraction > 0, in :data:`SPLITS` order."""
        return tuple(name for name, f in self.fractions if f > 0)


def parse_fractions(text: str) -> tuple[tuple[str, float], ...]:
    """``'train=0.8,val=0.1,test=0.1'`` -> ``(('train', 0.8), ('val', 0.1), ('test', 0.1))``
    (checked by :class:`SplitSpec`; a one-line error when it does not parse)."""
    pairs = []
    for part in text.split(","):
        name, sep, value = part.partition("=")
        try:
            pairs.append((name.strip(), float(value)))
        except ValueError:
            sep = ""
        if not sep:
            raise UserError(f"split must look like train=0.8,val=0.1,test=0.1, got {text!r}")
    return tuple(pairs)


def _targets(n: int, spec: SplitSpec) -> dict[str, int]:
    """Images per nonzero split: round(fraction * n) adding up to n (largest remainders), at least 1 each."""
    names = spec.names
    fractions = dict(spec.fractions)
    raw = {s: fractions[s] * n for s in names}
    out = {s: int(raw[s]) for s in names}
    for s in sorted(names, key=lambda s: (-(raw[s] - out[s]), SPLITS.index(s)))[: n - sum(out.values())]:
        out[s] += 1
    for s in names:  # a nonzero split gets at least one image, taken from the largest
        if out[s] == 0 and n >= len(names):
            donor = max(names, key=lambda t: (out[t], -SPLITS.index(t)))
            out[donor] -= 1
            out[s] += 1
    return out


def assign(groups: dict[int, Hashable], spec: SplitSpec, what: str = "images") -> dict[int, str]:
    """Each image id -> its split; images with one group key share a split (module docstring).

    Keys must be sortable among themselves (ints, strings). ``what`` names the groups in
    the error raised when a nonzero split would stay empty.
    """
    members: dict[Hashable, list[int]] = defaultdict(list)
    for image_id in sorted(groups):
        members[groups[image_id]].append(image_id)
    keys = sorted(members)
    random.Random(spec.seed).shuffle(keys)
    keys.sort(key=lambda k: -len(members[k]))  # stable: equal sizes keep the shuffled order
    names = spec.names
    n = len(groups)
    if len(keys) < len(names):
        raise UserError(f"cannot fill {len(names)} splits ({', '.join(names)}) from {n} images in {len(keys)} {what}; "
                        f"give fewer splits a fraction > 0" + ("" if spec.by == "frame" else ", or split by frame"))
    target = _targets(n, spec)
    got = {s: 0 for s in names}
    out: dict[int, str] = {}

    def put(key: Hashable, split: str) -> None:
        for image_id in members[key]:
            out[image_id] = split
        got[split] += len(members[key])

    # the smallest groups first seed the smallest splits, one each; the rest go where the share is furthest away
    seeds = keys[len(keys) - len(names):][::-1]
    for key, split in zip(seeds, sorted(names, key=lambda s: (target[s], SPLITS.index(s)))):
        put(key, split)
    for key in keys[: len(keys) - len(names)]:
        put(key, max(names, key=lambda s: (target[s] - got[s], -SPLITS.index(s))))
    return out


@dataclass(frozen=True)
class SplitResult:
    """``files``: ``{task}_{split}`` -> the file written; ``images``: images per split;
    ``linked`` / ``copied``: image and PNG files hard-linked or copied."""

    files: dict[str, Path]
    images: dict[str, int]
    linked: int
    copied: int


def input_files(ds: Path) -> dict[str, Path]:
    """The annotation files of ``DS/annotations`` a split splits, task -> path."""
    return {t: ds / "annotations" / f"{t}.json" for t in SPLIT_TASKS if (ds / "annotations" / f"{t}.json").is_file()}


def existing_split(out: Path) -> Path | None:
    """A file or folder of a split already in ``out``, or None."""
    for name in SPLITS:
        for path in [out / "images" / name, out / "annotations" / f"panoptic_{name}"] + \
                    [out / "annotations" / f"{t}_{name}.json" for t in SPLIT_TASKS]:
            if path.exists():
                return path
    return None


def _load(files: dict[str, Path]) -> dict[str, dict[str, Any]]:
    data = {}
    for task, path in files.items():
        d = read_json(path, "COCO file")
        if not isinstance(d, dict) or not all(isinstance(d.get(k), list) for k in ("images", "annotations")):
            raise UserError(f"{path} is not a COCO file (no 'images' and 'annotations' lists); "
                            "check it with blender-coco validate")
        data[task] = d
    return data


def _images(data: dict[str, dict[str, Any]], files: dict[str, Path]) -> dict[int, dict[str, Any]]:
    """Every image by id over all files; one id must name one image everywhere."""
    images: dict[int, dict[str, Any]] = {}
    seen_in: dict[int, str] = {}
    for task, d in data.items():
        for img in d["images"]:
            img_id, name = (img.get("id"), img.get("file_name")) if isinstance(img, dict) else (None, None)
            if not is_int(img_id) or not isinstance(name, str) or not name:
                raise UserError(f"{files[task]}: image entry {str(img)[:80]} has no integer 'id' and 'file_name'; "
                                "check it with blender-coco validate")
            if img_id in images and images[img_id]["file_name"] != name:
                raise UserError(f"image id {img_id} is {images[img_id]['file_name']!r} in {files[seen_in[img_id]]} but "
                                f"{name!r} in {files[task]}; the files must describe the same images")
            images.setdefault(img_id, img)
            seen_in.setdefault(img_id, task)
        own = {img["id"] for img in d["images"]}
        for ann in d["annotations"]:
            if not isinstance(ann, dict) or not is_int(ann.get("image_id")) or ann["image_id"] not in own:
                what = ann.get("id") if isinstance(ann, dict) else ann
                raise UserError(f"{files[task]}: annotation {str(what)[:40]} refers to no image of its file; "
                                "check it with blender-coco validate")
    return images


def scene_groups(ds: Path, images: dict[int, dict[str, Any]]) -> dict[int, int]:
    """Image id -> the scene frame it shows, from the frame records (``by="scene"``)."""
    from blender_coco.records.scan import list_records
    from blender_coco.records.sidecar import load_record

    frames: dict[str, int | None] = {}
    for path in list_records(ds):
        side = load_record(path).sidecar
        frames[side.image] = side.scene_frame
    if not frames:
        raise UserError(f"split by scene needs the frame records in {ds / 'records'} (which scene frame each image "
                        "shows); split by frame instead")
    out = {}
    for img_id, img in images.items():
        if img["file_name"] not in frames:
            raise UserError(f"image {img['file_name']!r} has no frame record in {ds / 'records'}, so its scene frame is "
                            "unknown; split by frame, or re-render it")
        if frames[img["file_name"]] is None:
            raise UserError(f"the frame record of {img['file_name']!r} gives no scene_frame; split by frame")
        out[img_id] = frames[img["file_name"]]
    return out


def _place(src: Path, dst: Path, counts: list[int]) -> None:
    """Hard-link ``src`` to ``dst``; copy it when a link cannot be made (another file system)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
        counts[0] += 1
    except OSError as exc:
        if counts[1] == 0:
            log.info("copying instead of hard-linking (%s)", exc.strerror or exc)
        shutil.copy2(src, dst)
        counts[1] += 1


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def split_dataset(ds: str | Path, out: str | Path, spec: SplitSpec, *, overwrite: bool = False,
                  files: dict[str, Path] | None = None) -> SplitResult:
    """Split dataset folder ``ds`` into ``out`` (may be ``ds`` itself) by ``spec`` (module docstring)."""
    ds, out = Path(ds), Path(out)
    files = {t: Path(p) for t, p in (files or input_files(ds)).items() if t in SPLIT_TASKS}
    if not files:
        raise UserError(f"{ds / 'annotations'} has none of {', '.join(t + '.json' for t in SPLIT_TASKS)}; "
                        f"export the dataset first (blender-coco export {ds})")
    old = existing_split(out)
    if old is not None and not overwrite:
        raise UserError(f"{out} already holds a split ({old}); pass {{overwrite}} to replace it, or choose another "
                        "{out}", field=("overwrite", "out"))
    data = _load(files)
    images = _images(data, files)
    if not images:
        raise UserError(f"{ds} has no images to split; render or export some first")
    sources = {img_id: ds / "images" / img["file_name"] for img_id, img in images.items()}
    pngs: dict[int, tuple[Path, str]] = {}  # image id -> (PNG, its name in the panoptic folder)
    if "panoptic" in data:
        folder = files["panoptic"].with_suffix("")
        for ann in data["panoptic"]["annotations"]:
            name = ann.get("file_name")
            if not isinstance(name, str) or not name:
                raise UserError(f"{files['panoptic']}: the annotation of image {ann['image_id']} names no segment PNG "
                                "('file_name'); check it with blender-coco validate")
            pngs[ann["image_id"]] = (folder / name, name)
    targets = [out.resolve() / "images" / s for s in SPLITS] + [out.resolve() / "annotations" / f"panoptic_{s}" for s in SPLITS]
    for path in list(sources.values()) + [png for png, _ in pngs.values()]:
        if not path.is_file():
            raise UserError(f"{path} does not exist; the split needs every image (and panoptic PNG) its files name")
        if any(_inside(path.resolve(), t) for t in targets):
            raise UserError(f"{path} lies where the split writes (images/train|val|test, annotations/panoptic_*); "
                            "choose another {out}", field="out")
    groups: dict[int, Hashable] = {i: i for i in images} if spec.by == "frame" else scene_groups(ds, images)
    where = assign(groups, spec, "images" if spec.by == "frame" else "scene frames (split by scene)")

    ensure_dir(out)
    staging = out / f".split.{os.getpid()}.tmp"
    if staging.exists():
        shutil.rmtree(staging)
    counts = [0, 0]
    written: dict[str, Path] = {}
    try:
        for img_id, split in sorted(where.items()):
            _place(sources[img_id], staging / "images" / split / images[img_id]["file_name"], counts)
        for img_id, (png, name) in sorted(pngs.items()):
            _place(png, staging / "annotations" / f"panoptic_{where[img_id]}" / name, counts)
        for task, d in data.items():
            for split in spec.names:
                part = {k: v for k, v in d.items() if k not in ("images", "annotations")}
                ids = {i["id"] for i in d["images"] if where[i["id"]] == split}
                body = {**part, "images": [i for i in d["images"] if i["id"] in ids],
                        "annotations": [a for a in d["annotations"] if a["image_id"] in ids]}
                order = [k for k in d if k in body] + [k for k in body if k not in d]
                name = f"{task}_{split}"
                write_json_atomic(staging / "annotations" / f"{name}.json", {k: body[k] for k in order})
                written[name] = out / "annotations" / f"{name}.json"
        for s in SPLITS:  # old split files and folders go (overwrite), then the new ones move in
            for path in [out / "images" / s, out / "annotations" / f"panoptic_{s}"]:
                if path.is_dir():
                    shutil.rmtree(path)
            for t in SPLIT_TASKS:
                (out / "annotations" / f"{t}_{s}.json").unlink(missing_ok=True)
        for sub in ("images", "annotations"):
            if (staging / sub).is_dir():
                ensure_dir(out / sub)
                for entry in sorted((staging / sub).iterdir()):
                    os.replace(entry, out / sub / entry.name)
    except OSError as exc:
        raise UserError(f"cannot write the split into {out}: {exc.strerror or exc}; check the folder's permissions and "
                        "free space") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    sizes = {s: sum(1 for v in where.values() if v == s) for s in spec.names}
    log.info("split %d images into %s (by %s, seed %d) in %s; %d files hard-linked, %d copied",
             len(images), ", ".join(f"{s} {n}" for s, n in sizes.items()), spec.by, spec.seed, out, *counts)
    return SplitResult(files=written, images=sizes, linked=counts[0], copied=counts[1])

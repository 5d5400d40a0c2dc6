"""Hand-painted color masks -> COCO instances (the ``masks2coco`` pipeline).

A color mask is an image with a black (0, 0, 0) background and one flat RGB color
per object: every distinct color is one instance. In RGBA masks a pixel with
alpha 0 is background whatever its RGB; other pixels count by their RGB alone.

A colors file (``COLORS.json``) says which color is which category::

    {"categories": [{"id": 1, "name": "houseplant", "supercategory": "plant"}, ...],
     "colors": {"#00ff00": "houseplant"},
     "masks": {"plant_book_mask.png": {"#0000ff": "book"}}}

``colors`` applies to every mask; ``masks`` overrides or extends it per mask file
name. A color mapped to ``null`` is skipped (never annotated, never an error).
Category ids are kept as given. A category entry may say ``"isthing": 0`` (stuff:
left out of the instances file, merged into one region per image in panoptic
output) and give a display ``"color": [r, g, b]`` for panoptic output.

Panoptic output (``panoptic=`` / ``--panoptic``): the masks are already segment
images, so each mapped color keeps its own segment id (R + 256 G + 256^2 B); colors
mapped to ``null``, ignored unmapped colors and things under ``min_area`` become void
(0), and the colors of one stuff category are merged under the id of the first
(smallest) of them. See :mod:`blender_coco.coco.panoptic` for the format.

Each mask becomes an ID mask without sorting its pixels, its colors looked up in the
colors file as a table (:mod:`blender_coco.coco.colorindex`), and goes through the
same exporter as rendered frames (:func:`blender_coco.coco.instances.annotate`), so
boxes, areas and RLE are exact and polygons follow the same rules.

Many masks (together ``PARALLEL_MIN_PIXELS`` or more, judged by the first one's size)
are decoded and annotated in worker processes, one per core (``jobs``), in chunks; a
few stay in this process. The results are taken in mask order and everything is
written by the calling process, so the output, the errors and what is written before
an error are those of the serial path, byte for byte.
"""

from __future__ import annotations

import logging
import os
import re
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import numpy as np
from PIL import Image, UnidentifiedImageError

from blender_coco.config import MAX_MASK_PIXELS, ExportConfig
from blender_coco.errors import UserError
from blender_coco.coco.colorindex import color_table, index_colors, look_up_colors, pixel_limit_off, read_color_mask
from blender_coco.coco.dataset import Category, CocoDataset, DatasetInfo
from blender_coco.files import read_json, shown_name, write_bytes_atomic
from blender_coco.coco.instances import annotate

log = logging.getLogger(__name__)

MASK_SUFFIXES = (".png", ".bmp", ".tif", ".tiff")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
LOSSY_SUFFIXES = (".jpg", ".jpeg", ".webp")
SPEC_KEYS = ("categories", "colors", "masks")
SHOWN_COLORS = 5        # unmapped colors listed by name in an error
ANTIALIASED_COLORS = 8  # more unmapped colors than this: the mask looks anti-aliased
PARALLEL_MIN_PIXELS = 8_000_000  # less mask area in all: one process (starting workers costs more than they save)

_HEX = re.compile(r"#[0-9a-fA-F]{6}")


def parse_color(text: Any) -> int:
    """'#rrggbb' (any case) -> the packed integer R << 16 | G << 8 | B; ValueError otherwise."""
    if not isinstance(text, str) or not _HEX.fullmatch(text.strip()):
        raise ValueError(text)
    return int(text.strip()[1:], 16)


def format_color(packed: int) -> str:
    """The packed integer R << 16 | G << 8 | B -> '#rrggbb'."""
    return f"#{int(packed):06x}"


@dataclass(frozen=True)
class ColorSpec:
    """A parsed colors file.

    ``colors`` maps packed color -> category name (None: skip the color) for every
    mask; ``masks`` maps a mask file name to its own such mapping, applied on top.
    ``source`` names the file in messages.
    """

    categories: tuple[Category, ...]
    colors: Mapping[int, str | None] = field(default_factory=dict)
    masks: Mapping[str, Mapping[int, str | None]] = field(default_factory=dict)
    source: str = "colors file"
    stuff: frozenset[str] = frozenset()
    display_colors: Mapping[str, tuple[int, int, int]] = field(default_factory=dict)

    def category_ids(self, mask_name: str) -> dict[int, int | None]:
        """Packed color -> category id (None: skip) for the mask named ``mask_name``."""
        ids = {c.name: c.id for c in self.categories}
        merged = {**self.colors, **self.masks.get(mask_name, {})}
        return {color: None if name is None else ids[name] for color, name in merged.items()}


def color_spec_from_json(obj: Any, source: str = "colors file") -> ColorSpec:
    """Validate a parsed colors file; a one-line :class:`UserError` naming ``source`` otherwise."""
    def fail(what: str) -> UserError:
        return UserError(f"{source}: {what}")

    if not isinstance(obj, dict):
        raise fail('must be a JSON object with "categories" and "colors" and/or "masks"')
    unknown = sorted(set(obj) - set(SPEC_KEYS))
    if unknown:
        raise fail(f"unknown key {unknown[0]!r}; expected {', '.join(SPEC_KEYS)}")
    cats = obj.get("categories")
    if not isinstance(cats, list) or not cats:
        raise fail('"categories" must be a non-empty list of {"id": 1, "name": "...", "supercategory": "..."}')
    categories: list[Category] = []
    by_id: dict[int, str] = {}
    stuff: set[str] = set()
    display: dict[str, tuple[int, int, int]] = {}
    for n, entry in enumerate(cats):
        if not isinstance(entry, dict):
            raise fail(f"categories[{n}] must be an object with id and name, got {entry!r}")
        cid, name, sup = entry.get("id"), entry.get("name"), entry.get("supercategory", "")
        if isinstance(cid, bool) or not isinstance(cid, int) or cid < 1:
            raise fail(f"categories[{n}]: id must be a positive integer, got {cid!r}")
        if not isinstance(name, str) or not name.strip():
            raise fail(f"categories[{n}]: name must be a non-empty string, got {name!r}")
        if not isinstance(sup, str):
            raise fail(f"categories[{n}] ({name!r}): supercategory must be a string, got {sup!r}")
        if cid in by_id:
            raise fail(f"category id {cid} is used by both {by_id[cid]!r} and {name!r}; give each category its own id")
        if name in by_id.values():
            raise fail(f"category name {name!r} appears twice; category names must be unique")
        by_id[cid] = name
        categories.append(Category(id=cid, name=name, supercategory=sup))
        isthing = entry.get("isthing", 1)
        if isthing not in (0, 1):  # True/False compare equal to 1/0
            raise fail(f"categories[{n}] ({name!r}): isthing must be 1 (thing) or 0 (stuff), got {isthing!r}")
        if not isthing:
            stuff.add(name)
        if "color" in entry:
            col = entry["color"]
            if not (isinstance(col, list) and len(col) == 3 and all(isinstance(v, int) and not isinstance(v, bool)
                                                                    and 0 <= v <= 255 for v in col)):
                raise fail(f"categories[{n}] ({name!r}): color must be [r, g, b] with integers 0..255, got {col!r}")
            display[name] = tuple(col)
    known = [c.name for c in categories]

    def color_map(raw: Any, where: str) -> dict[int, str | None]:
        if not isinstance(raw, dict):
            raise fail(f'{where} must be an object like {{"#00ff00": "{known[0]}"}}, got {type(raw).__name__}')
        out: dict[int, str | None] = {}
        for key, name in raw.items():
            try:
                color = parse_color(key)
            except ValueError:
                raise fail(f'{where}: {key!r} is not a color; write colors as "#rrggbb"') from None
            if color == 0:
                raise fail(f"{where}: #000000 is the background and cannot be a category; paint objects in other colors")
            if name is not None and name not in known:
                raise fail(f"{where}: color {format_color(color)} maps to unknown category {name!r} "
                           f"(known: {', '.join(known)}); fix the name or add it to \"categories\"")
            if color in out and out[color] != name:
                raise fail(f"{where}: color {format_color(color)} is mapped twice ({out[color]!r} and {name!r}); keep one")
            out[color] = name
        return out

    colors = color_map(obj.get("colors", {}), '"colors"')
    raw_masks = obj.get("masks", {})
    if not isinstance(raw_masks, dict):
        raise fail('"masks" must be an object like {"mask.png": {"#0000ff": "name"}}')
    masks = {str(name): color_map(m, f'"masks" -> {name!r}') for name, m in raw_masks.items()}
    if not colors and not any(masks.values()):
        raise fail('maps no colors; add "colors" (for every mask) or "masks" (per mask file)')
    return ColorSpec(tuple(categories), colors, masks, source, frozenset(stuff), display)


def load_color_spec(path: str | os.PathLike) -> ColorSpec:
    """Read and validate a colors file (see the module docstring for its shape).

    A key written twice in one object with two different values (``"#00ff00"`` twice)
    is an error naming both values: ``json.load`` would silently keep the last."""
    def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out and out[key] != value:
                raise UserError(f"{path}: {key!r} is written twice, as {out[key]!r} and as {value!r}; keep one")
            out[key] = value
        return out

    return color_spec_from_json(read_json(path, "colors file", object_pairs_hook=unique_keys), str(path))


def find_mask_files(mask_dir: str | os.PathLike) -> list[Path]:
    """Mask images in ``mask_dir`` (not recursive), sorted by file name; a file is a list of one."""
    d = Path(mask_dir)
    if d.is_file():
        return [d]
    if not d.is_dir():
        raise UserError(f"mask folder {d} does not exist; pass the folder holding the color masks")
    files = sorted((p for p in d.iterdir() if p.is_file() and not p.name.startswith(".")), key=lambda p: p.name)
    masks = [p for p in files if p.suffix.lower() in MASK_SUFFIXES]
    if not masks:
        lossy = [p.name for p in files if p.suffix.lower() in LOSSY_SUFFIXES]
        hint = (f" (found {lossy[0]}: JPEG/WebP masks are lossy and blur colors; save masks as PNG)" if lossy else "")
        raise UserError(f"no mask images (.png, .bmp, .tif) in {d}{hint}; pass the folder holding the color masks")
    return masks


def unmapped_message(mask_name: str, colors: Iterable[int], counts: Iterable[int], source: str) -> str:
    """One line about the colors of ``mask_name`` that ``source`` does not map, however many there are."""
    found = sorted(zip((int(c) for c in counts), (int(c) for c in colors)), key=lambda t: (-t[0], t[1]))
    shown = ", ".join(f"{format_color(c)} ({n:,} px)" for n, c in found[:SHOWN_COLORS])
    if len(found) == 1:
        head = f"{mask_name}: color {shown} is not in {source}"
    else:
        total = sum(n for n, _ in found)
        listed = f"e.g. {shown}, ..." if len(found) > SHOWN_COLORS else shown
        head = f"{mask_name}: {len(found):,} unmapped colors ({total:,} px): {listed}"
    if len(found) > ANTIALIASED_COLORS:
        tail = ("this looks anti-aliased: masks must be painted with hard edges (no anti-aliasing, "
                "nearest-neighbour scaling only); repaint or re-export it, or pass {ignore_unmapped} to skip such colors")
    else:
        tail = (f'map each color under "colors" or "masks" in {source}, or pass {{ignore_unmapped}} to skip them '
                "(masks must be painted without anti-aliasing)")
    return f"{head}; {tail}"


def _check_utf8(path: Path, what: str) -> None:
    """A file name that is not UTF-8 (Python holds its bytes as lone surrogates) cannot be a COCO
    ``file_name``: JSON would carry the surrogates, which other readers reject or replace."""
    try:
        path.name.encode("utf-8")
    except UnicodeEncodeError:
        raise UserError(f"{what} {shown_name(path)}: its file name is not UTF-8, so it cannot be a COCO file_name; "
                        "rename it to UTF-8 (e.g. convmv -f latin1 -t utf-8 --notest FILE)") from None


def _image_index(images_dir: str | os.PathLike) -> dict[str, list[Path]]:
    d = Path(images_dir)
    if not d.is_dir():
        raise UserError(f"image folder {d} does not exist; pass the folder holding the images the masks belong to")
    index: dict[str, list[Path]] = {}
    for p in sorted(d.iterdir(), key=lambda p: p.name):
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."):
            index.setdefault(p.stem, []).append(p)
    return index


def _matching_image(mask: Path, index: dict[str, list[Path]], images_dir: str | os.PathLike, size: tuple[int, int]) -> str:
    found = index.get(mask.stem, [])
    if not found:
        raise UserError(f"no image named {mask.stem}.* in {images_dir} for mask {mask.name}; "
                        "add it or give the mask the image's file name stem")
    if len(found) > 1:
        raise UserError(f"mask {mask.name} matches several images in {images_dir} ({', '.join(p.name for p in found)}); keep one")
    image = found[0]
    try:
        with pixel_limit_off(), Image.open(image) as im:
            image_size = im.size
    except (UnidentifiedImageError, OSError) as exc:
        raise UserError(f"image {image} cannot be read ({exc}); replace it") from None
    if image_size != size:
        raise UserError(f"image {image.name} is {image_size[0]}x{image_size[1]} but mask {mask.name} is {size[0]}x{size[1]}; "
                        "masks must have their image's size")
    return image.name


def _panoptic_segments(ids: np.ndarray, colors: np.ndarray, label_cat: dict[int, int], stuff_ids: set[int],
                       min_area: int, iscrowd: int) -> tuple[np.ndarray, list[dict]]:
    """Segment-id image and segments_info of one mask (see the module docstring)."""
    from blender_coco.coco.instances import analyze

    lut = np.zeros(colors.size, np.uint32)
    cat_of: dict[int, int] = {}
    stuff_seg: dict[int, int] = {}
    for label in sorted(label_cat, key=lambda k: int(colors[k])):
        packed = int(colors[label])
        sid = ((packed >> 16) & 255) + 256 * ((packed >> 8) & 255) + 65536 * (packed & 255)
        cat = label_cat[label]
        if cat in stuff_ids:
            sid = stuff_seg.setdefault(cat, sid)
        lut[label] = sid
        cat_of[sid] = cat
    seg = lut[ids]
    runs = analyze(seg)
    segments, void = [], []
    for i, sid in enumerate(runs.labels.tolist()):
        if runs.areas[i] < min_area:
            void.append(sid)
            continue
        x0, y0, x1, y1 = (int(v) for v in runs.boxes[i])
        cat = cat_of[sid]
        segments.append({"id": int(sid), "category_id": cat, "area": int(runs.areas[i]),
                         "bbox": [x0, y0, x1 - x0, y1 - y0], "iscrowd": 0 if cat in stuff_ids else iscrowd})
    if void:
        seg[np.isin(seg, void)] = 0
    return seg, segments


@dataclass(frozen=True)
class _Job:
    """What converting one mask needs besides its path (handed to each worker once)."""

    spec: ColorSpec
    config: ExportConfig
    stuff_ids: frozenset[int]
    ignore_unmapped: bool
    panoptic: bool
    max_pixels: int = MAX_MASK_PIXELS


@dataclass(frozen=True)
class _Converted:
    """One mask converted: its size, its unmapped colors (a message) and, unless they
    stop the run, its annotations (and segment PNG and segments_info for panoptic
    output). ``error``: the mask could not be read (message, fields of its UserError)."""

    width: int = 0
    height: int = 0
    colors: int = 0
    unmapped: str | None = None
    annotations: list[dict] | None = None
    segments: list[dict] | None = None
    png: bytes | None = None
    error: tuple[str, tuple[str, ...]] | None = None


def _convert(path: Path, job: _Job, tables: dict, annotate_it: bool = True) -> _Converted:
    """Read, index and annotate one mask; ``tables`` caches color tables per mask override."""
    try:
        packed = read_color_mask(path, job.max_pixels)
    except UserError as err:
        return _Converted(error=(err.message, err.fields))
    ids, colors, counts = index_colors(packed)
    key = path.name if path.name in job.spec.masks else None
    if key not in tables:
        tables[key] = color_table(job.spec.category_ids(path.name))
    label_cat, unmapped = look_up_colors(colors, tables[key])
    height, width = ids.shape
    message = unmapped_message(path.name, colors[unmapped], counts[unmapped], job.spec.source) if unmapped.size else None
    if (message and not job.ignore_unmapped) or not annotate_it:
        return _Converted(width, height, colors.size - 1, message)
    anns = [ann for _, ann in annotate(ids, {k: v for k, v in label_cat.items() if v not in job.stuff_ids}, job.config)]
    segments = png = None
    if job.panoptic:
        from blender_coco.coco.panoptic import png_bytes

        seg, segments = _panoptic_segments(ids, colors, label_cat, job.stuff_ids, job.config.min_area,
                                           int(job.config.iscrowd))
        png = png_bytes(seg)
    return _Converted(width, height, colors.size - 1, message, anns, segments, png)


_worker_job: _Job | None = None  # set in each worker process by _start_worker
_worker_tables: dict = {}


def _start_worker(job: _Job) -> None:
    global _worker_job
    _worker_job = job
    _worker_tables.clear()


def _convert_chunk(paths: list[Path]) -> list[_Converted]:
    return [_convert(p, _worker_job, _worker_tables) for p in paths]


def available_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _worker_count(jobs: int | None, paths: list[Path]) -> int:
    """Worker processes for ``paths``; 1: convert in this process."""
    if jobs is None:
        try:
            with Image.open(paths[0]) as im:
                width, height = im.size
        except Exception:  # reading the mask will say what is wrong with it
            return 1
        if len(paths) * width * height < PARALLEL_MIN_PIXELS:
            return 1
        jobs = available_cores()
    elif isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise UserError(f"{{jobs}} must be a positive number of worker processes, got {jobs!r}", field="jobs")
    return min(jobs, len(paths))


def _converted(paths: list[Path], job: _Job, workers: int, problems: list[str]) -> Iterator[_Converted]:
    """Each mask converted, in order of ``paths``: here one by one (lazily, so a failing
    run stops reading masks where the serial loop does and skips annotating once
    ``problems`` has one), or by ``workers`` processes in chunks."""
    if workers == 1:
        tables: dict = {}
        for path in paths:
            yield _convert(path, job, tables, annotate_it=not problems)
        return
    # imported here: importing multiprocessing makes Debian's Blender 3.4 crash on quit
    from concurrent.futures import ProcessPoolExecutor

    size = -(-len(paths) // (workers * 4))
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_start_worker, initargs=(job,))
    try:
        for chunk in pool.map(_convert_chunk, [paths[i:i + size] for i in range(0, len(paths), size)]):
            yield from chunk
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def colormask_to_coco(mask_paths: Iterable[str | os.PathLike], colors_spec: ColorSpec | Mapping | str | os.PathLike,
                      images_dir: str | os.PathLike | None = None, config: ExportConfig = ExportConfig(),
                      ignore_unmapped: bool = False, info: DatasetInfo | None = None,
                      panoptic: str | os.PathLike | None = None, jobs: int | None = None,
                      max_pixels: int = MAX_MASK_PIXELS) -> CocoDataset:
    """Color masks -> a COCO dataset (image ids 1..n in order of mask file name; each
    image's annotations in order of packed color R << 16 | G << 8 | B).

    Stuff categories (``isthing: 0``) are left out of it. ``panoptic``: also write
    COCO panoptic output there (``X.json`` + ``X/``, or a folder D: D/panoptic.json +
    D/panoptic/; see :func:`blender_coco.coco.panoptic.panoptic_paths`), the PNGs as the
    masks are read and the JSON last, all atomically.

    ``colors_spec``: a :class:`ColorSpec`, a parsed colors file (dict) or its path.
    ``images_dir``: when given, each mask's ``file_name`` is the image there with the
    same stem (any extension), which must exist and have the mask's size; otherwise
    it is the mask's own name. Colors the spec does not map are an error (one line
    per run, naming the first mask with such colors) unless ``ignore_unmapped``.
    ``jobs``: worker processes; None: one per core when the masks hold
    ``PARALLEL_MIN_PIXELS`` or more in all, none below. The output is the same
    whatever ``jobs`` is. ``max_pixels``: the largest mask read (a larger one is an
    error; :data:`~blender_coco.config.MAX_MASK_PIXELS` by default).
    """
    if isinstance(colors_spec, ColorSpec):
        spec = colors_spec
    elif isinstance(colors_spec, Mapping):
        spec = color_spec_from_json(dict(colors_spec))
    else:
        spec = load_color_spec(colors_spec)
    paths = sorted((Path(p) for p in mask_paths), key=lambda p: p.name)
    if not paths:
        raise UserError("no mask images given; pass a folder holding the color masks")
    for path in paths:
        _check_utf8(path, "mask")
    names = [p.name for p in paths]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UserError(f"two masks are named {twice[0]}; mask file names must be unique")
    workers = _worker_count(jobs, paths)
    for name in sorted(set(spec.masks) - set(names)):
        log.warning("%s: \"masks\" names %s, which is not among the masks; check the file name", spec.source, name)
    index = _image_index(images_dir) if images_dir is not None else None

    ds = CocoDataset(info=(info or DatasetInfo(description="blender-coco masks2coco: color masks")).for_export(config),
                     categories=sorted((c for c in spec.categories if c.name not in spec.stuff), key=lambda c: c.id))
    stuff_ids = frozenset(c.id for c in spec.categories if c.name in spec.stuff)
    if panoptic is not None:
        from blender_coco.coco.panoptic import panoptic_annotation, panoptic_paths, png_name

        pan_json, pan_dir = panoptic_paths(panoptic)
        pan_anns: list[dict] = []
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
        raise UserError(f"{{max_pixels}} must be a positive number of pixels, got {max_pixels!r}", field="max_pixels")
    job = _Job(spec, config, stuff_ids, ignore_unmapped, panoptic is not None, max_pixels)
    problems: list[str] = []
    with closing(_converted(paths, job, workers, problems)) as converted:  # closing: stops the workers on an error
        for path, mask in zip(paths, converted):
            if mask.error is not None:
                raise UserError(mask.error[0], field=mask.error[1])
            if mask.unmapped:
                if not ignore_unmapped:
                    problems.append(mask.unmapped)
                    continue
                log.warning("skipped: %s", mask.unmapped.split("; ")[0])
            if problems:
                continue  # the run fails anyway: only keep looking for more unmapped colors
            file_name = path.name if index is None else _matching_image(path, index, images_dir, (mask.width, mask.height))
            image_id = ds.add_image(file_name, mask.width, mask.height)
            for ann in mask.annotations:
                ds.add_annotation(image_id, ann)
            if panoptic is not None:
                write_bytes_atomic(pan_dir / png_name(file_name), mask.png)
                pan_anns.append(panoptic_annotation(image_id, file_name, mask.segments))
            log.debug("%s: %d colors, %d annotations", path.name, mask.colors, len(mask.annotations))
    if problems:
        more = "" if len(problems) == 1 else f" ({len(problems) - 1} more masks have unmapped colors)"
        raise UserError(problems[0] + more, field="ignore_unmapped")
    if panoptic is not None:
        from blender_coco.coco.panoptic import panoptic_categories, write_panoptic_json

        write_panoptic_json(pan_json, ds.to_json(), pan_anns,
                            panoptic_categories(spec.categories, stuff_ids, spec.display_colors))
        log.info("wrote %s and %d segment PNGs in %s", pan_json, len(pan_anns), pan_dir)
    return ds

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

Each mask becomes an ID mask in one vectorized pass (RGB packed into one integer,
``np.unique`` with ``return_inverse``) and goes through the same exporter as
rendered frames (:func:`blender_coco.coco.instances.annotate`), so boxes, areas and
RLE are exact and polygons follow the same rules.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
from PIL import Image, UnidentifiedImageError

from blender_coco.config import ExportConfig
from blender_coco.errors import UserError
from blender_coco.coco.dataset import Category, CocoDataset, DatasetInfo
from blender_coco.files import read_json
from blender_coco.coco.instances import annotate

log = logging.getLogger(__name__)

MASK_SUFFIXES = (".png", ".bmp", ".tif", ".tiff")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
LOSSY_SUFFIXES = (".jpg", ".jpeg", ".webp")
SPEC_KEYS = ("categories", "colors", "masks")
SHOWN_COLORS = 5        # unmapped colors listed by name in an error
ANTIALIASED_COLORS = 8  # more unmapped colors than this: the mask looks anti-aliased

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
    """Read and validate a colors file (see the module docstring for its shape)."""
    return color_spec_from_json(read_json(path, "colors file"), str(path))


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


def read_color_mask(path: str | os.PathLike) -> np.ndarray:
    """A mask image -> H x W int32 of packed colors (R << 16 | G << 8 | B), 0 = background.

    RGBA (and palette or gray images with transparency): alpha 0 is background.
    """
    p = Path(path)
    try:
        with Image.open(p) as im:
            im.load()
            mode = im.mode
            if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode in ("P", "L", "RGB") and "transparency" in im.info):
                rgba = np.asarray(im.convert("RGBA"))
                rgb, alpha = rgba[..., :3], rgba[..., 3]
            elif mode in ("RGB", "RGBX", "P", "L", "1"):
                rgb, alpha = np.asarray(im.convert("RGB")), None
            else:
                raise UserError(f"mask {p} has image mode {mode} (16-bit, float or CMYK); save it as 8-bit RGB or RGBA PNG")
    except FileNotFoundError:
        raise UserError(f"mask {p} does not exist; check the path") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise UserError(f"mask {p} cannot be read as an image ({exc}); save it as an RGB PNG") from None
    packed = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2].astype(np.int32)
    if alpha is not None:
        packed[alpha == 0] = 0
    return packed


def index_colors(packed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Packed colors -> (ID mask, colors, counts) in one ``np.unique`` pass.

    ``colors[k]`` is the packed color of label ``k`` and ``counts[k]`` its pixel
    count; ``colors[0]`` is always 0 (background, label 0).
    """
    colors, inverse, counts = np.unique(packed.ravel(), return_inverse=True, return_counts=True)
    ids = inverse.reshape(packed.shape).astype(np.int32)
    if colors.size == 0 or colors[0] != 0:
        ids += 1
        colors = np.concatenate(([0], colors))
        counts = np.concatenate(([0], counts))
    return ids, colors.astype(np.int64), counts.astype(np.int64)


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
        with Image.open(image) as im:
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


def colormask_to_coco(mask_paths: Iterable[str | os.PathLike], colors_spec: ColorSpec | Mapping | str | os.PathLike,
                      images_dir: str | os.PathLike | None = None, config: ExportConfig = ExportConfig(),
                      ignore_unmapped: bool = False, info: DatasetInfo | None = None,
                      panoptic: str | os.PathLike | None = None) -> CocoDataset:
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
    names = [p.name for p in paths]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UserError(f"two masks are named {twice[0]}; mask file names must be unique")
    for name in sorted(set(spec.masks) - set(names)):
        log.warning("%s: \"masks\" names %s, which is not among the masks; check the file name", spec.source, name)
    index = _image_index(images_dir) if images_dir is not None else None

    ds = CocoDataset(info=(info or DatasetInfo(description="blender-coco masks2coco: color masks")).with_overrides(config.info),
                     categories=sorted((c for c in spec.categories if c.name not in spec.stuff), key=lambda c: c.id))
    stuff_ids = {c.id for c in spec.categories if c.name in spec.stuff}
    if panoptic is not None:
        from blender_coco.coco.panoptic import panoptic_annotation, panoptic_paths, png_name, write_segment_png

        pan_json, pan_dir = panoptic_paths(panoptic)
        pan_anns: list[dict] = []
    problems: list[str] = []
    for path in paths:
        ids, colors, counts = index_colors(read_color_mask(path))
        by_color = spec.category_ids(path.name)
        label_cat: dict[int, int] = {}
        unmapped: list[int] = []
        for label in range(1, colors.size):
            color = int(colors[label])
            if color not in by_color:
                unmapped.append(label)
            elif by_color[color] is not None:
                label_cat[label] = by_color[color]
        if unmapped:
            message = unmapped_message(path.name, colors[unmapped], counts[unmapped], spec.source)
            if not ignore_unmapped:
                problems.append(message)
                continue
            log.warning("skipped: %s", message.split("; ")[0])
        if problems:
            continue  # the run fails anyway: only keep looking for more unmapped colors
        height, width = ids.shape
        file_name = path.name if index is None else _matching_image(path, index, images_dir, (width, height))
        image_id = ds.add_image(file_name, width, height)
        anns = annotate(ids, {k: v for k, v in label_cat.items() if v not in stuff_ids}, config)
        for _, ann in anns:
            ds.add_annotation(image_id, ann)
        if panoptic is not None:
            seg, segments = _panoptic_segments(ids, colors, label_cat, stuff_ids, config.min_area, int(config.iscrowd))
            write_segment_png(pan_dir / png_name(file_name), seg)
            pan_anns.append(panoptic_annotation(image_id, file_name, segments))
        log.debug("%s: %d colors, %d annotations", path.name, colors.size - 1, len(anns))
    if problems:
        more = "" if len(problems) == 1 else f" ({len(problems) - 1} more masks have unmapped colors)"
        raise UserError(problems[0] + more, field="ignore_unmapped")
    if panoptic is not None:
        from blender_coco.coco.panoptic import panoptic_categories, write_panoptic_json

        write_panoptic_json(pan_json, ds.to_json(), pan_anns,
                            panoptic_categories(spec.categories, stuff_ids, spec.display_colors))
        log.info("wrote %s and %d segment PNGs in %s", pan_json, len(pan_anns), pan_dir)
    return ds

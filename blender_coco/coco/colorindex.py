"""A color mask's pixels -> packed colors -> ID mask, and the colors file as a lookup table.

- :func:`read_color_mask`: a mask image -> H x W int32 of packed colors
  (R << 16 | G << 8 | B), 0 = background (alpha 0 counts as background); at most
  :data:`MAX_MASK_PIXELS` pixels unless told otherwise.
- :func:`index_colors`: packed colors -> (ID mask, colors, counts), exactly what
  ``np.unique(..., return_inverse=True, return_counts=True)`` gives, without sorting
  the pixels: one comparison pass finds the runs of equal colors in row order and
  only the runs' colors (a few thousand in a 1920x1080 painted mask) are sorted.
- :func:`color_table`, :func:`look_up_colors`: a color -> category map as a sorted
  table, searched once per distinct color of a mask; unmapped colors come out with
  their labels, so their pixel counts are exact.

About 2 ms for a 1920x1080 mask with 50 objects where ``np.unique`` over the pixels
took 80 ms (``benchmarks/masks2coco.py``).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator, Mapping

import numpy as np
from PIL import Image, UnidentifiedImageError

from blender_coco.config import MAX_MASK_PIXELS
from blender_coco.errors import UserError
from blender_coco.files import unreadable


@contextlib.contextmanager
def pixel_limit_off() -> Iterator[None]:
    """Pillow's own decompression-bomb check off (it raises at twice its 89-megapixel limit):
    the caller checks the size against its own limit, named in its message."""
    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = old


def read_color_mask(path: str | os.PathLike, max_pixels: int = MAX_MASK_PIXELS) -> np.ndarray:
    """A mask image -> H x W int32 of packed colors (R << 16 | G << 8 | B), 0 = background.

    RGBA (and palette or gray images with transparency): alpha 0 is background. A
    mask of more than ``max_pixels`` pixels is an error (read before decoding).
    """
    p = Path(path)
    try:
        with pixel_limit_off(), Image.open(p) as im:
            width, height = im.size
            if width * height > max_pixels:
                raise UserError(f"mask {p} is {width}x{height} = {width * height:,} pixels, more than the limit of "
                                f"{max_pixels:,} (about 16 bytes of memory a pixel); pass {{max_pixels}} "
                                f"{width * height} if it is right", field="max_pixels")
            im.load()
            mode = im.mode
            if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode in ("P", "L", "RGB") and "transparency" in im.info):
                rgba = np.asarray(im.convert("RGBA"))
                rgb, alpha = rgba[..., :3], rgba[..., 3]
            elif mode == "RGB":
                rgb, alpha = np.asarray(im), None
            elif mode in ("RGBX", "P", "L", "1"):
                rgb, alpha = np.asarray(im.convert("RGB")), None
            else:
                raise UserError(f"mask {p} has image mode {mode} (16-bit, float or CMYK); save it as 8-bit RGB or RGBA PNG")
    except FileNotFoundError:
        raise UserError(f"mask {p} does not exist; check the path") from None
    except PermissionError as exc:
        raise unreadable(p, "mask", exc) from None
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise UserError(f"mask {p} cannot be read as an image ({exc}); save it as an RGB PNG") from None
    packed = rgb[..., 0].astype(np.int32)
    packed <<= 8
    packed |= rgb[..., 1]
    packed <<= 8
    packed |= rgb[..., 2]
    if alpha is not None:
        packed[alpha == 0] = 0
    return packed


def index_colors(packed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Packed colors -> (ID mask, colors, counts): ``colors`` sorted, ``ids`` int32.

    ``colors[k]`` is the packed color of label ``k`` and ``counts[k]`` its pixel
    count; ``colors[0]`` is always 0 (background, label 0). The result is that of
    ``np.unique(packed, return_inverse=True, return_counts=True)`` (with label 0 kept
    for the background), without sorting the pixels: one comparison pass finds the
    runs of equal colors in row order, and only their colors are sorted and looked
    up. A flat-colored mask has a few runs per row; an anti-aliased one costs about
    what ``np.unique`` over its pixels would.
    """
    flat = packed.ravel()
    if flat.size == 0:
        return np.zeros(packed.shape, np.int32), np.zeros(1, np.int64), np.zeros(1, np.int64)
    starts = np.flatnonzero(flat[1:] != flat[:-1])
    starts += 1
    starts = np.concatenate(([0], starts))
    lengths = np.diff(starts, append=flat.size)
    colors, run_label = np.unique(flat[starts], return_inverse=True)
    run_label = run_label.astype(np.int32)
    if colors[0] != 0:
        run_label += 1
        colors = np.concatenate(([0], colors))
    counts = np.bincount(run_label, weights=lengths, minlength=colors.size).astype(np.int64)
    ids = np.repeat(run_label, lengths).reshape(packed.shape)
    return ids, colors.astype(np.int64), counts


def color_table(by_color: Mapping[int, int | None]) -> tuple[np.ndarray, np.ndarray]:
    """A color -> category map (None: skip) as a lookup table: (sorted packed colors,
    their category ids, 0 for skipped colors)."""
    keys = np.array(sorted(by_color), dtype=np.int64)
    cats = np.array([by_color[int(k)] or 0 for k in keys], dtype=np.int64)
    return keys, cats


def look_up_colors(colors: np.ndarray, table: tuple[np.ndarray, np.ndarray]) -> tuple[dict[int, int], np.ndarray]:
    """Labels of ``colors`` (from :func:`index_colors`) -> (label -> category id for
    every mapped, not skipped color; the labels of the colors ``table`` does not map).
    Label 0, the background, is neither."""
    keys, cats = table
    found = colors[1:]
    if keys.size == 0:
        return {}, np.arange(1, colors.size)
    pos = np.minimum(np.searchsorted(keys, found), keys.size - 1)
    mapped = keys[pos] == found
    cat = np.where(mapped, cats[pos], 0)
    label_cat = {int(k) + 1: int(cat[k]) for k in np.flatnonzero(cat)}
    return label_cat, np.flatnonzero(~mapped) + 1

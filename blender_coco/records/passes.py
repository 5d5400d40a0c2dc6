"""Read a frame record's EXR: the object-index pass as an ID mask, and the depth pass.

::

    read_passes(exr_path, width=None, height=None, coverage=None, threshold=None)
        -> (mask uint16, depth float32 | None)

Rows run top to bottom. Reads single-part (Blender 3.4) and multi-part (Blender 5.0)
files; the index channel is ``*.IndexOB.X`` (3.4, 4.x) or ``*.Object Index.X`` (5.0),
depth ``*.Depth.Z`` (or ``*.Depth.V``). A record with a ``coverage`` table (the
sidecar's, :class:`~blender_coco.records.coverage.Coverage`) gets its mask from the
Cryptomatte and instance-id passes by majority coverage instead
(:func:`~blender_coco.records.coverage.label_mask`; ``threshold``: ``--mask-threshold``).

Two readers: the OpenEXR package (``OpenEXR.File(path, separate_channels=True)`` and
its ``parts``; every codec), and :mod:`.exr` (numpy + zlib: NONE, RLE, ZIPS, ZIP).
OpenEXR is used when it imports and may be loaded here; inside a Blender binary it
never is (a second OpenEXR library next to Blender's crashes it:
:mod:`blender_coco.host`), and there the render stage writes ZIP passes for
:mod:`.exr` (:func:`blender_coco.blender.image_format.use_exr_multilayer`).
numpy and the readers are imported when called, so the package imports in a Blender
Python that has no numpy.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from blender_coco import host
from blender_coco.errors import UserError
from blender_coco.files import unreadable

if TYPE_CHECKING:
    import numpy as np

# Pass channel names differ between Blender versions (docs/records.md, EXR passes).
_INDEX_SUFFIXES = (".IndexOB.X", ".Object Index.X")
_DEPTH_SUFFIXES = (".Depth.Z", ".Depth.V")


def _wanted(name: str) -> bool:
    return name.endswith(_INDEX_SUFFIXES + _DEPTH_SUFFIXES)


def _wanted_coverage(name: str) -> bool:
    from blender_coco.records.coverage import is_coverage_channel

    return _wanted(name) or is_coverage_channel(name)


def openexr_allowed() -> bool:
    """True when the OpenEXR package may be loaded in this process (not inside a Blender binary)."""
    return not host.in_blender_binary()


def _openexr_module():
    """The OpenEXR package when it may be loaded here and imports, else None."""
    if not openexr_allowed():
        return None
    try:
        import OpenEXR
    except ImportError:
        return None
    return OpenEXR


def _read_channels(exr_path: Path, wanted=_wanted, headers: bool = False) -> tuple[dict, list[str], dict]:
    """(the wanted channels, every channel's name, the string header attributes when asked)."""
    OpenEXR = _openexr_module()
    if OpenEXR is None:
        from blender_coco.records import exr

        try:
            return (exr.read_channels(exr_path, wanted), exr.channel_names(exr_path),
                    exr.header_strings(exr_path) if headers else {})
        except exr.ExrError as exc:
            where = ("inside Blender" if host.in_blender_binary() else
                     "without the OpenEXR package (pip install OpenEXR)")
            raise exr.ExrError(f"{exc}; {where} only NONE, RLE, ZIPS and ZIP passes can be read") from None
    f = OpenEXR.File(str(exr_path), separate_channels=True)
    names = [name for part in f.parts for name in part.channels]
    strings = {k: v for part in f.parts for k, v in part.header.items() if isinstance(v, str)} if headers else {}
    return {name: ch.pixels for part in f.parts for name, ch in part.channels.items() if wanted(name)}, names, strings


def read_passes(exr_path: str | Path, width: int | None = None, height: int | None = None,
                coverage=None, threshold: float | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """(ID mask as uint16, depth as float32 or None) from a multilayer EXR, rows top to bottom.

    ``width``/``height`` (from the sidecar), when given, must match the passes.
    ``coverage`` (the sidecar's table) makes the mask by majority coverage.
    """
    import numpy as np

    exr_path = Path(exr_path)
    fix = "delete its record and re-render that frame (blender-coco render ... --resume)"
    if not exr_path.is_file():
        raise UserError(f"pass file {exr_path} is missing; {fix}")
    if not os.access(exr_path, os.R_OK):  # before OpenEXR, which prints its own error line
        raise unreadable(exr_path, "pass file")
    try:
        channels, names, headers = _read_channels(exr_path, _wanted_coverage if coverage else _wanted,
                                                  headers=coverage is not None)
    except Exception as exc:  # OpenEXR raises plain RuntimeError/Exception on corrupt files
        raise UserError(f"pass file {exr_path} cannot be read ({exc}); {fix}") from None
    if coverage is not None:
        from blender_coco.records.coverage import crypto_manifest, label_mask

        try:
            mask = label_mask(channels, crypto_manifest(headers, coverage.layer), coverage, threshold)
        except ValueError as exc:
            raise UserError(f"pass file {exr_path}: {exc}; {fix}") from None
        depth = next((v for k, v in channels.items() if k.endswith(_DEPTH_SUFFIXES)), None)
        if width is not None and height is not None and mask.shape != (height, width):
            raise UserError(f"pass file {exr_path} is {mask.shape[1]}x{mask.shape[0]}, its record says "
                            f"{width}x{height}; {fix}")
        return mask, None if depth is None else np.asarray(depth, dtype=np.float32)
    index = next((v for k, v in channels.items() if k.endswith(_INDEX_SUFFIXES)), None)
    if index is None:
        raise UserError(f"pass file {exr_path} has no object index pass (channels: {', '.join(sorted(names))}); {fix}")
    depth = next((v for k, v in channels.items() if k.endswith(_DEPTH_SUFFIXES)), None)
    if width is not None and height is not None and index.shape != (height, width):
        raise UserError(f"pass file {exr_path} is {index.shape[1]}x{index.shape[0]}, its record says {width}x{height}; {fix}")
    # Index values are floats holding integers 0..32767; round, don't truncate.
    mask = np.rint(index).astype(np.uint16)
    return mask, None if depth is None else np.asarray(depth, dtype=np.float32)

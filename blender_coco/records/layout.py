"""Where a frame record's files live and how they are named.

::

    DS/images/000000.png     RGB (``.jpg`` with image format JPEG)   image_name(index, fmt)
    DS/records/000000.exr    object index + depth passes             passes_name(index)
    DS/records/000000.json   the sidecar (written last)              sidecar_name(index)

    multi-camera runs (``--cameras``): one record per frame and view, the view's token
    after the index: DS/images/000007_CamA.png, DS/records/000007_CamA.{exr,json}

:data:`RECORD_FORMAT` and :data:`RECORD_VERSION` head every sidecar. File names are
the frame index with six or more digits, optionally ``_TOKEN``; :data:`FRAME_NAME`
matches any such name, :data:`FRAME_FILE` the files above, :data:`TEMP_FILE` the temp
names of :func:`blender_coco.files.atomic_path` (``.NAME.PID.EXT.tmp``) they are written
under before the rename; :func:`split_stem` splits a stem into (index, token).

Views (docs/records.md "Cameras"): :func:`view_tokens` makes a run's view names
(camera names, ``Cam_left``/``Cam_right`` for a stereo camera's eyes) file-safe and
unique; :func:`image_id` is the COCO image id of (frame, view): ``index * views +
position + 1`` (``index + 1`` for a one-camera run). Standard library only.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Sequence

RECORD_FORMAT = "blender-coco-record"
RECORD_VERSION = 1

IMAGES_DIR = "images"
ANNOTATIONS_DIR = "annotations"
RECORDS_DIR = "records"
#: RGB image format (RenderConfig.image_format) -> file extension.
IMAGE_EXTENSIONS = {"PNG": ".png", "JPEG": ".jpg"}

_INDEX = r"(\d{6,})(?:_[A-Za-z0-9_-]+)?"
_TOKEN_CHARS = re.compile(r"[^A-Za-z0-9_-]+")
_STEM = re.compile(r"^(\d{6,})(?:_([A-Za-z0-9_-]+))?$")
_KINDS = "|".join(["json", "exr"] + [ext.lstrip(".") for ext in IMAGE_EXTENSIONS.values()])
#: A frame-numbered file name (a view's token may follow the index): group 1 the index digits, group 2 the extension (with its dot).
FRAME_NAME = re.compile(rf"^{_INDEX}(\.[A-Za-z0-9]+)$")
#: A file of a frame record (sidecar, passes or image): group 1 the index, group 2 the kind.
FRAME_FILE = re.compile(rf"^{_INDEX}\.({_KINDS})$")
#: A frame file's temp name while it is written: group 1 the index, group 2 the kind.
TEMP_FILE = re.compile(rf"^\.{_INDEX}\.({_KINDS})\.\d+\.\w+\.tmp$")
#: A sidecar's file name.
SIDECAR_FILE = re.compile(rf"^{_INDEX}\.json$")


def frame_stem(index: int, view: str | None = None) -> str:
    """``7`` -> ``'000007'`` (``7, 'CamA'`` -> ``'000007_CamA'``): the name every file of frame
    ``index`` (as seen by view token ``view``) starts with."""
    return f"{index:06d}_{view}" if view else f"{index:06d}"


def split_stem(stem: str) -> tuple[int, str] | None:
    """``'000007_CamA'`` -> ``(7, 'CamA')``, ``'000007'`` -> ``(7, '')``; None if not a frame stem."""
    m = _STEM.match(stem)
    return None if m is None else (int(m.group(1)), m.group(2) or "")


def image_name(index: int, fmt: str, view: str | None = None) -> str:
    """The RGB image's file name (relative to ``DS/images/``)."""
    return frame_stem(index, view) + IMAGE_EXTENSIONS[fmt]


def passes_name(index: int, view: str | None = None) -> str:
    """The EXR's file name (relative to ``DS/records/``)."""
    return frame_stem(index, view) + ".exr"


def sidecar_name(index: int, view: str | None = None) -> str:
    """The sidecar's file name (relative to ``DS/records/``)."""
    return frame_stem(index, view) + ".json"


def view_tokens(names: Sequence[str]) -> list[str]:
    """File-safe, unique tokens for a run's view names, in order.

    Each run of characters other than ASCII letters, digits, ``_`` and ``-`` becomes
    one ``-`` (``Camera.001`` -> ``Camera-001``). Names that still collide (``Cam.L``
    and ``Cam-L``) get ``-`` and the first 8 hex digits of the SHA-1 of their UTF-8
    name appended, so a token depends only on the name and the run's list.
    """
    safe = [_TOKEN_CHARS.sub("-", n) for n in names]
    return [t if safe.count(t) == 1 else f"{t}-{hashlib.sha1(n.encode()).hexdigest()[:8]}" for n, t in zip(names, safe)]


def image_id(index: int, position: int = 0, count: int = 1) -> int:
    """COCO image id of frame ``index`` seen by the run's view number ``position`` of ``count``:
    ``index * count + position + 1`` (``index + 1`` for one view). Stable under shards, resume and merge."""
    return index * count + position + 1


def records_dir(ds_dir: str | Path) -> Path:
    return Path(ds_dir) / RECORDS_DIR


def record_paths(out_dir: Path, index: int, fmt: str, view: str | None = None) -> tuple[Path, Path, Path]:
    """(image, EXR, sidecar) paths of frame ``index`` (as seen by view token ``view``)."""
    return (out_dir / IMAGES_DIR / image_name(index, fmt, view),
            out_dir / RECORDS_DIR / passes_name(index, view),
            out_dir / RECORDS_DIR / sidecar_name(index, view))

"""Where a frame record's files live and how they are named.

::

    DS/images/000000.png     RGB (``.jpg`` with image format JPEG)   image_name(index, fmt)
    DS/records/000000.exr    object index + depth passes             passes_name(index)
    DS/records/000000.json   the sidecar (written last)              sidecar_name(index)

:data:`RECORD_FORMAT` and :data:`RECORD_VERSION` head every sidecar. File names are
the frame index with six or more digits; :data:`FRAME_NAME` matches any such name,
:data:`FRAME_FILE` the files above, :data:`TEMP_FILE` the temp names of
:func:`blender_coco.files.atomic_path` (``.NAME.PID.EXT.tmp``) they are written
under before the rename. Standard library only.
"""

from __future__ import annotations

import re
from pathlib import Path

RECORD_FORMAT = "blender-coco-record"
RECORD_VERSION = 1

IMAGES_DIR = "images"
ANNOTATIONS_DIR = "annotations"
RECORDS_DIR = "records"
#: RGB image format (RenderConfig.image_format) -> file extension.
IMAGE_EXTENSIONS = {"PNG": ".png", "JPEG": ".jpg"}

_INDEX = r"(\d{6,})"
_KINDS = "|".join(["json", "exr"] + [ext.lstrip(".") for ext in IMAGE_EXTENSIONS.values()])
#: A frame-numbered file name: group 1 the index digits, group 2 the extension (with its dot).
FRAME_NAME = re.compile(rf"^{_INDEX}(\.[A-Za-z0-9]+)$")
#: A file of a frame record (sidecar, passes or image): group 1 the index, group 2 the kind.
FRAME_FILE = re.compile(rf"^{_INDEX}\.({_KINDS})$")
#: A frame file's temp name while it is written: group 1 the index, group 2 the kind.
TEMP_FILE = re.compile(rf"^\.{_INDEX}\.({_KINDS})\.\d+\.\w+\.tmp$")
#: A sidecar's file name.
SIDECAR_FILE = re.compile(rf"^{_INDEX}\.json$")


def frame_stem(index: int) -> str:
    """``7`` -> ``'000007'``: the name every file of frame ``index`` starts with."""
    return f"{index:06d}"


def image_name(index: int, fmt: str) -> str:
    """The RGB image's file name (relative to ``DS/images/``)."""
    return frame_stem(index) + IMAGE_EXTENSIONS[fmt]


def passes_name(index: int) -> str:
    """The EXR's file name (relative to ``DS/records/``)."""
    return frame_stem(index) + ".exr"


def sidecar_name(index: int) -> str:
    """The sidecar's file name (relative to ``DS/records/``)."""
    return frame_stem(index) + ".json"


def records_dir(ds_dir: str | Path) -> Path:
    return Path(ds_dir) / RECORDS_DIR


def record_paths(out_dir: Path, index: int, fmt: str) -> tuple[Path, Path, Path]:
    """(image, EXR, sidecar) paths of frame ``index``."""
    return (out_dir / IMAGES_DIR / image_name(index, fmt),
            out_dir / RECORDS_DIR / passes_name(index),
            out_dir / RECORDS_DIR / sidecar_name(index))

"""What frame files a dataset folder holds, and whether a frame is complete.

::

    list_records(ds) -> [Path]                  sidecars of complete frames, by (index, view token)
    scan_out_dir(out_dir) -> {(index, token): FrameFiles}  every frame file and temp file, by index
                                                and view token ('' for one-camera runs)
    file_is_complete(path, suffix=None) -> bool a whole PNG / JPEG / EXR (its magic, its end)
    read_sidecar(path) -> dict | None           the sidecar's JSON, None if it is not a record
    check_frame(out_dir, index, fmt, sidecar, view=None) -> str | None   why the frame is not complete
    size_problem(data, image, exr) -> str | None   a file whose size is not the one its sidecar records

A frame is complete when its sidecar parses and names its own image and EXR, and
both of those exist and are whole: their start and end look right and, when the sidecar
records their sizes (optional ``file_sizes``: ``{"image": bytes, "passes": bytes}``), they
have those sizes (an EXR cut short by a full disk has a valid header). Standard library only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from blender_coco.files import ensure_dir
from blender_coco.records.layout import (FRAME_FILE, IMAGES_DIR, RECORD_FORMAT, RECORDS_DIR, SIDECAR_FILE, TEMP_FILE,
                                         record_paths, records_dir, split_stem)

#: The optional sidecar field with the sizes of the frame's image and EXR: {"image": n, "passes": n}.
FILE_SIZES = "file_sizes"


def list_records(ds_dir: str | Path) -> list[Path]:
    """Sidecar paths of complete frames, sorted by frame index, then view token (temp files ignored)."""
    folder = records_dir(ds_dir)
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if SIDECAR_FILE.match(p.name)), key=lambda p: split_stem(p.stem))


class FrameFiles:
    """The files of one frame index (and view) found in an output folder."""

    __slots__ = ("sidecar", "files", "temps")

    def __init__(self) -> None:
        #: records/NNNNNN.json, if there is one
        self.sidecar: Path | None = None
        #: the image(s) and the EXR
        self.files: list[Path] = []
        #: temp files left by an interrupted write
        self.temps: list[Path] = []


def scan_out_dir(out_dir: Path) -> dict[tuple[int, str], FrameFiles]:
    """Every frame-named file (and leftover temp file) under images/ and records/, by frame index
    and view token (``''`` for the files of a one-camera run: ``000007.png``).

    Creates both folders when they are missing.
    """
    frames: dict[int, FrameFiles] = {}
    for sub in (RECORDS_DIR, IMAGES_DIR):
        folder = ensure_dir(out_dir / sub)
        for entry in os.scandir(folder):
            m = FRAME_FILE.match(entry.name)
            t = None if m else TEMP_FILE.match(entry.name)
            if not (m or t):
                continue
            stem = entry.name[1:].split(".")[0] if t else entry.name.split(".")[0]
            frame = frames.setdefault(split_stem(stem), FrameFiles())
            path = Path(entry.path)
            if t:
                frame.temps.append(path)
            elif sub == RECORDS_DIR and m.group(2) == "json":
                frame.sidecar = path
            else:
                frame.files.append(path)
    return frames


def _tail_ok(path: Path, head: bytes, tail: bytes | None, min_size: int) -> bool:
    try:
        size = path.stat().st_size
        if size < min_size:
            return False
        with open(path, "rb") as fh:
            if fh.read(len(head)) != head:
                return False
            if tail is None:
                return True
            fh.seek(max(0, size - 32))
            return tail in fh.read()
    except OSError:
        return False


def file_is_complete(path: Path, suffix: str | None = None) -> bool:
    """True when ``path`` is a whole PNG (ends with IEND), JPEG (ends with EOI) or EXR (magic);
    ``suffix`` gives the kind when the name does not (a temp name)."""
    suffix = (suffix or path.suffix).lower()
    if suffix == ".png":
        return _tail_ok(path, b"\x89PNG\r\n\x1a\n", b"IEND", 57)
    if suffix in (".jpg", ".jpeg"):
        return _tail_ok(path, b"\xff\xd8", b"\xff\xd9", 4)
    if suffix == ".exr":
        return _tail_ok(path, b"\x76\x2f\x31\x01", None, 64)
    return path.is_file()


def read_sidecar(path: Path) -> dict | None:
    """The sidecar's JSON object, or None when it does not parse or is not a frame record."""
    try:
        with open(path, "rb") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == RECORD_FORMAT else None


def check_frame(out_dir: Path, index: int, fmt: str, sidecar: Path, view: str | None = None) -> str | None:
    """Why frame ``index`` (its view with token ``view``) is not complete (sidecar parses, names
    its files, image and EXR exist and are whole), or None when it is."""
    data = read_sidecar(sidecar)
    if data is None:
        return "its sidecar does not parse"
    image, exr, _ = record_paths(out_dir, index, fmt, view)
    if data.get("index") != index or data.get("image") != image.name or data.get("passes") != exr.name:
        return "its sidecar names other files"
    for path in (image, exr):
        if not file_is_complete(path):
            return f"{path.parent.name}/{path.name} is missing or incomplete"
    return size_problem(data, image, exr)


def size_problem(data: dict, image: Path, exr: Path) -> str | None:
    """Which of a frame's files exists with another size than its sidecar ``data`` records
    (``file_sizes``; a file cut short by a full disk, or replaced), or None. Files that do not
    exist and records without sizes are not judged here."""
    sizes = data.get(FILE_SIZES) if isinstance(data.get(FILE_SIZES), dict) else {}
    for path, key in ((image, "image"), (exr, "passes")):
        size = sizes.get(key)
        try:
            actual = path.stat().st_size
        except OSError:
            continue
        if isinstance(size, int) and actual != size:
            return f"{path.parent.name}/{path.name} has {actual} bytes, its sidecar says {size}"
    return None

"""Write one frame record: RGB image, multilayer EXR of the passes, JSON sidecar.

Layout and sidecar fields follow docs/records.md. The image and the EXR are saved
from the same Render Result (one render per frame), each to a temp name and then
renamed; the sidecar is written last, atomically, so a frame is complete exactly
when its sidecar exists. :func:`prepare_out_dir` decides, before the first frame,
what happens to frames already in the folder (new run, ``--resume``,
``--overwrite``, shards sharing the folder).
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

import bpy

from blender_coco.blender import image_format
from blender_coco.errors import UserError
from blender_coco.files import atomic_path, ensure_dir, write_json_atomic

log = logging.getLogger(__name__)

RECORD_FORMAT = "blender-coco-record"
RECORD_VERSION = 1

_FRAME_FILE = re.compile(r"^(\d{6,})\.(json|exr|png|jpg)$")
# temp names of blender_coco.files.atomic_path: ".NAME.PID.EXT.tmp"
_TEMP_FILE = re.compile(r"^\.(\d{6,})\.(json|exr|png|jpg)\.\d+\.\w+\.tmp$")

#: How to treat frames already in the output folder (see :func:`prepare_out_dir`).
MODES = ("new", "resume", "overwrite")


def image_name(index: int, fmt: str) -> str:
    return f"{index:06d}{image_format.EXTENSIONS[fmt]}"


def record_paths(out_dir: Path, index: int, fmt: str) -> tuple[Path, Path, Path]:
    """(image, EXR, sidecar) paths of frame ``index``."""
    return (out_dir / "images" / image_name(index, fmt),
            out_dir / "records" / f"{index:06d}.exr",
            out_dir / "records" / f"{index:06d}.json")


class _Frame:
    """The files of one frame index found in the output folder."""

    __slots__ = ("sidecar", "files", "temps")

    def __init__(self) -> None:
        self.sidecar: Path | None = None
        self.files: list[Path] = []
        self.temps: list[Path] = []


def scan_out_dir(out_dir: Path) -> dict[int, _Frame]:
    """Every frame-named file (and leftover temp file) under images/ and records/, by frame index."""
    frames: dict[int, _Frame] = {}
    for sub in ("records", "images"):
        folder = ensure_dir(out_dir / sub)
        for entry in os.scandir(folder):
            m = _FRAME_FILE.match(entry.name)
            t = None if m else _TEMP_FILE.match(entry.name)
            if not (m or t):
                continue
            frame = frames.setdefault(int((m or t).group(1)), _Frame())
            path = Path(entry.path)
            if t:
                frame.temps.append(path)
            elif sub == "records" and m.group(2) == "json":
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


def file_is_complete(path: Path) -> bool:
    """True when ``path`` is a whole PNG (ends with IEND), JPEG (ends with EOI) or EXR (magic)."""
    suffix = path.suffix.lower()
    if suffix == ".png":
        return _tail_ok(path, b"\x89PNG\r\n\x1a\n", b"IEND", 57)
    if suffix in (".jpg", ".jpeg"):
        return _tail_ok(path, b"\xff\xd8", b"\xff\xd9", 4)
    if suffix == ".exr":
        return _tail_ok(path, b"\x76\x2f\x31\x01", None, 64)
    return path.is_file()


def _read_sidecar(path: Path) -> dict | None:
    try:
        with open(path, "rb") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == RECORD_FORMAT else None


def check_frame(out_dir: Path, index: int, fmt: str, sidecar: Path) -> str | None:
    """Why frame ``index`` is not complete (sidecar parses, names its files, image and EXR
    exist and are whole), or None when it is."""
    data = _read_sidecar(sidecar)
    if data is None:
        return "its sidecar does not parse"
    image, exr, _ = record_paths(out_dir, index, fmt)
    if data.get("index") != index or data.get("image") != image.name or data.get("passes") != exr.name:
        return "its sidecar names other files"
    for path in (image, exr):
        if not file_is_complete(path):
            return f"{path.parent.name}/{path.name} is missing or incomplete"
    return None


def _mismatch(data: dict, expect: dict) -> str | None:
    """How a sidecar differs from this run's settings (``expect``), or None."""
    for key, value in expect.items():
        if data.get(key) != value:
            if key == "randomize":
                had = data.get(key)
                what = "no randomization" if had is None else "a randomization config" if value is None \
                    else "another randomization config"
                now = "none" if value is None else "its --config or the scene's coco_randomize"
                return f"{what} (this run: {now})"
            return f"{key} {json.dumps(data.get(key))} (this run: {json.dumps(value)})"
    return None


def _remove(paths: list[Path]) -> None:
    # sidecars first, so that no half-removed frame looks complete
    for p in sorted(paths, key=lambda p: (p.suffix != ".json", str(p))):
        try:
            p.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise UserError(f"cannot remove frame file {p}: {exc.strerror}; delete it or choose another --out") from None


def prepare_out_dir(out_dir: Path, total: int, fmt: str, share=None, mode: str = "new",
                    expect: dict | None = None) -> set[int]:
    """Create images/ and records/ and decide what happens to frames already there.

    ``share``: the frame indices this run renders (default ``range(total)``; a shard
    renders every n-th). Returns the indices kept as complete (``mode == "resume"``).
    Only this run's own frames are ever removed, so shards sharing one folder never
    touch each other's files; an unsharded run also removes frames beyond ``total``
    and images of the other format when it overwrites.

    * ``new``: an error if a frame of ``share`` already has a sidecar (suggesting
      ``--resume``, ``--overwrite`` or a new ``--out``), or if the folder holds frames
      of another run (``expect`` differs: seed, size, randomization);
    * ``resume``: complete frames whose sidecar matches ``expect`` are kept;
      incomplete ones (missing or partial image/EXR, unreadable sidecar) are redone;
      a complete frame of other settings is an error;
    * ``overwrite``: every frame of ``share`` is rendered again.

    Leftover temp files and sidecar-less images/EXRs of ``share`` are removed.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    expect = expect or {}
    share = set(range(total) if share is None else share)
    sharded = share != set(range(total))
    frames = scan_out_dir(out_dir)
    keep_ext = image_format.EXTENSIONS[fmt].lstrip(".")
    kept: set[int] = set()
    remove: list[Path] = []
    done_before = sorted(i for i, f in frames.items() if f.sidecar is not None and i in share)
    beyond = sorted(i for i, f in frames.items() if f.sidecar is not None and i >= total)
    if mode == "new" and (done_before or (beyond and not sharded)):
        first = (done_before or beyond)[0]
        n = len(done_before) + (0 if sharded else len(beyond))
        raise UserError(f"{out_dir} already holds {n} rendered frame(s) (e.g. records/{first:06d}.json); pass --resume "
                        "to keep complete frames and render the rest, --overwrite to render them again, or choose a "
                        "new --out")
    if mode == "resume" and beyond and not sharded:
        raise UserError(f"{out_dir} holds frames beyond --frames {total} (e.g. records/{beyond[0]:06d}.json); resume "
                        "with the --frames of the interrupted run, or --overwrite")
    others = [i for i, f in frames.items() if f.sidecar is not None and i not in share and i < total]
    if others and expect and mode != "overwrite":  # frames of sibling shards: must be the same run
        data = _read_sidecar(frames[others[0]].sidecar)
        why = _mismatch(data, expect) if data is not None else None
        if why:
            raise UserError(f"{out_dir} holds frames of another run (records/{others[0]:06d}.json has {why}); use "
                            "the same settings as the other shards, or choose a new --out")
    for index, frame in sorted(frames.items()):
        if index in share:
            if mode == "resume" and frame.sidecar is not None:
                problem = check_frame(out_dir, index, fmt, frame.sidecar)
                if problem is None:
                    why = _mismatch(_read_sidecar(frame.sidecar), expect)
                    if why:
                        raise UserError(f"cannot resume: records/{index:06d}.json was rendered with {why}; resume "
                                        "with the settings of the interrupted run, or --overwrite")
                    kept.add(index)
                    remove.extend(frame.temps)
                    remove.extend(p for p in frame.files if p.parent.name == "images" and p.suffix.lstrip(".") != keep_ext)
                    continue
                log.info("frame %d is incomplete (%s): rendering it again", index, problem)
            remove.extend(([frame.sidecar] if frame.sidecar else []) + frame.files + frame.temps)
        elif not sharded and mode == "overwrite":
            remove.extend(([frame.sidecar] if frame.sidecar else []) + frame.files + frame.temps)
    if remove:
        stale = [p for p in remove if not p.name.endswith(".tmp")]
        if stale and mode == "overwrite":
            log.warning("removing %d frame file(s) of an earlier run from %s", len(stale), out_dir)
        elif remove:
            log.info("removing %d leftover frame file(s) from %s", len(remove), out_dir)
        _remove(remove)
    if kept:
        log.info("resuming: %d of %d frame(s) already complete", len(kept), len(share))
    return kept


def _save_render(scene, target: Path) -> None:
    result = bpy.data.images.get("Render Result")
    if result is None:
        raise RuntimeError("Blender produced no Render Result")
    with atomic_path(target) as tmp:
        try:
            result.save_render(filepath=str(tmp), scene=scene)
        except RuntimeError as exc:
            raise UserError(f"cannot write {target}: {str(exc).strip()}; check the folder's permissions and free space") from None
        if not tmp.exists():
            raise UserError(f"Blender did not write {target}; check the folder's permissions and free space")


def write_record(scene, out_dir: Path, index: int, fmt: str, sidecar: dict) -> None:
    """Save the current Render Result as frame ``index``: image, EXR, then the sidecar."""
    image_path, exr_path, json_path = record_paths(out_dir, index, fmt)
    settings = scene.render.image_settings
    image_format.use_rgb(settings, fmt)
    _save_render(scene, image_path)
    image_format.use_exr_multilayer(settings)
    _save_render(scene, exr_path)
    write_json_atomic(json_path, sidecar)


def camera_entry(camera) -> dict:
    """The sidecar's ``camera``: name, type (PERSP/ORTHO/PANO) and world matrix rows."""
    return {
        "name": camera.name,
        "type": getattr(camera.data, "type", "PERSP"),
        "matrix_world": [[float(v) for v in row] for row in camera.matrix_world],
    }

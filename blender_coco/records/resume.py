"""Before the first frame: what happens to frames already in the output folder.

::

    MODES = ("new", "resume", "overwrite")
    prepare_out_dir(out_dir, total, fmt, share, mode, expect, views) -> kept frame indices
    prepare_views(out_dir, total, fmt, share, mode, expect, views) -> kept (index, view token) pairs
    mismatch(sidecar, expect) -> str | None     how a frame differs from this run

``new`` refuses a folder holding frames of this run, ``resume`` keeps the complete
ones and redoes the rest, ``overwrite`` renders every frame again. A run only ever
removes its own frames (``share``), so shards rendering into one folder never touch
each other's files; frames of sibling shards must come from the same run (same
``expect``: seed, size, samples, scene, randomization, cameras). A multi-camera run
(``views``: its view tokens) keeps and redoes each (frame, view) record on its own. Pure file logic: the render stage calls it,
the tests drive it with tiny fake files. Standard library only.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

from blender_coco.errors import UserError
from blender_coco.records.layout import ANNOTATIONS_DIR, IMAGE_EXTENSIONS, IMAGES_DIR, RECORDS_DIR, sidecar_name
from blender_coco.records.scan import check_frame, read_sidecar, scan_out_dir

log = logging.getLogger(__name__)

#: Run fields that older records lack: not compared when a record has no such field.
ADDED_KEYS = ("scene", "samples")

#: How to treat frames already in the output folder (see :func:`prepare_out_dir`).
MODES = ("new", "resume", "overwrite")


def mismatch(data: dict, expect: dict) -> str | None:
    """How a sidecar's JSON differs from this run's settings (``expect``), or None."""
    for key, value in expect.items():
        if key in ADDED_KEYS and key not in data:  # a record written before the field existed
            continue
        if data.get(key) != value:
            if key == "views":
                def cams(v):
                    return "the scene camera" if not v else "cameras " + ", ".join(map(str, v))
                return f"{cams(data.get(key))} (this run: {cams(value)})"
            if key == "randomize":
                had = data.get(key)
                what = "no randomization" if had is None else "a randomization config" if value is None \
                    else "another randomization config"
                now = "none" if value is None else "its {randomize} or the scene's coco_randomize"
                return f"{what} (this run: {now})"
            return f"{key} {json.dumps(data.get(key))} (this run: {json.dumps(value)})"
    return None


def _shown(key: tuple[int, str]) -> str:
    return f"{RECORDS_DIR}/{sidecar_name(*key)}"


def _remove(paths: list[Path]) -> None:
    # sidecars first, so that no half-removed frame looks complete
    for p in sorted(paths, key=lambda p: (p.suffix != ".json", str(p))):
        try:
            p.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise UserError(f"cannot remove frame file {p}: {exc.strerror}; delete it or choose another {{out}}",
                            field="out") from None


def _retire_annotations(out_dir: Path) -> None:
    """Before an overwrite removes any frame: take the earlier run's COCO files away at once (one rename),
    so a run killed in between never leaves annotations that point at removed images."""
    folder = out_dir / ANNOTATIONS_DIR
    if not folder.is_dir() or not any(folder.iterdir()):
        return
    aside = out_dir / f".{ANNOTATIONS_DIR}.{os.getpid()}.old.tmp"
    try:
        os.replace(folder, aside)
    except OSError as exc:
        raise UserError(f"cannot remove the earlier annotations {folder}: {exc.strerror}; delete the folder or choose "
                        "a new {out}", field="out") from None
    log.warning("removed the annotations of the earlier run (%s); this run writes new ones", folder)
    shutil.rmtree(aside, ignore_errors=True)


def prepare_out_dir(out_dir: Path, total: int, fmt: str, share=None, mode: str = "new",
                    expect: dict | None = None, views=None) -> set[int]:
    """:func:`prepare_views`, returning the frame indices whose every view was kept."""
    tokens = list(views) if views else [""]
    kept = prepare_views(out_dir, total, fmt, share, mode, expect, views)
    return {i for i, _ in kept if all((i, t) in kept for t in tokens)}


def prepare_views(out_dir: Path, total: int, fmt: str, share=None, mode: str = "new",
                  expect: dict | None = None, views=None) -> set[tuple[int, str]]:
    """Create images/ and records/ and decide what happens to frames already there.

    ``share``: the frame indices this run renders (default ``range(total)``; a shard
    renders every n-th); ``views``: the run's view tokens (None: one camera, token ``''``).
    Returns the (index, token) pairs kept as complete (``mode == "resume"``).
    Only this run's own frames are ever removed, so shards sharing one folder never
    touch each other's files; an unsharded run also removes frames beyond ``total``
    and images of the other format when it overwrites.

    * ``new``: an error if a frame of ``share`` already has a sidecar (suggesting
      ``--resume``, ``--overwrite`` or a new ``--out``), or if the folder holds frames
      of another run (``expect`` differs: seed, size, randomization);
    * ``resume``: complete frames whose sidecar matches ``expect`` are kept;
      incomplete ones (missing or partial image/EXR, unreadable sidecar) are redone;
      a complete frame of other settings is an error;
    * ``overwrite``: every frame of ``share`` is rendered again; ``annotations/`` (the earlier
      export) is renamed away first, in one step, and removed.

    Leftover temp files and sidecar-less images/EXRs of ``share`` are removed.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    expect = expect or {}
    share = set(range(total) if share is None else share)
    sharded = share != set(range(total))
    tokens = list(views) if views else [""]
    mine = {(i, t) for i in share for t in tokens}
    frames = scan_out_dir(out_dir)
    keep_ext = IMAGE_EXTENSIONS[fmt].lstrip(".")
    kept: set[tuple[int, str]] = set()
    remove: list[Path] = []
    done_before = sorted(k for k, f in frames.items() if f.sidecar is not None and k in mine)
    beyond = sorted(k for k, f in frames.items() if f.sidecar is not None and k[0] >= total)
    if mode == "new" and (done_before or (beyond and not sharded)):
        first = (done_before or beyond)[0]
        n = len(done_before) + (0 if sharded else len(beyond))
        raise UserError(f"{out_dir} already holds {n} rendered frame(s) (e.g. {_shown(first)}); pass {{resume}} "
                        "to keep complete frames and render the rest, {overwrite} to render them again, or choose a "
                        "new {out}", field=("resume", "overwrite", "out"))
    if mode == "resume" and beyond and not sharded:
        raise UserError(f"{out_dir} holds frames beyond {{frames}} {total} (e.g. {_shown(beyond[0])}); resume "
                        "with the {frames} of the interrupted run, or {overwrite}", field=("frames", "overwrite"))
    others = sorted(k for k, f in frames.items() if f.sidecar is not None and k not in mine and k[0] < total)
    if others and expect and mode != "overwrite":  # frames of sibling shards: must be the same run
        data = read_sidecar(frames[others[0]].sidecar)
        why = mismatch(data, expect) if data is not None else None
        if why and mode == "resume" and not sharded:
            raise UserError(f"cannot resume: {_shown(others[0])} was rendered with {why}; resume with the settings "
                            "of the interrupted run, or {overwrite}", field=("randomize", "overwrite"))
        if why:
            raise UserError(f"{out_dir} holds frames of another run ({_shown(others[0])} has {why}); use "
                            "the same settings as the other shards, or choose a new {out}", field=("randomize", "out"))
    for key, frame in sorted(frames.items()):
        index, token = key
        if key in mine:
            if mode == "resume" and frame.sidecar is not None:
                problem = check_frame(out_dir, index, fmt, frame.sidecar, token)
                if problem is None:
                    why = mismatch(read_sidecar(frame.sidecar), expect)
                    if why:
                        raise UserError(f"cannot resume: {_shown(key)} was rendered with {why}; resume "
                                        "with the settings of the interrupted run, or {overwrite}", field=("randomize", "overwrite"))
                    kept.add(key)
                    remove.extend(frame.temps)
                    remove.extend(p for p in frame.files
                                  if p.parent.name == IMAGES_DIR and p.suffix.lstrip(".") != keep_ext)
                    continue
                log.info("frame %s is incomplete (%s): rendering it again", f"{index} ({token})" if token else index, problem)
            remove.extend(([frame.sidecar] if frame.sidecar else []) + frame.files + frame.temps)
        elif not sharded and mode == "overwrite":
            remove.extend(([frame.sidecar] if frame.sidecar else []) + frame.files + frame.temps)
    if mode == "overwrite":
        _retire_annotations(out_dir)
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

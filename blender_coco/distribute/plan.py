"""Cutting a run into tasks, and which of its frames are complete. No bpy, no Ray.

- :func:`default_chunk` ``(frames, workers)``: frames per task when ``--chunk`` is not given.
- :func:`plan_chunks` ``(frames, chunk, done)``: ``[(start, stop), ...]``, contiguous frame
  ranges of ``chunk`` frames, leaving out the ranges whose frames are all ``done``.
- :func:`sidecar_indices` ``(out_dir, frames)``: frames whose sidecar exists (cheap: one
  directory listing; a sidecar is written last, so it marks a finished frame); in a
  multi-camera run, frames with a sidecar for each view (the view count read from one sidecar).
- :func:`complete_frames` ``(out_dir, frames, fmt)``: frames whose record is whole (sidecar,
  image and EXR checked as ``--resume`` checks them).
- :func:`format_frames` ``(indices)``: ``[0, 1, 2, 5]`` -> ``'0-2, 5'``.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Iterable

#: Default chunk bounds (see :func:`default_chunk`).
MIN_CHUNK = 50
MAX_CHUNK = 1000

_SIDECAR = re.compile(r"^(\d{6,})(_[A-Za-z0-9_-]+)?\.json$")


def default_chunk(frames: int, workers: int) -> int:
    """Frames per task: one task per worker when that is at most :data:`MIN_CHUNK` frames
    (a small run loads the scene once per worker, like hand-made shards); else about four
    tasks per worker, :data:`MIN_CHUNK` to :data:`MAX_CHUNK` frames. Four waves balance
    uneven frames and nodes that join late, and keep the scene loads (seconds each) a
    small share of a task; a lost task costs one scene load, since its frames are kept."""
    workers = max(1, workers)
    one_each = math.ceil(frames / workers)
    return max(1, min(one_each, max(MIN_CHUNK, math.ceil(frames / (4 * workers))), MAX_CHUNK))


def plan_chunks(frames: int, chunk: int, done: Iterable[int] = ()) -> list[tuple[int, int]]:
    """Ranges ``(start, stop)`` of ``chunk`` frames covering ``range(frames)``, except those
    with every frame in ``done``."""
    done = set(done)
    ranges = [(a, min(a + chunk, frames)) for a in range(0, frames, chunk)]
    return [(a, b) for a, b in ranges if any(i not in done for i in range(a, b))]


def sidecar_indices(out_dir: str | os.PathLike, frames: int) -> set[int]:
    """Indices ``< frames`` with a sidecar ``records/NNNNNN.json`` (no content check)."""
    found: set[int] = set()
    per_view: dict[int, int] = {}
    one_view = None
    try:
        with os.scandir(Path(out_dir) / "records") as it:
            for entry in it:
                m = _SIDECAR.match(entry.name)
                if m and int(m.group(1)) < frames:
                    if m.group(2):
                        per_view[int(m.group(1))] = per_view.get(int(m.group(1)), 0) + 1
                        one_view = one_view or entry.path
                    else:
                        found.add(int(m.group(1)))
    except FileNotFoundError:
        pass
    if per_view:
        count = len(_views(Path(one_view)) or ())
        found.update(i for i, n in per_view.items() if n >= count)
    return found


def _views(sidecar: Path) -> list | None:
    try:
        with open(sidecar, "rb") as fh:
            views = json.load(fh).get("views")
    except (OSError, ValueError, AttributeError):
        return None
    return views if isinstance(views, list) else None


def complete_frames(out_dir: str | os.PathLike, frames: int, fmt: str) -> set[int]:
    """Indices ``< frames`` whose frame record is complete (the check of ``--resume``)."""
    from blender_coco.records import scan as out_folder  # the out-folder functions' one import

    from blender_coco.records.layout import view_tokens

    out_dir = Path(out_dir)
    found = out_folder.scan_out_dir(out_dir)
    ok = {k for k, f in found.items()
          if k[0] < frames and f.sidecar is not None and out_folder.check_frame(out_dir, k[0], fmt, f.sidecar, k[1]) is None}
    views = next((_views(found[k].sidecar) for k in sorted(ok) if k[1]), None)
    tokens = view_tokens([str(v) for v in views]) if views and len(views) > 1 else [""]
    return {i for i, _ in ok if all((i, t) in ok for t in tokens)}


def format_frames(indices: Iterable[int]) -> str:
    """Sorted indices as ranges: ``[0, 1, 2, 5, 7, 8]`` -> ``'0-2, 5, 7-8'``."""
    out: list[str] = []
    run: list[int] = []
    for i in sorted(set(indices)):
        if run and i == run[-1] + 1:
            run.append(i)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [i]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ", ".join(out)

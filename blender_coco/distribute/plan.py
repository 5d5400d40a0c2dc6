"""Cutting a run into tasks, and which of its frames are complete. No bpy, no Ray.

- :func:`default_chunk` ``(frames, workers)``: frames per task when ``--chunk`` is not given.
- :func:`plan_chunks` ``(frames, chunk, done)``: ``[(start, stop), ...]``, contiguous frame
  ranges of ``chunk`` frames, leaving out the ranges whose frames are all ``done``.
- :func:`sidecar_indices` ``(out_dir, frames)``: frames whose sidecar exists (cheap: one
  directory listing; a sidecar is written last, so it marks a finished frame).
- :func:`complete_frames` ``(out_dir, frames, fmt)``: frames whose record is whole (sidecar,
  image and EXR checked as ``--resume`` checks them).
- :func:`format_frames` ``(indices)``: ``[0, 1, 2, 5]`` -> ``'0-2, 5'``.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Iterable

#: The largest default chunk. Small runs get one task per worker (one scene load each, as
#: hand-made shards); long runs get tasks of at most this many frames, so that work spreads
#: over nodes that join late, a lost node costs one task's scene load (its frames are kept),
#: and the last wave of tasks is short.
MAX_CHUNK = 50

_SIDECAR = re.compile(r"^(\d{6,})\.json$")


def default_chunk(frames: int, workers: int) -> int:
    """``ceil(frames / workers)``, at most :data:`MAX_CHUNK`, at least 1."""
    return max(1, min(MAX_CHUNK, math.ceil(frames / max(1, workers))))


def plan_chunks(frames: int, chunk: int, done: Iterable[int] = ()) -> list[tuple[int, int]]:
    """Ranges ``(start, stop)`` of ``chunk`` frames covering ``range(frames)``, except those
    with every frame in ``done``."""
    done = set(done)
    ranges = [(a, min(a + chunk, frames)) for a in range(0, frames, chunk)]
    return [(a, b) for a, b in ranges if any(i not in done for i in range(a, b))]


def sidecar_indices(out_dir: str | os.PathLike, frames: int) -> set[int]:
    """Indices ``< frames`` with a sidecar ``records/NNNNNN.json`` (no content check)."""
    found: set[int] = set()
    try:
        with os.scandir(Path(out_dir) / "records") as it:
            for entry in it:
                m = _SIDECAR.match(entry.name)
                if m and int(m.group(1)) < frames:
                    found.add(int(m.group(1)))
    except FileNotFoundError:
        pass
    return found


def complete_frames(out_dir: str | os.PathLike, frames: int, fmt: str) -> set[int]:
    """Indices ``< frames`` whose frame record is complete (the check of ``--resume``)."""
    from blender_coco.blender import frame_files as out_folder  # the out-folder functions' one import

    out_dir = Path(out_dir)
    found = out_folder.scan_out_dir(out_dir)
    return {i for i, f in found.items()
            if i < frames and f.sidecar is not None and out_folder.check_frame(out_dir, i, fmt, f.sidecar) is None}


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

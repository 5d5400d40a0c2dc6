"""Frame hooks: how per-frame scene changes (randomization) plug into a render run.

A :class:`FrameHook` sees the run from outside the pipeline: ``start`` once before
the first frame, ``before_frame`` before each frame (after the scene frame is set),
``run_record``/``record`` to add fields to the frame's sidecar, ``detail`` for the
progress line, ``finish`` once at the end. :func:`as_hook` turns a plain ``func(scene, index, seed)`` into a hook.
"""

from __future__ import annotations

from typing import Callable


class FrameHook:
    """Per-frame scene changes (the randomization layer). Override what you need.

    ``start`` runs once before the first frame, ``before_frame`` before each frame
    (after the scene frame is set) and must derive everything from ``(seed, index)``
    alone. ``run_record`` returns sidecar fields that every frame of the run shares
    (e.g. ``{"randomize": {...}}``): a resumed run or a sibling shard must have the
    same values. ``record`` returns fields of this frame only. Neither can replace the
    contract's own fields. ``finish`` runs once at the end, also after an error or a
    cancel: it must undo whatever ``start``/``before_frame`` changed.
    """

    def start(self, scene) -> None:
        pass

    def before_frame(self, scene, index: int, seed: int) -> None:
        pass

    def run_record(self, scene, seed: int) -> dict:
        return {}

    def record(self, scene, index: int, seed: int) -> dict:
        return {}

    def detail(self) -> str:
        """A short text for the progress line (e.g. ``"spawn[0] physics 0.12 s/frame"``), or ``""``."""
        return ""

    def finish(self, scene) -> None:
        pass


class _CallableHook(FrameHook):
    def __init__(self, func: Callable) -> None:
        self._func = func

    def before_frame(self, scene, index: int, seed: int) -> None:
        self._func(scene, index, seed)


def as_hook(hook) -> FrameHook:
    """``hook`` itself when it is a :class:`FrameHook`, else a hook calling ``hook(scene, index, seed)``."""
    return hook if isinstance(hook, FrameHook) else _CallableHook(hook)

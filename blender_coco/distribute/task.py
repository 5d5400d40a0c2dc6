"""One task of a distributed run: a Blender process of its own renders a range of frames.

- :func:`render_argv` ``(config)``: the ``blender-coco render`` arguments of a config
  (but its export settings: tasks never export).
- :func:`blender_command` ``(argv, blender=None)``: ``python -m blender_coco render ARGV``
  with the bpy module of this Python, or ``BLENDER -b SCENE --python-exit-code 1 -P
  scripts/render_coco.py -- ARGV`` with a stock Blender. ``ARGV`` names ``--out DS``, so
  ``ps`` shows which dataset a process renders.
- :func:`run_blender` ``(cmd, out_dir, frames=None, on_first_frame=None)`` ->
  :class:`Outcome`: runs it, keeps the last lines of its stderr, notes when the first of
  ``frames`` is written. The child is killed with its parent (Linux: ``PR_SET_PDEATHSIG``),
  so a cancelled or lost Ray worker leaves no Blender behind.
- :class:`BlenderDied`: raised by a task whose Blender was killed or crashed; Ray retries
  such tasks, and ``--resume`` in the task keeps the frames already complete.

An exit with a ``blender-coco: error:`` line (bad scene, bad settings) is not a crash:
retrying would fail the same way, so the outcome carries that line instead.
"""

from __future__ import annotations

import collections
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from blender_coco.child_python import PACKAGE_ROOT, child_env
from blender_coco.config import RenderConfig
from blender_coco.randomize import OFF
from blender_coco.errors import UserError

ERROR_PREFIX = "blender-coco: error: "
#: The stock-Blender front end, in a source checkout of blender-coco.
RENDER_SCRIPT = Path(PACKAGE_ROOT) / "scripts" / "render_coco.py"


class BlenderDied(RuntimeError):
    """A task's Blender process was killed or crashed (the task may be retried)."""


@dataclass(frozen=True)
class Outcome:
    """How a Blender process ended: ``returncode``, the ``error`` line it printed (a user
    error, None otherwise), the ``tail`` of its stderr, and when (``time.time()``) it
    started and wrote its first frame (None: it wrote none)."""

    returncode: int
    error: str | None
    tail: tuple[str, ...]
    started: float
    first_frame: float | None

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def crashed(self) -> bool:
        return self.returncode != 0 and self.error is None

    def reason(self) -> str:
        """One line: why it failed."""
        if self.error is not None:
            return self.error
        if self.returncode < 0:
            try:
                name = signal.Signals(-self.returncode).name
            except ValueError:
                name = f"signal {-self.returncode}"
            return f"Blender was killed by {name}"
        last = next((ln for ln in reversed(self.tail) if ln.strip()), "")
        return f"Blender exited with code {self.returncode}" + (f": {last.strip()}" if last else "")


def render_argv(config: RenderConfig) -> list[str]:
    """``blender-coco render`` arguments that rebuild ``config`` but its ``export`` (the inverse
    of :func:`blender_coco.commands.render.config_from_args`): how the driver hands a run to
    Blender processes on other machines, which render only (the driver exports). Paths are
    passed as given: make them absolute first."""
    argv = ([config.scene] if config.scene else []) + ["--out", config.out, "--frames", str(config.frames),
                                                       "--seed", str(config.seed)]
    if config.resolution is not None:
        argv += ["--resolution", "%dx%d" % config.resolution]
    if config.resolution_percentage is not None:
        argv += ["--resolution-percentage", str(config.resolution_percentage)]
    if config.samples is not None:
        argv += ["--samples", str(config.samples)]
    argv += ["--device", config.device, "--image-format", config.image_format]
    if config.randomize == OFF:
        argv.append("--no-randomize")
    elif config.randomize is not None:
        argv += ["--config", config.randomize]
    if config.shard is not None:
        argv += ["--shard", "%d/%d" % config.shard]
    if config.frame_range is not None:
        argv += ["--frame-range", "%d:%d" % config.frame_range]
    if config.threads is not None:
        argv += ["--threads", str(config.threads)]
    if config.cameras is not None:
        argv += ["--cameras", ",".join(config.cameras)]
    argv += ["--resume"] if config.resume else ["--overwrite"] if config.overwrite else []
    argv += {"all": [], "render": ["--no-export"], "prepare": ["--prepare-only"]}[config.stage]
    if not config.amodal:
        argv.append("--no-amodal")
    if config.python is not None:
        argv += ["--python", config.python]
    return argv


def blender_command(argv: list[str], blender: str | None = None) -> list[str]:
    """The command that runs ``blender-coco render ARGV`` in a Blender process of its own."""
    if blender is None:
        return [sys.executable, "-m", "blender_coco", "render", *argv]
    if not RENDER_SCRIPT.is_file():
        raise UserError(f"--blender needs scripts/render_coco.py of a blender-coco checkout (not found at "
                        f"{RENDER_SCRIPT}); install blender-coco from its repository, or drop --blender to use "
                        "the bpy module")
    scene = argv[:1] if argv and not argv[0].startswith("-") else []
    return [blender, "-b", *scene, "--python-exit-code", "1", "-P", str(RENDER_SCRIPT), "--", *argv[len(scene):]]


try:  # looked up here, not in the forked child (the Ray worker has threads)
    _PRCTL = ctypes.CDLL(None).prctl if sys.platform.startswith("linux") else None
except (AttributeError, OSError):
    _PRCTL = None


def _die_with_parent() -> None:  # runs in the child between fork and exec
    _PRCTL(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG: killed when the task's process ends


def _written(sidecar: Path, views_glob: str) -> bool:
    return sidecar.exists() or any(sidecar.parent.glob(views_glob))


def run_blender(cmd: list[str], out_dir: str | os.PathLike, frames: tuple[int, int] | None = None,
                on_first_frame: Callable[[float], None] | None = None, tail_lines: int = 40) -> Outcome:
    """Run ``cmd`` to its end (see the module docstring)."""
    records = Path(out_dir) / "records"
    todo = [i for i in range(*frames) if not (records / f"{i:06d}.json").exists()] if frames else []
    first_sidecar = records / f"{todo[0]:06d}.json" if todo else None  # a one-camera run's; else any view's:
    first_glob = f"{todo[0]:06d}_*.json" if todo else None
    tail: collections.deque[str] = collections.deque(maxlen=tail_lines)
    started = time.time()
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True, errors="replace", env=child_env(),
                                preexec_fn=_die_with_parent if _PRCTL is not None else None)
    except OSError as exc:
        raise UserError(f"cannot start {cmd[0]}: {exc.strerror}; check --blender or the Python of the Ray "
                        "workers (it needs blender-coco with the bpy module)") from None
    reader = threading.Thread(target=lambda: tail.extend(line.rstrip("\n") for line in proc.stderr), daemon=True)
    reader.start()
    first_frame = None
    while True:
        try:
            proc.wait(timeout=0.25)
            break
        except subprocess.TimeoutExpired:
            pass
        if first_frame is None and first_sidecar is not None and _written(first_sidecar, first_glob):
            first_frame = time.time()
            if on_first_frame is not None:
                on_first_frame(first_frame)
    reader.join(timeout=5)
    if first_frame is None and first_sidecar is not None and _written(first_sidecar, first_glob):
        first_frame = time.time()
    lines = tuple(tail)
    error = None
    if proc.returncode > 0:
        error = next((ln[len(ERROR_PREFIX):] for ln in reversed(lines) if ln.startswith(ERROR_PREFIX)), None)
    return Outcome(proc.returncode, error, lines, started, first_frame)

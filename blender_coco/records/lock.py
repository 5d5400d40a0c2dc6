"""One run per output folder: a lock held for the whole run, shared only by shards of one run.

::

    lock = RunLock.acquire(out_dir, identity, shared=False)   # UserError if another run holds the folder
    lock.last_shard() -> bool     # a shard at its end: True (now exclusive) when no other shard still runs
    lock.release()

A run that renders every frame (or the Ray driver's check) takes ``DS/.blender-coco.lock``
with an exclusive :func:`fcntl.flock`: a second run into the same folder fails at once with
one line, whatever it renders. Shards (``--shard``, a Ray task's ``--frame-range``) take it
shared, so they render side by side; they must be shards of *one* run: the first shard writes
``identity`` (seed, size, samples, scene, randomization, frames, format) to
``DS/.blender-coco-run.json``, later shards compare theirs and refuse to start when it
differs, naming the setting. A shard that ends while no other shard of its run still runs
gets the lock exclusively (:meth:`RunLock.last_shard`) and exports every shard's frames; the
others leave the export to it. The checks runs under a second, short exclusive lock
(``DS/.blender-coco.gate``) so two shards starting together cannot both be "first". Frames
already on disk are checked against the same settings by :mod:`.resume`.

The kernel drops a lock when its process ends (even by SIGKILL): a killed run never leaves
the folder locked. ``flock`` works on local filesystems and on NFS (Linux emulates it with
NFS byte-range locks); where locking is not supported the run goes on with a warning.
Standard library only (POSIX; elsewhere no locking).
"""

from __future__ import annotations

import json
import logging
import os
import socket
from pathlib import Path

from blender_coco.errors import UserError
from blender_coco.files import write_json_atomic

try:
    import fcntl
except ImportError:  # Windows: no flock
    fcntl = None

log = logging.getLogger(__name__)

LOCK_FILE = ".blender-coco.lock"
GATE_FILE = ".blender-coco.gate"
IDENTITY_FILE = ".blender-coco-run.json"


def _open(path: Path) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise UserError(f"cannot create the lock file {path}: {exc.strerror}; choose a writable {{out}}",
                        field="out") from None


def _try(fd: int, mode: int) -> bool:
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _differs(theirs: dict, ours: dict) -> str | None:
    for key in sorted(set(theirs) | set(ours)):
        if key in ("pid", "host"):
            continue
        if theirs.get(key) != ours.get(key):
            return f"{key} {json.dumps(theirs.get(key))} (this run: {json.dumps(ours.get(key))})"
    return None


def _holder(identity_path: Path) -> str:
    try:
        data = json.loads(identity_path.read_text())
        return f" (pid {int(data['pid'])} on {data['host']})"
    except (OSError, ValueError, KeyError, TypeError):
        return ""


class RunLock:
    """The output folder's run lock (module docstring); :meth:`release` gives it up."""

    def __init__(self, fd: int | None, out: Path | None = None) -> None:
        self._fd = fd
        self._out = out

    @classmethod
    def acquire(cls, out_dir: str | os.PathLike, identity: dict, *, shared: bool = False) -> "RunLock":
        out = Path(out_dir)
        if fcntl is None:
            return cls(None)
        lock_fd = _open(out / LOCK_FILE)
        gate_fd = _open(out / GATE_FILE)
        identity = {**identity, "pid": os.getpid(), "host": socket.gethostname()}
        path = out / IDENTITY_FILE
        try:
            try:
                fcntl.flock(gate_fd, fcntl.LOCK_EX)  # short: only while the lock is decided
            except OSError as exc:
                log.warning("cannot lock %s (%s): not checking that only one run writes there", out, exc.strerror)
                os.close(lock_fd)
                return cls(None)
            if _try(lock_fd, fcntl.LOCK_EX):  # no other run: (re)state this run's identity
                write_json_atomic(path, identity)
                if shared:
                    fcntl.flock(lock_fd, fcntl.LOCK_SH)  # safe: every starter holds the gate first
                return cls(lock_fd, out)
            if not shared or not _try(lock_fd, fcntl.LOCK_SH):
                raise UserError(f"{out} is in use by another blender-coco run{_holder(path)}; wait for it to end, "
                                "or choose another {out} (shards of one run may share a folder)", field="out")
            try:
                theirs = json.loads(path.read_text())
            except (OSError, ValueError):
                theirs = None
            why = _differs(theirs, identity) if isinstance(theirs, dict) else "no readable " + IDENTITY_FILE
            if why:
                raise UserError(f"{out} is being rendered by shards of another run, which has {why}; use the same "
                                "settings as the other shards, or choose another {out}", field="out")
            return cls(lock_fd, out)
        except BaseException:
            os.close(lock_fd)
            raise
        finally:
            os.close(gate_fd)  # releases the gate

    def last_shard(self) -> bool:
        """At a shard's end: give up the shared lock and take it exclusively if no other shard of the run
        still holds it (True: this one ends last and exports); False: another shard is still rendering."""
        if self._fd is None or fcntl is None:
            return True
        gate_fd = _open(self._out / GATE_FILE)
        try:
            fcntl.flock(gate_fd, fcntl.LOCK_EX)  # two shards ending together: exactly one is last
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            return _try(self._fd, fcntl.LOCK_EX)
        finally:
            os.close(gate_fd)

    def release(self) -> None:
        """Give the folder up (closing the file drops the lock)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

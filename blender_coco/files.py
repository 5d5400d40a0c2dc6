"""Atomic file output: write to a temp file in the target folder, then rename.

A crash or a kill at any moment leaves either the old file or the new one, never
a half-written file. Temp names start with ``.`` and end with ``.tmp`` so that
readers (and ``--resume``) can ignore them; they carry the writer's process id, so
:func:`remove_stale_temps` can remove those a killed process left.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
from pathlib import Path
from typing import Any, Iterator

from blender_coco.errors import UserError


def ensure_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` (and parents); a clear error if it cannot be created or written."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create output folder {p}: {exc.strerror}; choose a writable {{out}}", field="out") from None
    if not os.access(p, os.W_OK):
        raise UserError(f"output folder {p} is not writable; choose a writable {{out}}", field="out")
    return p


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success rename it over ``path``.

    On any exception the temp file is removed and ``path`` is untouched.
    """
    target = Path(path)
    ensure_dir(target.parent)
    tmp = target.with_name(f".{target.name}.{os.getpid()}{target.suffix}.tmp")
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


#: A temp name of :func:`atomic_path`: ``.NAME.PID[.EXT].tmp``; group 1 the writer's process id.
TEMP_NAME = re.compile(r"^\..+\.(\d+)(?:\.[^.]*)?\.tmp$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):  # someone else's process, or not a pid
        return pid < 2**22
    return True


def remove_stale_temps(folder: str | os.PathLike) -> int:
    """Remove the temp files under ``folder`` (recursively) whose writer no longer runs on this
    machine (a killed run's); returns how many. Missing folders and unremovable files are skipped."""
    removed = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            m = TEMP_NAME.match(name)
            if m and not _alive(int(m.group(1))):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(root, name))
                    removed += 1
    return removed


def write_synced(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` (in place) and fsync it; OSError as raised (callers name the fix)."""
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (fsync before the rename)."""
    with atomic_path(path) as tmp:
        try:
            write_synced(tmp, data)
        except OSError as exc:
            raise UserError(f"cannot write {path}: {exc.strerror}; check the folder's permissions and free space") from None


def write_json_atomic(path: str | os.PathLike, obj: Any, *, indent: int | None = None) -> None:
    """Serialize ``obj`` as JSON and write it atomically. Output is deterministic."""
    text = json.dumps(obj, indent=indent, separators=(",", ":") if indent is None else (",", ": "))
    write_bytes_atomic(path, text.encode("utf-8"))


def read_json(path: str | os.PathLike, what: str = "JSON file", *, object_pairs_hook: Any = None) -> Any:
    """Read a JSON file; a one-line :class:`UserError` naming the file if it is missing or malformed.

    ``object_pairs_hook``: as for :func:`json.load` (e.g. to refuse duplicate keys,
    which ``json.load`` silently resolves to the last one)."""
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            return json.load(fh, object_pairs_hook=object_pairs_hook)
    except FileNotFoundError:
        raise UserError(f"{what} {p} does not exist; check the path") from None
    except IsADirectoryError:
        raise UserError(f"{what} {p} is a folder; pass a .json file") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{what} {p} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); fix or regenerate it") from None
    except UnicodeDecodeError:
        raise UserError(f"{what} {p} is not UTF-8 text; pass a JSON file") from None
    except OSError as exc:
        raise unreadable(p, what, exc) from None


def shown_name(path: str | os.PathLike) -> str:
    """A path as text that always encodes: the bytes of a non-UTF-8 name (lone surrogates in
    Python) as ``\\xNN`` escapes, e.g. ``caf\\xe9.png``."""
    text = os.fspath(path)
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate no file system gave (JSON can hold any): \udXXX
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def unreadable(path: str | os.PathLike, what: str, exc: OSError | None = None) -> UserError:
    """The one-line error for an input file that exists but cannot be read (permissions, I/O);
    ``exc`` None: this user may not read it (``os.access`` said so)."""
    exc = exc or PermissionError(errno.EACCES, os.strerror(errno.EACCES))
    if isinstance(exc, PermissionError):
        fix = "give this user read access (chmod a+r, or run as its owner)"
    else:
        fix = "check the file and the disk it is on"
    return UserError(f"cannot read {what} {path}: {exc.strerror or exc}; {fix}")

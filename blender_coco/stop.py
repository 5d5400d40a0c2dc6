"""Stopping a run on a signal: Ctrl-C (SIGINT), SIGTERM (what schedulers send), SIGHUP.

::

    with on_signals():          # a front end around one run (main thread only)
        ... requested() ...     # the render loop asks between frames
        check(kept, total, out) # raises Interrupted once a stop was requested
    set_command(argv)           # the command line the resume hint repeats
    resume_command() -> str     # that command with --resume
    exit_now_on_signal()        # a phase that cannot stop cleanly (the export): a signal exits at once
    reinstall()                 # after a library replaced the handlers (ray.init sets its own SIGTERM one)

The first signal asks the run to stop after the frame in flight: one line says so at
once, the loop stops before the next frame and :class:`Interrupted` carries the
one-line message (frames kept, the ``--resume`` command) and the exit code, 128 +
the signal (130 SIGINT, 143 SIGTERM, 129 SIGHUP). A second signal ends the process
at once with ``os._exit`` (after flushing stderr): no traceback, no clean-up of the
frame in flight (its temp files are removed by ``--resume``). Complete frames are
written atomically, so either way every kept frame is whole.

How: Python runs signal handlers only in the main thread between bytecodes, which
a frame render (Cycles, seconds to minutes) never reaches. So the handlers do
nothing themselves; :func:`signal.set_wakeup_fd` makes the C-level handler write the
signal's number into a pipe, and a watcher thread reads it the moment it arrives
(Blender releases the GIL while it renders). Installing the handlers also replaces
Blender's own SIGINT handler (``blender -b`` otherwise sets its break flag and renders
on). Outside :func:`on_signals` nothing changes. Standard library only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import shlex
import signal
import sys
import threading
from typing import Iterator

log = logging.getLogger(__name__)

SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
_SAID = {"SIGINT": "Ctrl-C (SIGINT)", "SIGTERM": "SIGTERM", "SIGHUP": "SIGHUP (the terminal closed)"}

_requested: int | None = None   # the first signal's number, once one arrived
_exit_now = False                # a phase that cannot stop between frames
_command: list[str] | None = None


class Interrupted(Exception):
    """The run stopped on a signal; ``str`` is the one line to show, ``exit_code`` 128 + the signal."""

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum


def signal_name(signum: int) -> str:
    """``2`` -> ``'Ctrl-C (SIGINT)'``: how the messages name a signal."""
    try:
        name = signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
    return _SAID.get(name, name)


def requested() -> int | None:
    """The signal that asked the run to stop, or None."""
    return _requested


def set_command(argv: list[str]) -> None:
    """The command line of this run (``argv[0]`` the program), for :func:`resume_command`."""
    global _command
    _command = [str(a) for a in argv]


def resume_command() -> str:
    """This run's command line with ``--resume`` instead of ``--overwrite``."""
    if _command is None:
        return "the same command with --resume"
    args = [a for a in _command if a != "--overwrite"]
    if "--resume" not in args:
        args.append("--resume")
    return shlex.join(args)


def stopped_message(signum: int, kept: int, total: int, out: str, *, what: str = "frame(s)") -> str:
    """The one line an interrupted run ends with."""
    return (f"stopped by {signal_name(signum)}: {kept} of {total} {what} complete and kept in {out} "
            f"(not exported); continue with: {resume_command()}")


def check(kept: int, total: int, out: str) -> None:
    """Raise :class:`Interrupted` if a signal asked the run to stop."""
    if _requested is not None:
        raise Interrupted(_requested, stopped_message(_requested, kept, total, out))


@contextlib.contextmanager
def exit_now_on_signal() -> Iterator[None]:
    """Inside: a signal ends the process at once (exit 128 + signal) with a line saying how to continue."""
    global _exit_now
    old, _exit_now = _exit_now, True
    try:
        yield
    finally:
        _exit_now = old


def _say(text: str) -> None:
    try:
        sys.stderr.write(f"blender-coco: {text}\n")
        sys.stderr.flush()
    except Exception:  # stderr closed (the terminal went away): nothing to say it to
        pass


def _exit(signum: int, why: str) -> None:
    _say(f"{why}; continue with: {resume_command()}")
    os._exit(128 + signum)


def _watch(read_fd: int, stop_fd: int) -> None:
    global _requested
    while True:
        try:
            ready, _, _ = select.select([read_fd, stop_fd], [], [])
        except InterruptedError:
            continue
        if stop_fd in ready:
            return
        try:
            data = os.read(read_fd, 64)
        except BlockingIOError:
            continue
        except OSError:
            return
        for signum in data:
            if signum not in SIGNALS:
                continue
            if _requested is not None:
                _exit(signum, f"{signal_name(signum)} again: stopped at once (the frame in flight is lost)")
            if _exit_now:
                _exit(signum, f"stopped by {signal_name(signum)} during the export (nothing half-written "
                              "is kept)")
            _requested = signum
            again = "Ctrl-C" if signum == signal.SIGINT else f"kill -{signal.Signals(signum).name[3:]}"
            _say(f"{signal_name(signum)}: stopping after the frame in flight ({again} again to stop at once)")


def _ignore(signum, frame) -> None:  # the watcher thread acts; see the module docstring
    pass


def reinstall() -> None:
    """Put this module's handlers back (inside :func:`on_signals`, main thread) after a library replaced them."""
    if _installed and threading.current_thread() is threading.main_thread():
        for signum in SIGNALS:
            signal.signal(signum, _ignore)


@contextlib.contextmanager
def on_signals() -> Iterator[None]:
    """Stop the run inside on SIGINT / SIGTERM / SIGHUP (module docstring). Nested use is a no-op;
    outside the main thread it does nothing (signals can only be caught there)."""
    global _requested
    if threading.current_thread() is not threading.main_thread() or _installed:
        yield
        return
    read_fd, write_fd = os.pipe()
    stop_r, stop_w = os.pipe()
    os.set_blocking(write_fd, False)
    os.set_blocking(read_fd, False)
    previous = {}
    old_fd = -1
    _requested = None
    _installed.append(True)
    try:
        old_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        for signum in SIGNALS:
            previous[signum] = signal.signal(signum, _ignore)
        watcher = threading.Thread(target=_watch, args=(read_fd, stop_r), name="blender-coco-signals", daemon=True)
        watcher.start()
        try:
            yield
        finally:
            os.write(stop_w, b"x")
            watcher.join(timeout=5)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        signal.set_wakeup_fd(old_fd)
        for fd in (read_fd, write_fd, stop_r, stop_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        _installed.clear()


_installed: list[bool] = []

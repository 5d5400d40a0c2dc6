"""Progress of a long run: frames done, frames per minute, time left.

On a terminal (stderr is a TTY) an updating bar; otherwise (logs, CI, a pipe) one
log line every few seconds, plus the first and the last frame. Nothing is shown when
the ``blender_coco`` logger is quieter than INFO (``-q``). No bpy, no numpy: the
render stage of a stock Blender uses it.
"""

from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger("blender_coco.progress")


def duration(seconds: float) -> str:
    """``3725`` -> ``'1h02m'``, ``125`` -> ``'2m05s'``, ``7`` -> ``'7s'``."""
    seconds = int(round(max(seconds, 0.0)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


class Progress:
    """Report ``done`` of ``total`` frames; ``done`` may start above 0 (resumed runs).

    The rate counts only frames done since this object was made.
    """

    def __init__(self, total: int, *, done: int = 0, stream=None, interval: float = 5.0, width: int = 28,
                 clock=time.monotonic, detail=None) -> None:
        self.total = total
        self.detail = detail  # a callable giving text appended to the line (e.g. physics time), or None
        self.start_done = self.done = done
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self.width = width
        self.clock = clock
        self.t0 = self._last = clock()
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = logging.getLogger("blender_coco").isEnabledFor(logging.INFO)
        self._drawn = False
        #: shown after the rate and ETA, e.g. "2 tasks running, 1 retried" (set by :meth:`update`)
        self.note = ""

    @property
    def rate(self) -> float:
        """Frames per second since the start."""
        return (self.done - self.start_done) / max(self.clock() - self.t0, 1e-9)

    def text(self) -> str:
        rate = self.rate
        left = duration((self.total - self.done) / rate) if rate > 0 else "?"
        pct = 100.0 * self.done / self.total if self.total else 100.0
        extras = [text for text in (self.note, self.detail() if self.detail is not None else "") if text]
        return f"frame {self.done}/{self.total} ({pct:.0f}%), {rate * 60:.1f} frames/min, {left} left" + "".join(
            f", {text}" for text in extras)

    def update(self, done: int, note: str | None = None) -> None:
        self.done = done
        if note is not None:
            self.note = note
        if not self.enabled:
            return
        now = self.clock()
        if self.tty:
            if now - self._last >= 0.2 or done >= self.total:
                self._last = now
                filled = int(self.width * done / self.total) if self.total else self.width
                bar = "#" * filled + "." * (self.width - filled)
                self.stream.write(f"\r[{bar}] {self.text()}\x1b[K")
                self.stream.flush()
                self._drawn = True
        elif done - self.start_done == 1 or done >= self.total or now - self._last >= self.interval:
            self._last = now
            log.info("%s", self.text())

    def close(self) -> None:
        """End the bar's line (terminal only)."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False

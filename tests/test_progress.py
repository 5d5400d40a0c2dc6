"""Progress of long runs: a log line every few seconds off a terminal, an updating bar on one.

Time is a fake clock, so nothing here depends on how fast the machine is.
"""

from __future__ import annotations

import io
import logging

import pytest

from blender_coco.progress import Progress, duration


@pytest.fixture
def messages():
    """Progress log messages, captured on the logger itself (the CLI may have stopped propagation)."""
    got: list[str] = []

    class Handler(logging.Handler):
        def emit(self, record):
            got.append(record.getMessage())

    logger, root = logging.getLogger("blender_coco.progress"), logging.getLogger("blender_coco")
    handler, level = Handler(), root.level
    logger.addHandler(handler)
    root.setLevel(logging.INFO)
    yield got
    logger.removeHandler(handler)
    root.setLevel(level)


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_durations_read_like_a_clock():
    assert [duration(s) for s in (0, 7, 125, 3725, 90000)] == ["0s", "7s", "2m05s", "1h02m", "25h00m"]


def test_off_a_terminal_progress_is_a_log_line_every_interval(messages):
    clock = Clock()
    p = Progress(100, done=20, stream=io.StringIO(), interval=5.0, clock=clock)  # resumed: 20 already done
    lines = []
    for done in range(21, 101):
        clock.t += 1.0  # one frame per second
        p.update(done)
    lines = messages
    assert lines[0] == "frame 21/100 (21%), 60.0 frames/min, 1m19s left"  # the first frame, then every 5 s
    assert lines[1] == "frame 26/100 (26%), 60.0 frames/min, 1m14s left"
    assert lines[-1] == "frame 100/100 (100%), 60.0 frames/min, 0s left"
    assert len(lines) == 1 + 80 // 5 + (0 if 80 % 5 == 0 else 1)


def test_on_a_terminal_progress_is_one_updating_bar(messages):
    clock, tty = Clock(), Tty()
    p = Progress(4, stream=tty, width=8, clock=clock)
    for done in range(1, 5):
        clock.t += 30.0
        p.update(done)
    p.close()
    text = tty.getvalue()
    assert text.count("\r") == 4 and text.endswith("\n") and text.count("\n") == 1
    assert "\r[##......] frame 1/4 (25%), 2.0 frames/min, 1m30s left" in text
    assert "\r[########] frame 4/4 (100%), 2.0 frames/min, 0s left" in text
    assert messages == []


def test_quiet_runs_show_no_progress(messages):
    logging.getLogger("blender_coco").setLevel(logging.WARNING)
    tty = Tty()
    p = Progress(3, stream=tty)
    p.update(1)
    p.close()
    assert tty.getvalue() == "" and messages == []

"""Config dataclasses: every bad value is one UserError line naming the field and what is allowed."""

from __future__ import annotations

import pytest

from blender_coco.config import ExportConfig, RenderConfig, parse_resolution
from blender_coco.errors import UserError

BAD = [
    (ExportConfig, {"segmentation": "mask"}, "segmentation must be one of auto, polygon, rle, got 'mask'"),
    (ExportConfig, {"tolerance": -1}, "tolerance must be a number of pixels in [0, 10], got -1"),
    (ExportConfig, {"min_area": 0}, "min_area must be an integer >= 1 (pixels), got 0"),
    (ExportConfig, {"iscrowd": "yes"}, "iscrowd must be true or false, got 'yes'"),
    (RenderConfig, {"out": ""}, "out must be a folder path"),
    (RenderConfig, {"out": "ds", "frames": 0}, "frames must be an integer >= 1, got 0"),
    (RenderConfig, {"out": "ds", "frames": "10", "shard": (0, 2)}, "frames must be an integer >= 1, got '10'"),
    (RenderConfig, {"out": "ds", "frames": 100_000_000}, "frames must be at most 1,000,000 (one dataset folder"),
    (RenderConfig, {"out": "ds", "seed": -3}, "seed must be an integer in [0, 2^63), got -3"),
    (RenderConfig, {"out": "ds", "resolution": (640, 0)}, "resolution must be WIDTHxHEIGHT"),
    (RenderConfig, {"out": "ds", "samples": 0}, "samples must be an integer >= 1, got 0"),
    (RenderConfig, {"out": "ds", "device": "TPU"}, "device must be one of CPU, GPU, got 'TPU'"),
    (RenderConfig, {"out": "ds", "image_format": "WEBP"}, "image_format must be one of PNG, JPEG, got 'WEBP'"),
    (RenderConfig, {"out": "ds", "shard": (3, 3)}, "shard must be I/N with 0 <= I < N"),
    (RenderConfig, {"out": "ds", "frames": 2, "shard": (2, 3)}, "shard 2/3 of a 2-frame run has no frames"),
]


@pytest.mark.parametrize("cls,kwargs,message", BAD, ids=[f"{c.__name__}-{list(k)[-1]}" for c, k, _ in BAD])
def test_bad_values_are_one_line_errors(cls, kwargs, message):
    with pytest.raises(UserError) as info:
        cls(**kwargs)
    text = str(info.value)
    assert message in text and "\n" not in text


@pytest.mark.parametrize("text,want", [("640x480", (640, 480)), ("96X72", (96, 72))])
def test_parse_resolution(text, want):
    assert parse_resolution(text) == want


@pytest.mark.parametrize("text", ["640", "640x", "x480", "640*480", "-1x2"])
def test_parse_resolution_rejects(text):
    with pytest.raises(UserError, match="resolution must look like 640x480"):
        parse_resolution(text)


def test_configs_are_frozen_and_defaults_are_valid():
    cfg = RenderConfig(out="ds")
    with pytest.raises(Exception):
        cfg.frames = 5  # type: ignore[misc]
    assert cfg.export == ExportConfig()


def test_too_many_frames_is_one_line_before_blender_starts(tmp_path):
    """--frames 100000000 ran out of memory building the frame list; now the limit is said up front."""
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "blender_coco", "render", "--out", str(tmp_path / "ds"),
                        "--frames", "100000000"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith("blender-coco: error: frames must be at most 1,000,000") and "got 100,000,000" in r.stderr
    assert not (tmp_path / "ds").exists()

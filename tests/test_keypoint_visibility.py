"""keypoint_visibility (bpy-free), table-driven: v = 0 / 1 / 2 from the ID mask and depth pass,
COCO pixel-index coordinates, per-keypoint tolerances; ExportConfig.keypoint_tolerance validation."""

from __future__ import annotations

import numpy as np
import pytest

from blender_coco.config import ExportConfig
from blender_coco.errors import UserError
from blender_coco.coco.keypoints import DEFAULT_TOLERANCE, keypoint_visibility

BG = 1e10  # what Cycles writes in the depth pass where nothing is hit


def scene():
    """8x6 image: label 1 (person, depth 5.0) on columns 0-3, label 2 (box, depth 3.0) on column 4,
    an unmarked surface (id 0, depth 4.0) on column 5, background (id 0, depth 1e10) on 6-7."""
    ids = np.zeros((6, 8), np.uint16)
    depth = np.full((6, 8), BG, np.float32)
    ids[:, 0:4], depth[:, 0:4] = 1, 5.0
    ids[:, 4], depth[:, 4] = 2, 3.0
    depth[:, 5] = 4.0
    return ids, depth


CASES = [
    # (point [x, y, depth], expected (x, y, v)) for label 1, tolerance 0.15
    ([1.5, 2.5, 5.1], (1.0, 2.0, 2)),          # own surface 0.1 in front: inside the tolerance
    ([1.5, 2.5, 5.15], (1.0, 2.0, 2)),         # exactly at the tolerance: not hidden
    ([1.5, 2.5, 5.4], (1.0, 2.0, 1)),          # own surface 0.4 in front: self-occluded
    ([1.5, 2.5, 4.9], (1.0, 2.0, 2)),          # point in front of its own surface
    ([4.2, 0.7, 3.5], (3.7, 0.2, 1)),          # another instance 0.5 in front
    ([4.2, 0.7, 3.05], (3.7, 0.2, 1)),         # another instance only 0.05 in front: still hides
    ([4.2, 0.7, 2.9], (3.7, 0.2, 2)),          # in front of the other instance
    ([5.5, 3.0, 4.5], (5.0, 2.5, 1)),          # unmarked surface 0.5 in front
    ([5.5, 3.0, 4.1], (5.0, 2.5, 2)),          # unmarked surface within the tolerance (clothes, hair)
    ([6.5, 5.99, 50.0], (6.0, 5.49, 2)),       # background: nothing hides it
    ([0.0, 0.0, 5.0], (-0.5, -0.5, 2)),        # top-left corner of the image is pixel (0, 0)
    ([7.999, 5.999, 5.0], (7.5, 5.5, 2)),      # last pixel
    ([8.0, 3.0, 5.0], (0, 0, 0)),              # x == width: outside
    ([3.0, 6.0, 5.0], (0, 0, 0)),              # y == height: outside
    ([-0.01, 3.0, 5.0], (0, 0, 0)),            # left of the image
    ([3.0, 3.0, None], (0, 0, 0)),             # behind the camera
    ([float("nan"), 3.0, 5.0], (0, 0, 0)),     # degenerate projection
    ([1.234, 2.345, 4.0], (0.73, 1.85, 2)),    # rounded to 2 decimals after the -0.5 shift
]


@pytest.mark.parametrize("point, want", CASES, ids=[str(c[0]) for c in CASES])
def test_table(point, want):
    ids, depth = scene()
    flat, n = keypoint_visibility([point], 1, ids, depth, 0.15)
    assert tuple(flat) == pytest.approx(want)
    assert n == (1 if want[2] else 0)


def test_many_points_flat_layout_and_count():
    ids, depth = scene()
    points = [c[0] for c in CASES]
    flat, n = keypoint_visibility(points, 1, ids, depth, 0.15)
    assert len(flat) == 3 * len(CASES)
    assert flat == pytest.approx([v for c in CASES for v in c[1]])
    assert n == sum(1 for c in CASES if c[1][2] > 0)
    assert all(type(v) in (int, float) for v in flat)  # plain JSON numbers


def test_per_keypoint_tolerance():
    ids, depth = scene()
    pts = [[1.5, 2.5, 5.3], [1.5, 2.5, 5.3]]
    flat, n = keypoint_visibility(pts, 1, ids, depth, [0.5, 0.1])
    assert flat[2::3] == [2, 1] and n == 2
    with pytest.raises(ValueError, match="2 keypoints"):
        keypoint_visibility(pts, 1, ids, depth, [0.5])
    with pytest.raises(ValueError, match=">= 0"):
        keypoint_visibility(pts, 1, ids, depth, -1.0)


def test_label_decides_whose_surface_it_is():
    """The same pixels seen from the box's side: the person's surface 2.0 behind is not in front."""
    ids, depth = scene()
    flat, _ = keypoint_visibility([[1.5, 2.5, 5.4]], 2, ids, depth, 0.15)  # person surface 5.0 < 5.4: hidden
    assert flat[2] == 1
    flat, _ = keypoint_visibility([[4.5, 2.5, 3.1]], 2, ids, depth, 0.15)  # own (box) surface 0.1 in front
    assert flat[2] == 2


def test_default_tolerance_is_the_config_default():
    assert ExportConfig().keypoint_tolerance == DEFAULT_TOLERANCE == 0.15
    ids, depth = scene()
    assert keypoint_visibility([[1.5, 2.5, 5.12]], 1, ids, depth)[0][2] == 2
    assert keypoint_visibility([[1.5, 2.5, 5.2]], 1, ids, depth)[0][2] == 1


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), "0.1", True, None])
def test_config_rejects_bad_tolerance(bad):
    with pytest.raises(UserError, match="keypoint_tolerance must be"):
        ExportConfig(keypoint_tolerance=bad)


def test_shape_mismatch_is_an_error():
    ids, depth = scene()
    with pytest.raises(ValueError):
        keypoint_visibility([[1, 1, 1]], 1, ids, depth[:, :4])

"""Scene facts shared by captions and stats: occlusion pairs and border contact, on frames
whose answers are written out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from blender_coco.coco.scene_facts import occlusion_pairs, touches_border
from blender_coco.coco.stats import truncated
from blender_coco.coco.stuff import WORLD_DEPTH

FAR, NEAR = 5.0, 3.0


def two_boxes(gap_depth: float = NEAR) -> tuple[np.ndarray, np.ndarray]:
    """8 x 10 frame: label 1 in columns 1..4, label 2 in columns 5..8 (rows 2..5), the world elsewhere.

    They share a 4-pixel edge; label 2 is at ``gap_depth``, label 1 at FAR.
    """
    mask = np.zeros((8, 10), np.int32)
    depth = np.full((8, 10), 1e10, np.float32)
    mask[2:6, 1:5], depth[2:6, 1:5] = 1, FAR
    mask[2:6, 5:9], depth[2:6, 5:9] = 2, gap_depth
    return mask, depth


def test_the_nearer_neighbour_occludes_the_farther_one_not():
    mask, depth = two_boxes()
    assert depth.max() >= WORLD_DEPTH  # the frame shows the world around the boxes
    assert occlusion_pairs(mask, depth, [1, 2], tolerance=0.15) == {1: {2}, 2: set()}


@pytest.mark.parametrize("gap, expected", [(FAR - 0.1, set()), (FAR - 0.2, {2})])
def test_a_gap_counts_only_beyond_the_tolerance(gap, expected):
    mask, depth = two_boxes(gap)
    assert occlusion_pairs(mask, depth, [1], tolerance=0.15)[1] == expected


def test_unmarked_surfaces_occlude_as_label_zero_and_short_contacts_do_not_count():
    mask, depth = two_boxes()
    mask[mask == 2] = 0  # the nearer box is an unmarked surface: label 0 with a finite depth
    assert occlusion_pairs(mask, depth, [1], tolerance=0.15) == {1: {0}}
    mask, depth = two_boxes()
    mask[2:5, 5:9], depth[2:5, 5:9] = 0, 1e10  # only one pixel edge left between the boxes
    assert occlusion_pairs(mask, depth, [1], tolerance=0.15) == {1: set()}
    assert occlusion_pairs(mask, depth, [1], tolerance=0.15, min_pixels=1) == {1: {2}}


@pytest.mark.parametrize("bbox, touches, within_1px", [
    ([0, 3, 2, 2], True, True), ([3, 0, 2, 2], True, True), ([8, 3, 2, 2], True, True), ([3, 6, 2, 2], True, True),
    ([1, 1, 8, 6], False, True), ([2, 2, 6, 4], False, False),
])
def test_border_contact_is_the_same_fact_for_captions_and_stats(bbox, touches, within_1px):
    assert touches_border(bbox, 10, 8) is touches
    assert truncated(bbox, 10, 8, eps=1e-6) is touches
    assert truncated(bbox, 10, 8) is within_1px  # stats' default: within BORDER_EPS = 1 px
    assert truncated(bbox, None, 8) is None and truncated(bbox[:3], 10, 8) is None

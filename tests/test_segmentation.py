"""Segmentations read back (coco/segmentation.py): decode_mask is pycocotools' annToMask for
every encoding, malformed ones are refused before pycocotools sees them; JSON value tests."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from blender_coco.coco.segmentation import decode_mask, rle_runs, segmentation_areas, segmentation_error
from blender_coco.values import is_int, is_number, short

H, W = 12, 9


def ann_to_mask(seg) -> np.ndarray:
    coco = COCO()
    coco.dataset = {"images": [{"id": 1, "width": W, "height": H}], "categories": [{"id": 1, "name": "x"}],
                    "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": seg, "area": 1,
                                     "bbox": [0, 0, 1, 1], "iscrowd": 0}]}
    coco.createIndex()
    return coco.annToMask(coco.anns[1]).astype(bool)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.booleans(), min_size=H * W, max_size=H * W))
def test_rle_both_encodings_decode_as_pycocotools(bits):
    mask = np.array(bits, bool).reshape(H, W)
    compressed = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    as_string = {"size": [H, W], "counts": compressed["counts"].decode("ascii")}
    runs, err = rle_runs(as_string)
    assert err is None and sum(runs) == H * W
    uncompressed = {"size": [H, W], "counts": runs}
    for seg in (as_string, uncompressed):
        assert np.array_equal(decode_mask(seg, H, W), ann_to_mask(seg))
        assert np.array_equal(decode_mask(seg, H, W), mask)
        assert segmentation_areas(seg, H, W) == [float(mask.sum())]


def test_polygons_decode_as_pycocotools_and_report_both_areas():
    seg = [[1, 1, 7, 1, 7, 9, 1, 9], [2, 10, 5, 10, 5, 11.5]]
    assert np.array_equal(decode_mask(seg, H, W), ann_to_mask(seg))
    pixels, shoelace = segmentation_areas(seg, H, W)
    assert pixels == decode_mask(seg, H, W).sum() and shoelace == 6 * 8 + 0.5 * 3 * 1.5


@pytest.mark.parametrize("seg, error", [
    ({"size": [H, W], "counts": [5, 3]}, f"RLE runs sum to 8, not height*width = {H * W}"),
    ({"size": [H, W], "counts": [H * W + 1, -1]}, "RLE counts has a negative run"),
    ({"size": [H, W], "counts": "0\x7f"}, "RLE counts is not a valid compressed RLE string"),
    ({"size": [W, H], "counts": [H * W]}, f"RLE size [{W}, {H}] does not match the image's [height, width] = [{H}, {W}]"),
    ([[1, 1, 2, 2]], "polygon 0 has 2 points; a polygon needs at least 3"),
    ([[1, 1, 2, 2, float("nan"), 3]], "polygon 0 has a value that is not a finite number"),
    ("RLE", "segmentation must be a list of polygons or an RLE object, got str"),
])
def test_malformed_segmentations_are_named_and_never_decoded(seg, error):
    assert segmentation_error(seg, H, W) == error
    assert decode_mask(seg, H, W) is None  # pycocotools' decoder writes past its buffer on a bad sum


def test_empty_segmentation_decodes_to_nothing():
    assert decode_mask([], H, W) is None and decode_mask(None, H, W) is None and segmentation_error([], H, W) is None


@pytest.mark.parametrize("value, integer, finite, number", [
    (3, True, True, True), (2.5, False, True, True), (True, False, False, False), (None, False, False, False),
    ("1", False, False, False), (math.nan, False, False, True), (math.inf, False, False, True),
])
def test_json_value_tests(value, integer, finite, number):
    assert is_int(value) is integer
    assert is_number(value) is finite
    assert is_number(value, finite=False) is number


def test_short_cuts_long_values_to_one_line_fragment():
    assert short([1, 2]) == "[1, 2]"
    assert short(list(range(100))) == repr(list(range(100)))[:57] + "..." and len(short(list(range(100)))) == 60

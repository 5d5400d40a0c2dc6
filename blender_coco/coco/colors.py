"""Display colours: one look for a category in previews, the gallery and panoptic output.

* :func:`category_color` -- a saturated RGB colour, a fixed function of the category
  id (golden-ratio hue steps: neighbouring ids get distant hues), so the same
  category looks the same in every image and every run. Panoptic ``categories``
  carry it as their ``color``; panoptic segment ids derive from it.
* :data:`MASK_ALPHA` -- opacity of a mask drawn over its image.
* :data:`VISIBLE_KEYPOINT` (v = 2, a filled disc with a :data:`KEYPOINT_RIM`) and
  :data:`OCCLUDED_KEYPOINT` (v = 1, a hollow ring); v = 0 is not drawn.
"""

from __future__ import annotations

import colorsys
from typing import Any

from blender_coco.values import is_int

MASK_ALPHA = 0.45
VISIBLE_KEYPOINT = (40, 255, 40)
OCCLUDED_KEYPOINT = (255, 210, 0)
KEYPOINT_RIM = (0, 0, 0)
_GOLDEN = 0.6180339887498949


def category_color(category_id: Any) -> tuple[int, int, int]:
    """A saturated colour, a fixed function of the id; neighbouring ids get distant hues."""
    n = category_id if is_int(category_id) else 0
    hue = (0.05 + n * _GOLDEN) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.8, 1.0 if n % 2 else 0.85)
    return round(r * 255), round(g * 255), round(b * 255)

"""Basic colour words for sRGB colours, as captions name an object's material colour.

:func:`color_name` maps an sRGB colour (components 0..1) to one of
:data:`COLOR_WORDS` by hue, saturation and value: dark is ``black``, unsaturated
``white`` or ``gray``, dark reds and oranges ``brown``; None when no colour is given.
"""

from __future__ import annotations

import colorsys
from typing import Sequence

COLOR_WORDS = ("black", "white", "gray", "red", "brown", "orange", "yellow", "green", "blue", "purple", "pink")


def color_name(rgb: Sequence[float] | None) -> str | None:
    """A basic colour word for an sRGB colour (components 0..1), or None if not given."""
    if rgb is None or len(rgb) < 3:
        return None
    try:
        r, g, b = (min(1.0, max(0.0, float(c))) for c in rgb[:3])
    except (TypeError, ValueError):
        return None
    h, s, v = colorsys.rgb_to_hsv(r, g, b)
    if v < 0.18:
        return "black"
    if s < 0.18:
        return "white" if v > 0.85 else "gray"
    hue = h * 360
    if hue < 15 or hue >= 345:
        return "red" if v > 0.45 or s < 0.5 else "brown"
    if hue < 45:
        return "orange" if v > 0.65 else "brown"
    if hue < 70:
        return "yellow"
    if hue < 165:
        return "green"
    if hue < 255:
        return "blue"
    if hue < 290:
        return "purple"
    return "pink"

"""Colour maths of the randomizers: HSV (of the sRGB colour) and black-body temperature.

Blender stores colours scene-linear; the config's hue/saturation/value are of the
sRGB colour people see (:mod:`blender_coco.srgb` converts).

- :func:`hsv_to_linear`, :func:`linear_to_hsv`: sRGB HSV <-> scene-linear RGB.
- :func:`jitter_color`: shift a colour's hue, scale its saturation and value.
- :func:`temperature_rgb`: the scene-linear colour of a black body at a temperature.
"""

from __future__ import annotations

import colorsys
import math

from blender_coco import srgb


def hsv_to_linear(h: float, s: float, v: float) -> tuple[float, float, float]:
    """HSV of the sRGB colour (value may exceed 1 for bright backgrounds) -> scene-linear RGB."""
    scale = max(v, 1.0)
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(v, 1.0))
    return tuple(srgb.to_linear(c) * scale for c in (r, g, b))


def linear_to_hsv(rgb) -> tuple[float, float, float]:
    """Scene-linear RGB -> HSV of the sRGB colour."""
    return colorsys.rgb_to_hsv(*(srgb.from_linear(float(c)) for c in tuple(rgb)[:3]))


def jitter_color(rgb, hue: float, sat: float, val: float) -> tuple[float, float, float]:
    """Shift the hue by ``hue`` turns and scale saturation and value (in sRGB HSV)."""
    h, s, v = linear_to_hsv(rgb)
    r, g, b = colorsys.hsv_to_rgb((h + hue) % 1.0, min(max(s * sat, 0.0), 1.0), min(max(v * val, 0.0), 1.0))
    return (srgb.to_linear(r), srgb.to_linear(g), srgb.to_linear(b))


def temperature_rgb(kelvin: float) -> tuple[float, float, float]:
    """Scene-linear RGB of a black body at ``kelvin`` (Tanner Helland's fit, normalised)."""
    t = kelvin / 100.0
    if t <= 66:
        r = 255.0
        g = 99.4708025861 * math.log(t) - 161.1195681661
        b = 0.0 if t <= 19 else 138.5177312231 * math.log(t - 10) - 305.0447927307
    else:
        r = 329.698727446 * (t - 60) ** -0.1332047592
        g = 288.1221695283 * (t - 60) ** -0.0755148492
        b = 255.0
    rgb = [min(max(c, 0.0), 255.0) / 255.0 for c in (r, g, b)]
    return tuple(srgb.to_linear(c) for c in rgb)

"""The sRGB transfer function, both ways (IEC 61966-2-1), on single channel values in 0..1.

Blender stores colours scene-linear; people (and caption colour names) think in sRGB.
"""

from __future__ import annotations


def to_linear(c: float) -> float:
    """sRGB-encoded channel value -> linear."""
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def from_linear(c: float) -> float:
    """Linear channel value (clamped to 0..1) -> sRGB-encoded."""
    c = min(max(float(c), 0.0), 1.0)
    return 12.92 * c if c <= 0.0031308 else 1.055 * c ** (1 / 2.4) - 0.055

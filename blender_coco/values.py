"""Tests of loaded JSON and TOML values, shared by the modules that read COCO files and configs.

* :func:`is_int` -- an ``int`` that is not a ``bool`` (JSON ``true`` loads as ``True``,
  which Python counts as 1).
* :func:`is_number` -- an ``int`` or ``float``, not a ``bool``; finite unless
  ``finite=False`` (Python's ``json`` loads ``NaN`` and ``Infinity``; an ``int``
  past the float range counts as not finite).
* :func:`all_finite` -- :func:`is_number` of every value of a list, fast.
* :func:`short` -- ``repr`` cut to a length fit for a one-line message.
"""

from __future__ import annotations

import math
from typing import Any


def is_int(v: Any) -> bool:
    """True for an ``int`` that is not a ``bool``."""
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v: Any, *, finite: bool = True) -> bool:
    """True for an ``int`` or ``float`` that is not a ``bool`` (and, by default, is finite).

    An ``int`` too large for a float (JSON allows 10**400) is not finite.
    """
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return False
    if not finite:
        return True
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


def all_finite(values: list) -> bool:
    """Every value a finite number (:func:`is_number`). C speed for the common case: ``sum``
    raises for a string, null, list or object, and a finite sum of a list holding no value
    equal to True or False (which a bool would be) needs no further look; anything else
    (a 0 or 1, an overflowing sum) gets the exact test."""
    try:
        if math.isfinite(sum(values)) and True not in values and False not in values:
            return True
    except (TypeError, OverflowError):
        pass
    return all(is_number(v) for v in values)


def short(v: Any, limit: int = 60) -> str:
    """``repr(v)``, cut to ``limit`` characters with ``...``."""
    text = repr(v)
    return text if len(text) <= limit else text[: limit - 3] + "..."

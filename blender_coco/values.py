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


_NUMBER_TYPES = {float, int}


def all_finite(values: list) -> bool:
    """Every value a finite number (:func:`is_number`): C speed for the common case, a float
    list that sums to a finite number; a bool, a non-number or an overflowing sum falls
    through to the exact test."""
    if set(map(type, values)) <= _NUMBER_TYPES:
        try:
            if math.isfinite(sum(values)):
                return True
        except OverflowError:
            pass
    return all(is_number(v) for v in values)


def short(v: Any, limit: int = 60) -> str:
    """``repr(v)``, cut to ``limit`` characters with ``...``."""
    text = repr(v)
    return text if len(text) <= limit else text[: limit - 3] + "..."

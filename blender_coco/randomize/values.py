"""Values of a randomization config: ranges drawn per frame and the small field validators.

- :class:`Range` / :func:`parse_range`: a number (constant), ``[min, max]`` (uniform) or
  a table ``{min, max, distribution}`` with ``distribution`` one of ``uniform``,
  ``loguniform`` or ``normal`` (``mean``, ``std``, clamped to ``min``/``max`` when
  given), or ``{values = [...]}`` (one of the values); ``Range.sample(rng)`` draws one.
- :class:`Rotation` (degree ranges per axis) and :class:`Region` (a world-space box).
- :func:`image_files`: the image files of a folder, in the order frames draw from.
- Validators that :mod:`.sections` builds its fields with, each raising a one-line
  :class:`~blender_coco.errors.UserError` that names the field (``_table``, ``_bool``,
  ``_name``, ``_names``, ``_probability``, ``_vec3``, ``_folder``, ``_opt_range``,
  ``_rotation``, ``_region``, ``_no_unknown``).

No bpy, no numpy, Python 3.10 compatible.
"""

from __future__ import annotations

import json
import math
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from blender_coco.errors import UserError
from blender_coco.values import is_number

DISTRIBUTIONS = ("uniform", "loguniform", "normal")
IMAGE_EXTENSIONS = (".hdr", ".exr", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def _fail(where: str, message: str) -> None:
    raise UserError(f"{where} {message}")


def _show(v: Any) -> str:
    return json.dumps(v) if isinstance(v, (list, dict, str, bool, type(None))) else repr(v)


# -- ranges --------------------------------------------------------------------


@dataclass(frozen=True)
class Range:
    """A value drawn per frame: constant, uniform, loguniform, normal or one of ``values``.

    ``lo``/``hi`` bound what the field accepts (e.g. 0..1 for a probability);
    ``integer`` fields draw integers. ``name`` is the dotted field name, for messages.
    """

    min: float | None
    max: float | None
    distribution: str = "uniform"
    mean: float | None = None
    std: float | None = None
    values: tuple[float, ...] = ()
    name: str = field(default="value", compare=False)
    lo: float | None = field(default=None, compare=False, repr=False)
    hi: float | None = field(default=None, compare=False, repr=False)
    integer: bool = field(default=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        where = self.name
        if self.values:
            for v in self.values:
                self._check_value(v, self.values)
            return
        if self.distribution not in DISTRIBUTIONS:
            _fail(where, f"distribution must be one of {', '.join(DISTRIBUTIONS)}, got {_show(self.distribution)}")
        shown = self.min if self.min == self.max else [self.min, self.max]
        for v in (self.min, self.max):
            if v is not None:
                self._check_value(v, shown)
        if self.distribution == "normal":
            if not is_number(self.mean) or not is_number(self.std) or self.std < 0:
                _fail(where, f"with distribution 'normal' needs a number mean and a std >= 0, got mean "
                             f"{_show(self.mean)}, std {_show(self.std)}")
        elif self.min is None or self.max is None:
            _fail(where, f"with distribution {self.distribution!r} needs min and max, got min {_show(self.min)}, "
                         f"max {_show(self.max)}")
        if self.min is not None and self.max is not None and self.min > self.max:
            _fail(where, f"must have min <= max, got [{self.min}, {self.max}]")
        if self.distribution == "loguniform" and (self.min is None or self.min <= 0):
            _fail(where, f"with distribution 'loguniform' needs min > 0, got {_show(self.min)}")

    def _check_value(self, v: Any, shown: Any) -> None:
        where = self.name
        if not is_number(v):
            _fail(where, f"must hold numbers, got {_show(list(shown) if isinstance(shown, tuple) else shown)}")
        if self.integer and v != int(v):
            _fail(where, f"must hold whole numbers, got {_show(list(shown) if isinstance(shown, tuple) else shown)}")
        if (self.lo is not None and v < self.lo) or (self.hi is not None and v > self.hi):
            allowed = (f"between {self.lo:g} and {self.hi:g}" if self.lo is not None and self.hi is not None
                       else f">= {self.lo:g}" if self.lo is not None else f"<= {self.hi:g}")
            _fail(where, f"must be {allowed}, got {_show(list(shown) if isinstance(shown, tuple) else shown)}")

    @property
    def upper(self) -> float:
        """The largest value a draw can return (``max``, the largest of ``values``, else ``mean``)."""
        if self.values:
            return max(self.values)
        return self.max if self.max is not None else float(self.mean) + 6 * float(self.std)

    def sample(self, rng: random.Random) -> float:
        """One draw (an int for integer fields)."""
        if self.values:
            v = rng.choice(self.values)
        elif self.distribution == "normal":
            v = rng.normalvariate(float(self.mean), float(self.std))
            if self.min is not None:
                v = max(v, self.min)
            if self.max is not None:
                v = min(v, self.max)
        elif self.min == self.max:
            v = self.min
        elif self.distribution == "loguniform":
            v = math.exp(rng.uniform(math.log(self.min), math.log(self.max)))
        elif self.integer:
            v = rng.randint(int(self.min), int(self.max))
        else:
            v = rng.uniform(self.min, self.max)
        if self.integer:
            return int(round(v))
        return float(v)

    def to_json(self) -> Any:
        if self.values:
            return {"values": list(self.values)}
        if self.distribution == "uniform":
            return self.min if self.min == self.max else [self.min, self.max]
        out: dict[str, Any] = {"distribution": self.distribution}
        for key in ("min", "max", "mean", "std"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


RANGE_KEYS = ("min", "max", "distribution", "mean", "std", "values")


def parse_range(value: Any, name: str, *, lo: float | None = None, hi: float | None = None,
                integer: bool = False) -> Range:
    """A :class:`Range` from a number, ``[min, max]`` or a table (see module docstring)."""
    common = dict(name=name, lo=lo, hi=hi, integer=integer)
    what = ("a number, [min, max] or a table {min, max, distribution} (or {values = [...]})")
    if is_number(value):
        return Range(value, value, **common)
    if isinstance(value, (list, tuple)):
        if len(value) != 2 or not all(is_number(v) for v in value):
            _fail(name, f"must be {what}, got {_show(list(value))}")
        return Range(value[0], value[1], **common)
    if isinstance(value, dict):
        _no_unknown(value, RANGE_KEYS, name)
        if "values" in value:
            vals = value["values"]
            if not isinstance(vals, (list, tuple)) or not vals or set(value) != {"values"}:
                _fail(name, f"values must be a non-empty list of numbers on its own, got {_show(value)}")
            return Range(None, None, "uniform", values=tuple(vals), **common)
        dist = value.get("distribution", "uniform")
        if not isinstance(dist, str):
            _fail(f"{name}.distribution", f"must be one of {', '.join(DISTRIBUTIONS)}, got {_show(dist)}")
        for key in ("min", "max", "mean", "std"):
            if key in value and not is_number(value[key]):
                _fail(f"{name}.{key}", f"must be a number, got {_show(value[key])}")
        return Range(value.get("min"), value.get("max"), dist, value.get("mean"), value.get("std"), **common)
    _fail(name, f"must be {what}, got {_show(value)}")
    raise AssertionError  # unreachable


# -- fields --------------------------------------------------------------------


def _no_unknown(table: dict, allowed: tuple[str, ...], name: str) -> None:
    for key in table:
        if key not in allowed:
            _fail(f"{name}.{key}" if name else str(key),
                  f"is not a known field (allowed in {name or 'the config'}: {', '.join(allowed)})")


def _table(value: Any, name: str) -> dict:
    if not isinstance(value, dict):
        _fail(name, f"must be a table ([{name}] in TOML), got {_show(value)}")
    return value


def _opt_range(t: dict, key: str, name: str, **kw) -> Range | None:
    return parse_range(t[key], f"{name}.{key}", **kw) if key in t else None


def _vec3(value: Any, name: str) -> tuple[float, float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 3 or not all(is_number(v) for v in value):
        _fail(name, f"must be a point [x, y, z] of numbers, got {_show(value)}")
    return (float(value[0]), float(value[1]), float(value[2]))


def _probability(t: dict, key: str, name: str, default: float) -> float:
    v = t.get(key, default)
    if not is_number(v) or not 0 <= v <= 1:
        _fail(f"{name}.{key}", f"must be a probability between 0 and 1, got {_show(v)}")
    return float(v)


def _bool(t: dict, key: str, name: str, default: bool) -> bool:
    v = t.get(key, default)
    if not isinstance(v, bool):
        _fail(f"{name}.{key}", f"must be true or false, got {_show(v)}")
    return v


def _name(t: dict, key: str, name: str) -> str | None:
    v = t.get(key)
    if v is not None and (not isinstance(v, str) or not v.strip()):
        _fail(f"{name}.{key}", f"must be a name (text), got {_show(v)}")
    return v


def _names(t: dict, key: str, name: str) -> tuple[str, ...]:
    v = t.get(key, [])
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, (list, tuple)) or not all(isinstance(s, str) and s.strip() for s in v):
        _fail(f"{name}.{key}", f"must be a list of names, got {_show(v)}")
    return tuple(v)


def _folder(t: dict, key: str, name: str, base_dir: Path | None, *, listing=None, what: str = "image file",
            extensions: tuple[str, ...] | None = None) -> str | None:
    """The folder path ``t[key]`` (relative to ``base_dir``), which must hold a file ``listing`` finds
    (default: images)."""
    v = t.get(key)
    if v is None:
        return None
    if not isinstance(v, str) or not v.strip():
        _fail(f"{name}.{key}", f"must be a folder path, got {_show(v)}")
    p = Path(os.path.expanduser(v))
    if not p.is_absolute() and base_dir is not None:
        p = base_dir / p
    p = Path(os.path.abspath(p))
    if not p.is_dir():
        _fail(f"{name}.{key}", f"folder {_show(v)} does not exist ({p}); create it or fix the path "
                               f"(relative paths start at the config file's folder)")
    if not (listing or image_files)(str(p)):
        _fail(f"{name}.{key}", f"folder {_show(v)} ({p}) holds no {what} ({', '.join(extensions or IMAGE_EXTENSIONS)})")
    return str(p)


def image_files(folder: str) -> list[str]:
    """The image files directly in ``folder``, sorted by name (the order frames draw from)."""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    return [os.path.join(folder, n) for n in names
            if n.lower().endswith(IMAGE_EXTENSIONS) and not n.startswith(".") and os.path.isfile(os.path.join(folder, n))]


# -- rotations and regions ---------------------------------------------------


@dataclass(frozen=True)
class Rotation:
    """Euler angles in degrees per axis; an axis left out keeps the object's own angle."""

    x: Range | None = None
    y: Range | None = None
    z: Range | None = None

    def to_json(self) -> dict:
        return {k: getattr(self, k).to_json() for k in ("x", "y", "z") if getattr(self, k) is not None}


def _rotation(t: dict, key: str, name: str) -> Rotation | None:
    if key not in t:
        return None
    v = t[key]
    where = f"{name}.{key}"
    if not isinstance(v, dict):
        _fail(where, f"must be a table of degree ranges per axis, e.g. {{z = [0, 360]}}, got {_show(v)}")
    _no_unknown(v, ("x", "y", "z"), where)
    return Rotation(**{k: parse_range(v[k], f"{where}.{k}") for k in ("x", "y", "z") if k in v})


@dataclass(frozen=True)
class Region:
    """An axis-aligned box in world coordinates."""

    min: tuple[float, float, float]
    max: tuple[float, float, float]
    name: str = field(default="region", compare=False)

    def __post_init__(self) -> None:
        if any(a > b for a, b in zip(self.min, self.max)):
            _fail(self.name, f"must have min <= max on every axis, got min {list(self.min)}, max {list(self.max)}")

    def to_json(self) -> dict:
        return {"min": list(self.min), "max": list(self.max)}


def _region(t: dict, key: str, name: str) -> Region | None:
    if key not in t:
        return None
    where = f"{name}.{key}"
    v = t[key]
    if not isinstance(v, dict) or set(v) != {"min", "max"}:
        _fail(where, f"must be a table {{min = [x, y, z], max = [x, y, z]}}, got {_show(v)}")
    return Region(_vec3(v["min"], f"{where}.min"), _vec3(v["max"], f"{where}.max"), name=where)

"""Randomization config: parse and validate ``randomize.toml`` into frozen dataclasses.

No bpy, no numpy, Python 3.10 compatible: the same code validates the config in the
command line (Python 3.11, ``tomllib``) and rebuilds it inside a stock Blender from
the JSON-able dict :meth:`RandomizeConfig.to_json` returns. Stock Blender 3.4 runs
Python 3.10, which has no ``tomllib``: :func:`load` then asks the export Python
(``python -m blender_coco.randomize_config FILE``, the Python that already runs the
export stage) to turn the TOML into validated JSON. ``.json`` configs load anywhere.

Every field is optional; docs/randomize.md documents them all. A *range* is a number
(constant), ``[min, max]`` (uniform) or a table ``{min, max, distribution}`` with
``distribution`` one of ``uniform``, ``loguniform`` or ``normal`` (``mean``, ``std``,
clamped to ``min``/``max`` when given), or ``{values = [...]}`` (one of the values).
Angles are in degrees, distances in scene units, colours in HSV 0..1.

Frame ``i`` draws every value from :func:`frame_rng` ``(seed, i, name)``: one
``random.Random`` per randomizer, seeded from a hash of the three, so any frame can
be rendered alone and sharding never changes a frame.

Errors are one line naming the field, the value and what is allowed::

    randomize.toml: camera.distance must have min <= max, got [12.0, 8.0]
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from blender_coco.child_python import child_env
from blender_coco.errors import UserError

#: Scene custom property holding a scene's own randomization (JSON text of a config).
SCENE_PROP = "coco_randomize"
#: ``RenderConfig.randomize`` value that turns randomization off (even a scene's own).
OFF = "off"

DISTRIBUTIONS = ("uniform", "loguniform", "normal")
LIGHT_TYPES = ("POINT", "SUN", "SPOT", "AREA")
IMAGE_EXTENSIONS = (".hdr", ".exr", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
SECTIONS = ("camera", "lights", "world", "objects", "materials", "armatures")


def frame_rng(seed: int, index: int, name: str) -> random.Random:
    """The random generator of randomizer ``name`` for frame ``index`` of a run with ``seed``."""
    digest = hashlib.sha256(f"blender-coco/{int(seed)}/{int(index)}/{name}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _fail(where: str, message: str) -> None:
    raise UserError(f"{where} {message}")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


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
            if not _is_number(self.mean) or not _is_number(self.std) or self.std < 0:
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
        if not _is_number(v):
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
    if _is_number(value):
        return Range(value, value, **common)
    if isinstance(value, (list, tuple)):
        if len(value) != 2 or not all(_is_number(v) for v in value):
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
            if key in value and not _is_number(value[key]):
                _fail(f"{name}.{key}", f"must be a number, got {_show(value[key])}")
        return Range(value.get("min"), value.get("max"), dist, value.get("mean"), value.get("std"), **common)
    _fail(name, f"must be {what}, got {_show(value)}")
    raise AssertionError  # unreachable


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
    if not isinstance(value, (list, tuple)) or len(value) != 3 or not all(_is_number(v) for v in value):
        _fail(name, f"must be a point [x, y, z] of numbers, got {_show(value)}")
    return (float(value[0]), float(value[1]), float(value[2]))


def _probability(t: dict, key: str, name: str, default: float) -> float:
    v = t.get(key, default)
    if not _is_number(v) or not 0 <= v <= 1:
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


def _folder(t: dict, key: str, name: str, base_dir: Path | None) -> str | None:
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
    if not image_files(str(p)):
        _fail(f"{name}.{key}", f"folder {_show(v)} ({p}) holds no image file ({', '.join(IMAGE_EXTENSIONS)})")
    return str(p)


def image_files(folder: str) -> list[str]:
    """The image files directly in ``folder``, sorted by name (the order frames draw from)."""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    return [os.path.join(folder, n) for n in names
            if n.lower().endswith(IMAGE_EXTENSIONS) and not n.startswith(".") and os.path.isfile(os.path.join(folder, n))]


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


def _json_fields(obj: Any, names: tuple[str, ...]) -> dict:
    out: dict[str, Any] = {}
    for key in names:
        v = getattr(obj, key)
        if v is None or v == ():
            continue
        out[key] = v.to_json() if hasattr(v, "to_json") else list(v) if isinstance(v, tuple) else v
    return out


# -- sections ------------------------------------------------------------------


@dataclass(frozen=True)
class CameraConfig:
    """Orbit the scene camera around ``target`` (or ``target_object``) and aim it there.

    ``distance``/``azimuth``/``elevation`` left out keep the camera's own value
    (measured from the target when the run starts). Azimuth 0 puts the camera on the
    target's -Y side (Blender's front view), 90 on its +X side; elevation is above the
    target's horizontal plane. ``look_at_jitter`` moves the aim point up to that far
    along each axis; ``roll`` turns the camera about its view axis; ``focal_length`` in mm.
    """

    target: tuple[float, float, float] | None = None
    target_object: str | None = None
    distance: Range | None = None
    azimuth: Range | None = None
    elevation: Range | None = None
    roll: Range | None = None
    look_at_jitter: float = 0.0
    focal_length: Range | None = None

    FIELDS = ("target", "target_object", "distance", "azimuth", "elevation", "roll", "look_at_jitter", "focal_length")

    def __post_init__(self) -> None:
        if self.target is not None and self.target_object is not None:
            _fail("camera.target", "and camera.target_object cannot both be set; keep one")
        if self.aims and self.target is None and self.target_object is None:
            _fail("camera.target", "is needed to orbit or aim the camera (distance, azimuth, elevation, roll, "
                                   "look_at_jitter); give a point [x, y, z] or target_object = \"Name\"")
        if not _is_number(self.look_at_jitter) or self.look_at_jitter < 0:
            _fail("camera.look_at_jitter", f"must be a distance >= 0, got {_show(self.look_at_jitter)}")

    @property
    def orbits(self) -> bool:
        return any(v is not None for v in (self.distance, self.azimuth, self.elevation))

    @property
    def aims(self) -> bool:
        return self.orbits or self.roll is not None or self.look_at_jitter > 0

    def to_json(self) -> dict:
        out = _json_fields(self, self.FIELDS)
        if not self.look_at_jitter:
            out.pop("look_at_jitter", None)
        return out

    @classmethod
    def parse(cls, t: Any, name: str = "camera") -> CameraConfig:
        t = _table(t, name)
        _no_unknown(t, cls.FIELDS, name)
        jitter = t.get("look_at_jitter", 0.0)
        if not _is_number(jitter) or jitter < 0:
            _fail(f"{name}.look_at_jitter", f"must be a distance >= 0 (scene units), got {_show(jitter)}")
        return cls(
            target=_vec3(t["target"], f"{name}.target") if "target" in t else None,
            target_object=_name(t, "target_object", name),
            distance=_opt_range(t, "distance", name, lo=1e-6),
            azimuth=_opt_range(t, "azimuth", name),
            elevation=_opt_range(t, "elevation", name, lo=-90, hi=90),
            roll=_opt_range(t, "roll", name),
            look_at_jitter=float(jitter),
            focal_length=_opt_range(t, "focal_length", name, lo=1, hi=5000),
        )


@dataclass(frozen=True)
class LightsConfig:
    """Add ``count`` lights per frame (a pool of the largest count is created once).

    Each light gets a type from ``types``, an energy (W; ``sun_strength`` for suns),
    a colour from ``temperature`` (kelvin; white when left out), a place on a sphere
    around ``target`` (``distance``/``azimuth``/``elevation``) aimed at it, and a
    ``size`` (point/spot radius, area edge). ``replace`` hides the scene's own lights.
    """

    count: Range = Range(1, 1, name="lights.count", integer=True)
    types: tuple[str, ...] = ("POINT",)
    energy: Range = Range(300.0, 1500.0, name="lights.energy")
    sun_strength: Range = Range(1.0, 5.0, name="lights.sun_strength")
    temperature: Range | None = None
    target: tuple[float, float, float] = (0.0, 0.0, 0.0)
    distance: Range = Range(4.0, 10.0, name="lights.distance")
    azimuth: Range = Range(0.0, 360.0, name="lights.azimuth")
    elevation: Range = Range(20.0, 80.0, name="lights.elevation")
    size: Range = Range(0.1, 1.0, name="lights.size")
    replace: bool = True

    FIELDS = ("count", "types", "energy", "sun_strength", "temperature", "target", "distance", "azimuth",
              "elevation", "size", "replace")

    def __post_init__(self) -> None:
        if not self.types or any(t not in LIGHT_TYPES for t in self.types):
            _fail("lights.types", f"must be a non-empty list of {', '.join(LIGHT_TYPES)}, got {_show(list(self.types))}")
        if self.count.upper > 64:
            _fail("lights.count", f"must be at most 64 lights, got {_show(self.count.to_json())}")

    def to_json(self) -> dict:
        return _json_fields(self, self.FIELDS)

    @classmethod
    def parse(cls, t: Any, name: str = "lights") -> LightsConfig:
        t = _table(t, name)
        _no_unknown(t, cls.FIELDS, name)
        d = cls()
        types = t.get("types", list(d.types))
        if isinstance(types, str):
            types = [types]
        if not isinstance(types, (list, tuple)) or not types or any(
                not isinstance(x, str) or x.upper() not in LIGHT_TYPES for x in types):
            _fail(f"{name}.types", f"must be a non-empty list of {', '.join(LIGHT_TYPES)}, got {_show(types)}")
        return cls(
            count=parse_range(t["count"], f"{name}.count", lo=0, hi=64, integer=True) if "count" in t else d.count,
            types=tuple(x.upper() for x in types),
            energy=_opt_range(t, "energy", name, lo=0) or d.energy,
            sun_strength=_opt_range(t, "sun_strength", name, lo=0) or d.sun_strength,
            temperature=_opt_range(t, "temperature", name, lo=1000, hi=40000),
            target=_vec3(t["target"], f"{name}.target") if "target" in t else d.target,
            distance=_opt_range(t, "distance", name, lo=0) or d.distance,
            azimuth=_opt_range(t, "azimuth", name) or d.azimuth,
            elevation=_opt_range(t, "elevation", name, lo=-90, hi=90) or d.elevation,
            size=_opt_range(t, "size", name, lo=0) or d.size,
            replace=_bool(t, "replace", name, d.replace),
        )


@dataclass(frozen=True)
class WorldConfig:
    """The world background: a colour (HSV; a component left out keeps the world's
    own), a ``strength``, or an image (HDRI or photo, equirectangular) from the
    ``images`` folder with probability ``image_probability``, turned by ``rotation``
    degrees about Z."""

    hue: Range | None = None
    saturation: Range | None = None
    value: Range | None = None
    strength: Range | None = None
    images: str | None = None
    image_probability: float = 1.0
    rotation: Range | None = None

    FIELDS = ("hue", "saturation", "value", "strength", "images", "image_probability", "rotation")

    @property
    def colors(self) -> bool:
        return any(v is not None for v in (self.hue, self.saturation, self.value))

    def to_json(self) -> dict:
        out = _json_fields(self, self.FIELDS)
        if self.images is None:
            out.pop("image_probability", None)
        return out

    @classmethod
    def parse(cls, t: Any, name: str = "world", base_dir: Path | None = None) -> WorldConfig:
        t = _table(t, name)
        _no_unknown(t, cls.FIELDS, name)
        return cls(
            hue=_opt_range(t, "hue", name, lo=0, hi=1),
            saturation=_opt_range(t, "saturation", name, lo=0, hi=1),
            value=_opt_range(t, "value", name, lo=0),
            strength=_opt_range(t, "strength", name, lo=0),
            images=_folder(t, "images", name, base_dir),
            image_probability=_probability(t, "image_probability", name, 1.0),
            rotation=_opt_range(t, "rotation", name),
        )


def _targets(t: dict, name: str) -> dict:
    return {"collection": _name(t, "collection", name), "objects": _names(t, "objects", name)}


@dataclass(frozen=True)
class ObjectsConfig:
    """One group of objects: the top-level objects of ``collection`` and/or ``objects``.

    Per frame ``count`` of them are picked (all when left out), each picked one is
    shown with probability ``visibility`` (the rest are hidden from render), then
    turned (``rotation``, absolute degrees), scaled (``scale``, a factor on its own
    scale) and placed: its origin uniformly in ``region``, or standing on
    ``surface`` (an object's upward faces, found by ray casting; with ``region`` too,
    only where the region's x/y range lies over the surface). Placed objects keep
    their bounding spheres ``spacing`` apart from every object placed before them in
    the frame (rejection sampling, ``max_tries`` draws, else the object is hidden).
    ``distractor`` objects are never annotated (their ``coco_category`` is lifted
    for the run).
    """

    name: str
    collection: str | None = None
    objects: tuple[str, ...] = ()
    count: Range | None = None
    visibility: float = 1.0
    region: Region | None = None
    surface: str | None = None
    rotation: Rotation | None = None
    scale: Range | None = None
    spacing: float = 0.0
    max_tries: int = 100
    distractor: bool = False

    FIELDS = ("collection", "objects", "count", "visibility", "region", "surface", "rotation", "scale", "spacing",
              "max_tries", "distractor")

    def __post_init__(self) -> None:
        if self.collection is None and not self.objects:
            _fail(f"{self.name}", "needs collection = \"Name\" or objects = [\"Name\", ...] (which objects to randomize)")
        if not _is_number(self.spacing) or self.spacing < 0:
            _fail(f"{self.name}.spacing", f"must be a distance >= 0, got {_show(self.spacing)}")
        if not isinstance(self.max_tries, int) or isinstance(self.max_tries, bool) or not 1 <= self.max_tries <= 100000:
            _fail(f"{self.name}.max_tries", f"must be a whole number in 1..100000, got {_show(self.max_tries)}")

    @property
    def places(self) -> bool:
        return self.region is not None or self.surface is not None

    def to_json(self) -> dict:
        out = _json_fields(self, self.FIELDS)
        for key, default in (("visibility", 1.0), ("spacing", 0.0), ("max_tries", 100), ("distractor", False)):
            if out.get(key) == default:
                out.pop(key)
        return out

    @classmethod
    def parse(cls, t: Any, name: str) -> ObjectsConfig:
        t = _table(t, name)
        _no_unknown(t, cls.FIELDS, name)
        spacing = t.get("spacing", 0.0)
        if not _is_number(spacing) or spacing < 0:
            _fail(f"{name}.spacing", f"must be a distance >= 0 (scene units), got {_show(spacing)}")
        return cls(
            name=name, **_targets(t, name),
            count=_opt_range(t, "count", name, lo=0, integer=True),
            visibility=_probability(t, "visibility", name, 1.0),
            region=_region(t, "region", name),
            surface=_name(t, "surface", name),
            rotation=_rotation(t, "rotation", name),
            scale=_opt_range(t, "scale", name, lo=1e-6),
            spacing=float(spacing),
            max_tries=t.get("max_tries", 100),
            distractor=_bool(t, "distractor", name, False),
        )


@dataclass(frozen=True)
class MaterialsConfig:
    """Jitter materials: those named in ``materials``, those on ``objects`` / in
    ``collection`` (children included), or, with none of the three, every material
    of the scene's objects. On each Principled BSDF: base colour ``hue`` shift
    (turns, wraps), ``saturation`` and ``value`` factors (of the colour's own),
    ``roughness`` and ``metallic`` (absolute, 0..1); with ``textures``, an image from
    that folder becomes the base colour (box-projected) with probability
    ``texture_probability``. A base colour the scene already links (a texture) keeps
    its link unless a texture is drawn."""

    name: str
    collection: str | None = None
    objects: tuple[str, ...] = ()
    materials: tuple[str, ...] = ()
    hue: Range | None = None
    saturation: Range | None = None
    value: Range | None = None
    roughness: Range | None = None
    metallic: Range | None = None
    textures: str | None = None
    texture_probability: float = 1.0

    FIELDS = ("collection", "objects", "materials", "hue", "saturation", "value", "roughness", "metallic",
              "textures", "texture_probability")

    def to_json(self) -> dict:
        out = _json_fields(self, self.FIELDS)
        if self.textures is None:
            out.pop("texture_probability", None)
        return out

    @classmethod
    def parse(cls, t: Any, name: str, base_dir: Path | None = None) -> MaterialsConfig:
        t = _table(t, name)
        _no_unknown(t, cls.FIELDS, name)
        return cls(
            name=name, **_targets(t, name), materials=_names(t, "materials", name),
            hue=_opt_range(t, "hue", name, lo=-1, hi=1),
            saturation=_opt_range(t, "saturation", name, lo=0),
            value=_opt_range(t, "value", name, lo=0),
            roughness=_opt_range(t, "roughness", name, lo=0, hi=1),
            metallic=_opt_range(t, "metallic", name, lo=0, hi=1),
            textures=_folder(t, "textures", name, base_dir),
            texture_probability=_probability(t, "texture_probability", name, 1.0),
        )


@dataclass(frozen=True)
class ArmaturesConfig:
    """Pose armatures (``objects`` / those in ``collection``): a random frame
    (``action_frame``, default the action's range) of one of ``actions``, then
    ``rotation`` (degrees per axis, added to each bone in ``bones``, all bones when
    left out) clamped to the bone's IK limits where it has them. A property the
    armature's own animation drives is set by that animation at render time: assign
    ``actions`` here (the armature's own action is lifted for the run)."""

    name: str
    collection: str | None = None
    objects: tuple[str, ...] = ()
    bones: tuple[str, ...] = ()
    rotation: Rotation | None = None
    actions: tuple[str, ...] = ()
    action_frame: Range | None = None

    FIELDS = ("collection", "objects", "bones", "rotation", "actions", "action_frame")

    def __post_init__(self) -> None:
        if self.collection is None and not self.objects:
            _fail(self.name, "needs collection = \"Name\" or objects = [\"Armature\", ...]")
        if self.rotation is None and not self.actions:
            _fail(self.name, "needs rotation = {x = [-20, 20], ...} or actions = [\"Name\", ...] (what to randomize)")

    def to_json(self) -> dict:
        return _json_fields(self, self.FIELDS)

    @classmethod
    def parse(cls, t: Any, name: str) -> ArmaturesConfig:
        t = _table(t, name)
        _no_unknown(t, cls.FIELDS, name)
        return cls(name=name, **_targets(t, name), bones=_names(t, "bones", name), rotation=_rotation(t, "rotation", name),
                   actions=_names(t, "actions", name), action_frame=_opt_range(t, "action_frame", name))


def _groups(data: dict, key: str, parse) -> tuple:
    v = data.get(key, [])
    if isinstance(v, dict):
        v = [v]
    if not isinstance(v, list):
        _fail(key, f"must be a list of tables ([[{key}]] in TOML), got {_show(v)}")
    return tuple(parse(item, f"{key}[{i}]") for i, item in enumerate(v))


@dataclass(frozen=True)
class RandomizeConfig:
    """Every randomizer of a run; each section is optional."""

    camera: CameraConfig | None = None
    lights: LightsConfig | None = None
    world: WorldConfig | None = None
    objects: tuple[ObjectsConfig, ...] = ()
    materials: tuple[MaterialsConfig, ...] = ()
    armatures: tuple[ArmaturesConfig, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.camera or self.lights or self.world or self.objects or self.materials or self.armatures)

    def to_json(self) -> dict:
        """A JSON-able dict that :func:`from_dict` turns back into an equal config
        (folders absolute). Stored in every frame record and in the dataset's info."""
        out: dict[str, Any] = {}
        for key in ("camera", "lights", "world"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key).to_json()
        for key in ("objects", "materials", "armatures"):
            if getattr(self, key):
                out[key] = [g.to_json() for g in getattr(self, key)]
        return out


def from_dict(data: Any, source: str = "randomize config", base_dir: str | Path | None = None) -> RandomizeConfig:
    """Validate a parsed TOML/JSON config; a one-line :class:`UserError` prefixed by ``source``."""
    base = Path(base_dir) if base_dir is not None else None
    try:
        if not isinstance(data, dict):
            _fail("the config", f"must be a table of sections ({', '.join(SECTIONS)}), got {_show(data)}")
        _no_unknown({k: v for k, v in data.items() if k != "version"}, SECTIONS, "")
        if data.get("version", 1) != 1:
            _fail("version", f"must be 1, got {_show(data.get('version'))}")
        return RandomizeConfig(
            camera=CameraConfig.parse(data["camera"]) if "camera" in data else None,
            lights=LightsConfig.parse(data["lights"]) if "lights" in data else None,
            world=WorldConfig.parse(data["world"], base_dir=base) if "world" in data else None,
            objects=_groups(data, "objects", ObjectsConfig.parse),
            materials=_groups(data, "materials", lambda t, n: MaterialsConfig.parse(t, n, base)),
            armatures=_groups(data, "armatures", ArmaturesConfig.parse),
        )
    except UserError as exc:
        raise UserError(f"{source}: {exc}") from None


def _read_toml(path: Path, python: str | None) -> Any:
    try:
        import tomllib  # Python 3.11+
    except ImportError:
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:
            tomllib = None
    if tomllib is not None:
        try:
            with open(path, "rb") as fh:
                return tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise UserError(f"randomize config {path} is not valid TOML ({exc}); fix the file") from None
        except UnicodeDecodeError:
            raise UserError(f"randomize config {path} is not UTF-8 text; save it as UTF-8") from None
    if python is None:
        raise UserError(f"this Python ({sys.version.split()[0]}) cannot read the TOML file {path}; pass --python "
                        "/path/to/python of an environment with blender-coco installed, or use a .json config")
    cmd = [python, "-m", "blender_coco.randomize_config", str(path)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env=child_env(), timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UserError(f"cannot run {python} to read {path} ({exc}); pass a working --python or a .json config") from None
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
        msg = lines[-1] if lines else f"exit {done.returncode}"
        raise UserError(msg.replace("blender-coco: error: ", "", 1))
    return json.loads(done.stdout)


def load(path: str | os.PathLike, *, python: str | None = None) -> RandomizeConfig:
    """Read and validate a TOML (or ``.json``) randomization config.

    Relative folders (``world.images``, ``materials[].textures``) start at the file's
    folder. Without ``tomllib`` (Python 3.10) the TOML is read by ``python``.
    """
    p = Path(path)
    if not p.is_file():
        raise UserError(f"randomize config {p} does not exist; pass the path of a TOML (or JSON) file")
    if p.suffix.lower() == ".json":
        from blender_coco.files import read_json

        data = read_json(p, "randomize config")
    else:
        data = _read_toml(p, python)
    return from_dict(data, source=str(p), base_dir=p.resolve().parent)


def main(argv: list[str] | None = None) -> int:
    """``python -m blender_coco.randomize_config FILE``: print the validated config as JSON."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m blender_coco.randomize_config FILE.toml", file=sys.stderr)
        return 2
    try:
        config = load(args[0])
    except UserError as exc:
        print(f"blender-coco: error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(json.dumps(config.to_json(), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The sections of a randomization config, one frozen dataclass each, and :func:`from_dict`.

- :class:`CameraConfig` (``[camera]``), :class:`LightsConfig` (``[lights]``),
  :class:`WorldConfig` (``[world]``): at most one each.
- :class:`ObjectsConfig` (``[[objects]]``), :class:`MaterialsConfig`
  (``[[materials]]``), :class:`ArmaturesConfig` (``[[armatures]]``): groups, each
  named by its place (``objects[0]``, ...), the name its messages and its random
  generator use.
- ``[[spawn]]`` groups are :class:`~blender_coco.randomize.spawn.SpawnConfig`
  (:mod:`.spawn`), named ``spawn[0]``, ...
- :class:`RandomizeConfig`: every section of a run; ``to_json()`` gives the JSON-able
  dict that :func:`from_dict` turns back into an equal config.
- :func:`from_dict`: validate a parsed TOML/JSON config; a one-line
  :class:`~blender_coco.errors.UserError` naming the field, the value and what is
  allowed, prefixed by the config's source.

Each section's ``parse(table, name)`` builds it from its table with the validators of
:mod:`.values`; docs/randomize.md documents every field.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blender_coco.errors import UserError
from blender_coco.randomize.values import (Range, Region, Rotation, _bool, _fail, _folder, _name, _names,
                                           _no_unknown, _opt_range, _probability, _region, _rotation, _show, _table,
                                           _vec3, parse_range)
from blender_coco.randomize.spawn import MaterialVariation, SpawnConfig, variation_fields
from blender_coco.values import is_number

LIGHT_TYPES = ("POINT", "SUN", "SPOT", "AREA")
#: The sections a config may have, in the order :meth:`RandomizeConfig.to_json` writes them.
SECTIONS = ("camera", "lights", "world", "objects", "materials", "armatures", "spawn")


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
        if not is_number(self.look_at_jitter) or self.look_at_jitter < 0:
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
        if not is_number(jitter) or jitter < 0:
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
        if not is_number(self.spacing) or self.spacing < 0:
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
        if not is_number(spacing) or spacing < 0:
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
    variation: MaterialVariation = MaterialVariation()

    TARGETS = ("collection", "objects", "materials")
    FIELDS = TARGETS + MaterialVariation.FIELDS

    def to_json(self) -> dict:
        return {**_json_fields(self, self.TARGETS), **self.variation.to_json()}

    @classmethod
    def parse(cls, t: Any, name: str, base_dir: Path | None = None) -> MaterialsConfig:
        t = _table(t, name)
        _no_unknown(t, cls.FIELDS, name)
        return cls(
            name=name, **_targets(t, name), materials=_names(t, "materials", name),
            variation=MaterialVariation(**variation_fields(t, name, base_dir)),
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
    spawn: tuple[SpawnConfig, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.camera or self.lights or self.world or self.objects or self.materials or self.armatures
                    or self.spawn)

    def to_json(self) -> dict:
        """A JSON-able dict that :func:`from_dict` turns back into an equal config
        (folders absolute). Stored in every frame record and in the dataset's info."""
        out: dict[str, Any] = {}
        for key in ("camera", "lights", "world"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key).to_json()
        for key in ("objects", "materials", "armatures", "spawn"):
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
            spawn=_groups(data, "spawn", lambda t, n: SpawnConfig.parse(t, n, base)),
        )
    except UserError as exc:
        raise exc.prefixed(f"{source}: ") from None


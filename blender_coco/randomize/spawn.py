"""``[[spawn]]`` groups: copies of assets instantiated per frame, placed, settled, varied.

- :class:`SpawnConfig`: one ``[[spawn]]`` group: where its assets come from
  (``collection`` in the .blend, or an ``assets`` folder), their ``category``, how
  many copies per frame (``count``), where they go (``surface``, ``region``,
  ``rotation``, ``scale``, ``spacing``, ``max_tries``, as for ``[[objects]]``),
  ``physics`` and ``material`` variation per copy.
- :class:`PhysicsConfig`: ``physics = true`` or a table: drop the copies with
  Blender's rigid-body simulation onto ``surface`` and ``colliders``.
- :class:`MaterialVariation`: ``material = {hue, saturation, value, roughness,
  metallic, textures, texture_probability}``, drawn per copy.
- :data:`ASSET_EXTENSIONS`, :func:`asset_files`: which files of an ``assets`` folder
  are assets (the folder and its subfolders, sorted by relative path).

No bpy, Python 3.10 compatible, like the rest of :mod:`blender_coco.randomize`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blender_coco.randomize.values import (Range, Region, Rotation, _bool, _fail, _folder, _name, _names, _no_unknown,
                                           _opt_range, _probability, _region, _rotation, _show, _table)
from blender_coco.values import is_number

#: File kinds an ``assets`` folder may hold (any other file, e.g. textures or .bin, is ignored).
ASSET_EXTENSIONS = (".blend", ".glb", ".gltf", ".obj", ".fbx", ".ply", ".stl")
#: The placeholder ``category`` replaces with the asset's file stem (or object name).
STEM = "{stem}"


def asset_files(folder: str) -> list[str]:
    """Asset files in ``folder`` and its subfolders, sorted by relative path (the order copies draw from).

    Hidden files and folders (``.name``) and Blender's backups (``.blend1``) are skipped.
    """
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for n in files:
            if n.lower().endswith(ASSET_EXTENSIONS) and not n.startswith("."):
                found.append(os.path.join(root, n))
    return sorted(found, key=lambda p: os.path.relpath(p, folder).replace(os.sep, "/"))


def _asset_folder(t: dict, key: str, name: str, base_dir: Path | None) -> str | None:
    return _folder(t, key, name, base_dir, listing=asset_files, what="asset file", extensions=ASSET_EXTENSIONS)


def _number(t: dict, key: str, name: str, default: float, lo: float, hi: float, what: str) -> float:
    v = t.get(key, default)
    if not is_number(v) or not lo <= v <= hi:
        _fail(f"{name}.{key}", f"must be {what}, got {_show(v)}")
    return float(v)


@dataclass(frozen=True)
class PhysicsConfig:
    """Rigid-body settling: copies are dropped from ``drop_height`` (a range, scene
    units above the surface's top) onto ``surface`` and ``colliders`` (passive
    meshes) and simulated for at most ``max_time`` seconds with ``substeps`` steps
    per 1/24 s, until nothing moves; ``friction`` and ``bounciness`` of every body."""

    colliders: tuple[str, ...] = ()
    drop_height: Range = Range(0.02, 0.3, name="physics.drop_height")
    max_time: float = 4.0
    substeps: int = 10
    friction: float = 0.6
    bounciness: float = 0.0

    FIELDS = ("colliders", "drop_height", "max_time", "substeps", "friction", "bounciness")

    def to_json(self) -> dict:
        return {"colliders": list(self.colliders), "drop_height": self.drop_height.to_json(),
                "max_time": self.max_time, "substeps": self.substeps, "friction": self.friction,
                "bounciness": self.bounciness}

    @classmethod
    def parse(cls, t: Any, name: str) -> PhysicsConfig | None:
        if t is False:
            return None
        if t is True:
            return cls(drop_height=Range(0.02, 0.3, name=f"{name}.drop_height"))
        if not isinstance(t, dict):
            _fail(name, f"must be true, false or a table {{colliders = [...], drop_height = [min, max], ...}}, "
                        f"got {_show(t)}")
        _no_unknown(t, cls.FIELDS, name)
        substeps = t.get("substeps", 10)
        if not isinstance(substeps, int) or isinstance(substeps, bool) or not 1 <= substeps <= 1000:
            _fail(f"{name}.substeps", f"must be a whole number in 1..1000, got {_show(substeps)}")
        return cls(
            colliders=_names(t, "colliders", name),
            drop_height=_opt_range(t, "drop_height", name, lo=0) or Range(0.02, 0.3, name=f"{name}.drop_height"),
            max_time=_number(t, "max_time", name, 4.0, 0.05, 120.0, "seconds of simulated time in 0.05..120"),
            substeps=substeps,
            friction=_number(t, "friction", name, 0.6, 0.0, 100.0, "a friction >= 0"),
            bounciness=_number(t, "bounciness", name, 0.0, 0.0, 1.0, "between 0 and 1"),
        )


@dataclass(frozen=True)
class MaterialVariation:
    """Per-copy material changes, drawn once per copy and applied to every Principled
    BSDF of its materials: base colour ``hue`` shift (turns), ``saturation`` and
    ``value`` factors, ``roughness`` and ``metallic`` (absolute), an image from
    ``textures`` as base colour with probability ``texture_probability``."""

    hue: Range | None = None
    saturation: Range | None = None
    value: Range | None = None
    roughness: Range | None = None
    metallic: Range | None = None
    textures: str | None = None
    texture_probability: float = 1.0

    FIELDS = ("hue", "saturation", "value", "roughness", "metallic", "textures", "texture_probability")

    @property
    def colors(self) -> bool:
        return any(v is not None for v in (self.hue, self.saturation, self.value))

    def to_json(self) -> dict:
        out = {k: getattr(self, k).to_json() for k in ("hue", "saturation", "value", "roughness", "metallic")
               if getattr(self, k) is not None}
        if self.textures is not None:
            out.update(textures=self.textures, texture_probability=self.texture_probability)
        return out

    @classmethod
    def parse(cls, t: Any, name: str, base_dir: Path | None = None) -> MaterialVariation:
        if not isinstance(t, dict):
            _fail(name, f"must be a table such as {{hue = [-0.1, 0.1], roughness = [0.2, 0.9]}}, got {_show(t)}")
        _no_unknown(t, cls.FIELDS, name)
        out = cls(**variation_fields(t, name, base_dir))
        if out == cls():
            _fail(name, "sets nothing; give hue, saturation, value, roughness, metallic or textures")
        return out


def variation_fields(t: dict, name: str, base_dir: Path | None) -> dict:
    """The material-variation keys of table ``t`` (hue, saturation, value, roughness, metallic,
    textures, texture_probability), validated: shared by ``[[materials]]`` and a spawn's ``material``."""
    return dict(
        hue=_opt_range(t, "hue", name, lo=-1, hi=1),
        saturation=_opt_range(t, "saturation", name, lo=0),
        value=_opt_range(t, "value", name, lo=0),
        roughness=_opt_range(t, "roughness", name, lo=0, hi=1),
        metallic=_opt_range(t, "metallic", name, lo=0, hi=1),
        textures=_folder(t, "textures", name, base_dir),
        texture_probability=_probability(t, "texture_probability", name, 1.0),
    )


@dataclass(frozen=True)
class SpawnConfig:
    """One ``[[spawn]]`` group: ``count`` copies per frame of assets drawn from
    ``collection`` (its top-level objects) or ``assets`` (a folder), placed like
    ``[[objects]]`` and, with ``physics``, dropped and settled; removed after the frame.

    ``category`` (``"{stem}"`` = the file's stem, or the object's name for a
    collection) marks every copy; without it each asset's own ``coco_category``
    does. ``distractor`` copies are never annotated."""

    name: str
    collection: str | None = None
    assets: str | None = None
    category: str | None = None
    supercategory: str | None = None
    count: Range = Range(1, 1, name="spawn.count", integer=True)
    region: Region | None = None
    surface: str | None = None
    rotation: Rotation | None = None
    scale: Range | None = None
    spacing: float = 0.0
    max_tries: int = 100
    physics: PhysicsConfig | None = None
    material: MaterialVariation | None = None
    distractor: bool = False

    FIELDS = ("collection", "assets", "category", "supercategory", "count", "region", "surface", "rotation", "scale",
              "spacing", "max_tries", "physics", "material", "distractor")

    def __post_init__(self) -> None:
        if (self.collection is None) == (self.assets is None):
            _fail(self.name, "needs exactly one of collection = \"Name\" (objects in the .blend) or assets = "
                             "\"folder/\" (asset files)")
        if not is_number(self.spacing) or self.spacing < 0:
            _fail(f"{self.name}.spacing", f"must be a distance >= 0, got {_show(self.spacing)}")
        if not isinstance(self.max_tries, int) or isinstance(self.max_tries, bool) or not 1 <= self.max_tries <= 100000:
            _fail(f"{self.name}.max_tries", f"must be a whole number in 1..100000, got {_show(self.max_tries)}")
        if self.count.upper > 10000:
            _fail(f"{self.name}.count", f"must be at most 10000 copies per frame, got {_show(self.count.to_json())}")
        if self.surface is None and self.region is None:
            _fail(self.name, "needs surface = \"Name\" (a mesh to stand or drop the copies on) or region = "
                             "{min = [x, y, z], max = [x, y, z]}")
        if self.physics is not None and self.surface is None and not self.physics.colliders:
            _fail(f"{self.name}.physics", "needs something to land on: a surface = \"Name\" on the group or "
                                          "colliders = [\"Floor\", ...]")
        if self.supercategory is not None and self.category is None:
            _fail(f"{self.name}.supercategory", "needs category = \"...\" on the same group (the assets' own "
                                                "coco_supercategory applies otherwise)")

    def to_json(self) -> dict:
        out: dict[str, Any] = {}
        for key in self.FIELDS:
            v = getattr(self, key)
            if v is None or v == () or (key, v) in (("spacing", 0.0), ("max_tries", 100), ("distractor", False)):
                continue
            out[key] = v.to_json() if hasattr(v, "to_json") else v
        return out

    @classmethod
    def parse(cls, t: Any, name: str, base_dir: Path | None = None) -> SpawnConfig:
        t = _table(t, name)
        _no_unknown(t, cls.FIELDS, name)
        spacing = t.get("spacing", 0.0)
        if not is_number(spacing) or spacing < 0:
            _fail(f"{name}.spacing", f"must be a distance >= 0 (scene units), got {_show(spacing)}")
        physics = None
        if "physics" in t:
            physics = PhysicsConfig.parse(t["physics"], f"{name}.physics")
        return cls(
            name=name,
            collection=_name(t, "collection", name),
            assets=_asset_folder(t, "assets", name, base_dir),
            category=_name(t, "category", name),
            supercategory=_name(t, "supercategory", name),
            count=(_opt_range(t, "count", name, lo=0, integer=True) or Range(1, 1, name=f"{name}.count", integer=True)),
            region=_region(t, "region", name),
            surface=_name(t, "surface", name),
            rotation=_rotation(t, "rotation", name),
            scale=_opt_range(t, "scale", name, lo=1e-6),
            spacing=float(spacing),
            max_tries=t.get("max_tries", 100),
            physics=physics,
            material=MaterialVariation.parse(t["material"], f"{name}.material", base_dir) if "material" in t else None,
            distractor=_bool(t, "distractor", name, False),
        )

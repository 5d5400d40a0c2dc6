"""Randomization config: parse and validate ``randomize.toml`` into frozen dataclasses.

No bpy, no numpy, Python 3.10 compatible: the same code validates the config in the
command line (Python 3.11, ``tomllib``) and rebuilds it inside a stock Blender from
the JSON-able dict :meth:`RandomizeConfig.to_json` returns. The render stage applies
it with :mod:`blender_coco.blender.randomizers`.

- :mod:`.values`: :class:`Range` (a value drawn per frame) and :func:`parse_range`,
  :class:`Rotation`, :class:`Region`, :func:`image_files`, and the one-line field
  validators the sections are built with.
- :mod:`.sections`: one frozen dataclass per section (:class:`CameraConfig`,
  :class:`LightsConfig`, :class:`WorldConfig`, :class:`ObjectsConfig`,
  :class:`MaterialsConfig`, :class:`ArmaturesConfig`), :class:`RandomizeConfig` and
  :func:`from_dict`.
- :mod:`.spawn`: ``[[spawn]]`` groups (:class:`SpawnConfig`, :class:`PhysicsConfig`,
  :class:`MaterialVariation`) and :func:`asset_files`.
- :mod:`.loading`: :func:`load` (a ``.toml`` or ``.json`` file; without ``tomllib`` the
  TOML is read by another Python through ``python -m blender_coco.randomize FILE``,
  :mod:`.__main__`), :data:`SCENE_PROP`, :data:`OFF`.
- :mod:`.rng`: :func:`frame_rng`.

Every field is optional; docs/randomize.md documents them all. A *range* is a number
(constant), ``[min, max]`` (uniform) or a table ``{min, max, distribution}`` with
``distribution`` one of ``uniform``, ``loguniform`` or ``normal`` (``mean``, ``std``,
clamped to ``min``/``max`` when given), or ``{values = [...]}`` (one of the values).
Angles are in degrees, distances and positions in Blender units (the scene's own
coordinates; metres only when its Unit Scale is 1), colours in HSV 0..1.

Frame ``i`` draws every value from :func:`frame_rng` ``(seed, i, name)``: one
``random.Random`` per randomizer, seeded from a hash of the three, so any frame can
be rendered alone and sharding never changes a frame.

Errors are one line naming the field, the value and what is allowed::

    randomize.toml: camera.distance must have min <= max, got [12.0, 8.0]
"""

from blender_coco.randomize.loading import OFF, SCENE_PROP, load
from blender_coco.randomize.rng import frame_rng
from blender_coco.randomize.sections import (LIGHT_TYPES, SECTIONS, ArmaturesConfig, CameraConfig, LightsConfig,
                                             MaterialsConfig, ObjectsConfig, RandomizeConfig, WorldConfig, from_dict)
from blender_coco.randomize.spawn import (ASSET_EXTENSIONS, STEM, MaterialVariation, PhysicsConfig, SpawnConfig,
                                          asset_files)
from blender_coco.randomize.values import (DISTRIBUTIONS, IMAGE_EXTENSIONS, RANGE_KEYS, Range, Region, Rotation,
                                           image_files, parse_range)

__all__ = [
    "ASSET_EXTENSIONS", "MaterialVariation", "PhysicsConfig", "STEM", "SpawnConfig", "asset_files",
    "ArmaturesConfig", "CameraConfig", "DISTRIBUTIONS", "IMAGE_EXTENSIONS", "LIGHT_TYPES", "LightsConfig",
    "MaterialsConfig", "OFF", "ObjectsConfig", "RANGE_KEYS", "RandomizeConfig", "Range", "Region", "Rotation",
    "SCENE_PROP", "SECTIONS", "WorldConfig", "frame_rng", "from_dict", "image_files", "load", "parse_range",
]

"""The part contract and the registry: which part applies which config section, in which order.

A *part* applies one section of a :class:`~blender_coco.randomize.RandomizeConfig`
(one per group for ``objects``/``materials``/``armatures``). Each randomizer module
registers its part class for its section with ``@register("section")`` (the way
Kubric's Blender renderer registers one handler per asset type), and :func:`build`
makes the parts of a config in the fixed :data:`ORDER`.

The order is part of the output: parts draw from their own generators
(``frame_rng(seed, i, part.name)``) but share the frame's state (objects placed
earlier are obstacles for later groups) and restore in reverse. Changing it changes
datasets.

``Part`` lifecycle, driven by :class:`~.hook.Randomizer`: ``start(scene, guard,
images)`` once (resolve names, remember every value it will change on ``guard``),
``apply(scene, rng, frame)`` before each frame (set every randomized value from
``rng`` alone), ``finish()`` at the end (remove what it created; the guard puts the
remembered values back).
"""

from __future__ import annotations

#: Sections in the order their parts are built and applied each frame (finished in reverse).
ORDER = ("objects", "spawn", "armatures", "materials", "lights", "world", "camera")

#: Section -> the part class registered for it (filled by :func:`register`).
PARTS: dict[str, type] = {}


class Part:
    """Applies one config section (or one group of it); override what you need.

    ``name`` is the section (``"camera"``) or the group's name (``"objects[0]"``): the
    name of its random generator, of its messages and of its key in the frame's values.
    """

    section = "part"
    #: the run's cameras (first = reference) when the run was given ``--cameras``; else ()
    rig: tuple[str, ...] = ()

    def __init__(self, cfg) -> None:
        self.cfg = cfg
        self.name = getattr(cfg, "name", None) or self.section

    def start(self, scene, guard, images) -> None:
        pass

    def apply(self, scene, rng, frame) -> None:
        pass

    def finish(self) -> None:
        pass


def register(section: str):
    """Class decorator: the part class that applies config section ``section`` (one of :data:`ORDER`)."""
    if section not in ORDER:
        raise ValueError(f"unknown randomize section {section!r}; add it to ORDER")

    def decorate(cls: type[Part]) -> type[Part]:
        cls.section = section
        PARTS[section] = cls
        return cls
    return decorate


def build(config) -> list[Part]:
    """The parts of ``config`` in :data:`ORDER`: one per group of a list section, one per set section."""
    parts: list[Part] = []
    for section in ORDER:
        value = getattr(config, section)
        configs = value if isinstance(value, tuple) else () if value is None else (value,)
        parts += [PARTS[section](cfg) for cfg in configs]
    return parts


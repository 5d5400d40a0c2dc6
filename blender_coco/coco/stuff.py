"""Stuff: amorphous regions (floor, wall, sky) as COCO-Stuff annotations.

A category whose record entry says ``"isthing": false`` is *stuff*. Stuff has no
instances: in each frame every pixel of a stuff category, whichever object it
belongs to, forms one region, written to ``annotations/stuff.json`` as one
annotation per (image, stuff category) with compressed RLE, bbox and area (as
COCO-Stuff does). Things go to ``instances.json`` only, stuff to ``stuff.json``
only; ``panoptic.json`` lists both with ``isthing``. Category ids are the same in
every file: 1..n by name over all categories.

Which pixels are stuff (see docs/records.md):

* pixels of an instance whose category is stuff;
* with a record ``"background": NAME``: pixels with pass index 0 and no surface
  (depth >= :data:`WORLD_DEPTH`, the world) belong to stuff category NAME;
* with ``stuff_other``: the other pass-index-0 pixels (unmarked surfaces) belong to
  the extra category ``other``, whose id is n + 1 so that the named categories keep
  their ids whether the option is on or off. (COCO-Stuff's own ``other``, id 183,
  covers *thing* pixels instead; here things keep their classes in panoptic.json.)

Everything else is unlabelled (void in panoptic.json).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from blender_coco.errors import UserError
from blender_coco.coco.dataset import Category, categories_from_names
from blender_coco.coco.instances import analyze

log = logging.getLogger(__name__)

#: Depth at or beyond which a pixel shows the world, not a surface (Cycles writes 1e10).
WORLD_DEPTH = 1e9
#: Name of the optional category of unmarked surfaces.
OTHER = "other"


def is_stuff_entry(entry: dict[str, Any]) -> bool:
    """True when a record's category entry says ``"isthing": false`` (or 0)."""
    value = entry.get("isthing", True)
    return value is False or value == 0


@dataclass(frozen=True)
class SceneCategories:
    """Every category of a run, with ids 1..n by name, and which of them are stuff.

    ``other_id`` is the id of :data:`OTHER` when unmarked surfaces get that category.
    """

    categories: tuple[Category, ...]
    stuff: frozenset[str]
    other_id: int | None = None
    has_background: bool = False

    @property
    def ids(self) -> dict[str, int]:
        return {c.name: c.id for c in self.categories}

    @property
    def things(self) -> list[Category]:
        return [c for c in self.categories if c.name not in self.stuff]

    @property
    def stuff_categories(self) -> list[Category]:
        """Stuff categories, plus ``other`` when it is on (last)."""
        out = [c for c in self.categories if c.name in self.stuff]
        if self.other_id is not None:
            out.append(Category(id=self.other_id, name=OTHER, supercategory=OTHER))
        return out

    @property
    def all(self) -> list[Category]:
        """Things and stuff (and ``other``), by id."""
        return sorted(self.things + self.stuff_categories, key=lambda c: c.id)

    @property
    def marks_stuff(self) -> bool:
        """Whether the scene has any stuff at all (a stuff category, a background or ``other``)."""
        return bool(self.stuff) or self.has_background or self.other_id is not None

    def isthing(self, category_id: int) -> bool:
        return not any(c.id == category_id for c in self.stuff_categories)


def scene_categories(records: Iterable[Any], stuff_other: bool = False) -> SceneCategories:
    """The categories of a run's frame records (``FrameRecord`` objects), stuff marked.

    A background named by a record but missing from its categories is taken as a
    stuff category. One-line errors when records disagree on whether a category is
    stuff, when a background names a thing, or when a category is named ``other``
    while ``stuff_other`` is on.
    """
    entries: list[dict[str, Any]] = []
    kind: dict[str, tuple[bool, str]] = {}
    has_background = False
    for rec in records:
        cats = list(rec.categories)
        names = {c["name"] for c in cats}
        background = rec.raw.get("background")
        if background is not None:
            if not isinstance(background, str) or not background.strip():
                raise UserError(f"{rec.path}: \"background\" must be a stuff category name, got {background!r}; "
                                "fix the world's coco_category")
            has_background = True
            if background not in names:
                cats.append({"name": background, "isthing": False})
        for c in cats:
            stuff = is_stuff_entry(c)
            if c["name"] == background and not stuff:
                raise UserError(f"{rec.path}: the background category {background!r} is a thing category; "
                                "mark it coco_stuff = true (the world can only be stuff)")
            seen = kind.setdefault(c["name"], (stuff, str(rec.path)))
            if seen[0] != stuff:
                raise UserError(f"category {c['name']!r} is stuff in {seen[1] if seen[0] else rec.path} and a thing in "
                                f"{rec.path if seen[0] else seen[1]}; mark every object of it the same way (coco_stuff)")
            if stuff and c.get("keypoints"):
                raise UserError(f"{rec.path}: stuff category {c['name']!r} has keypoints; stuff has no instances, "
                                "so remove coco_stuff or the keypoints")
            entries.append(c)
    categories = categories_from_names(entries)
    stuff = frozenset(name for name, (is_stuff, _) in kind.items() if is_stuff)
    other_id = None
    if stuff_other:
        if OTHER in kind:
            raise UserError(f"a category is named {OTHER!r}, which stuff_other needs for unmarked surfaces; "
                            "rename that category or turn stuff_other off")
        other_id = len(categories) + 1
    return SceneCategories(tuple(categories), stuff, other_id, has_background)


def stuff_map(mask: np.ndarray, depth: np.ndarray | None, instances: Iterable[dict[str, Any]],
              cats: SceneCategories, background: str | None = None, where: str = "frame") -> np.ndarray:
    """Per pixel the stuff category id (int32), 0 where the pixel is not stuff.

    ``instances``: the record's instances (pass_index, category); ``background``:
    the record's background category. ``depth`` is needed for the background and
    for ``other``; ``where`` names the frame in errors.
    """
    ids = cats.ids
    stuff_labels = {int(i["pass_index"]): ids[i["category"]] for i in instances if i["category"] in cats.stuff}
    need_depth = background is not None or cats.other_id is not None
    if not stuff_labels and not need_depth:
        return np.zeros(mask.shape, np.int32)
    lut = np.zeros(max([int(mask.max(initial=0))] + list(stuff_labels)) + 1, np.int32)
    for label, cat_id in stuff_labels.items():
        lut[label] = cat_id
    out = lut[mask]
    if need_depth:
        if depth is None:
            raise UserError(f"{where} has no depth pass, needed to tell the world background from unmarked "
                            "surfaces; re-render it")
        unmarked = mask == 0
        world = unmarked & ~(depth < WORLD_DEPTH)  # NaN counts as world
        if background is not None:
            out[world] = ids[background]
        if cats.other_id is not None:
            out[unmarked & ~world] = cats.other_id
    return out


def stuff_annotations(smap: np.ndarray, min_area: int = 1) -> list[dict[str, Any]]:
    """One annotation (without id/image_id) per stuff category in ``smap``, by category id.

    Compressed RLE (str counts), bbox and area from the mask, iscrowd 0.
    Regions smaller than ``min_area`` pixels are left out.
    """
    runs = analyze(smap)
    out = []
    for i, label in enumerate(runs.labels.tolist()):
        if runs.areas[i] < min_area:
            continue
        x0, y0, x1, y1 = (int(v) for v in runs.boxes[i])
        out.append({
            "category_id": int(label),
            "segmentation": runs.rle(i),
            "area": int(runs.areas[i]),
            "bbox": [x0, y0, x1 - x0, y1 - y0],
            "iscrowd": 0,
        })
    return out

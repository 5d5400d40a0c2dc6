"""Sentences from a frame's facts: placeholder values with random wording, filled into templates.

* :func:`captions` -- ``n`` captions of one frame's
  :class:`~blender_coco.coco.scene_facts.FrameFacts`, distinct where the templates
  allow, each true of the frame.
* :func:`caption_rng` -- the generator wording is drawn from, seeded by
  ``[seed, image_id]``: the same records and seed give the same captions.

A template is used only when all of its placeholders have a value (``{relation}``
needs two single objects in a relation the pixels show, ``{context}`` visible stuff).
"""

from __future__ import annotations

import re
from typing import Mapping, Sequence

import numpy as np

from blender_coco.coco.captions.color_names import color_name
from blender_coco.coco.captions.grammar import counted, display_name, join, number_word, preposition
from blender_coco.coco.captions.style import PLACEHOLDER_RE, PLACEHOLDERS, CaptionStyle
from blender_coco.coco.scene_facts import FrameFacts
from blender_coco.errors import UserError

#: Fraction of the image an object must cover to be called large / at most to be called small.
LARGE_FRACTION = 0.2
SMALL_FRACTION = 0.01
SIZE_WORDS = ("large", "small")


class _Phrases:
    """The placeholder values of one caption, with random wording."""

    def __init__(self, facts: FrameFacts, style: CaptionStyle, rng: np.random.Generator) -> None:
        self.f = facts
        self.style = style
        self.rng = rng
        groups: dict[str, list[int]] = {}
        for i, o in enumerate(facts.objects):
            groups.setdefault(o.category, []).append(i)
        self.groups = groups
        self.colors = {i: color_name(o.color) for i, o in enumerate(facts.objects)}
        self.use_color = bool(rng.integers(0, 4))  # mention colours in 3 captions out of 4

    def pick(self, options: Sequence[str]) -> str:
        return options[int(self.rng.integers(0, len(options)))]

    def noun(self, category: str) -> str:
        return display_name(category)

    def group_items(self, category: str) -> list[str]:
        """Counted phrases covering every instance of ``category`` ("two red boxes" or "a red box", "a blue box")."""
        idx = self.groups[category]
        noun = self.noun(category)
        colors = [self.colors[i] for i in idx]
        if self.use_color and all(colors):
            distinct = sorted(set(colors), key=colors.index)
            if len(distinct) == 1:
                return [counted(len(idx), noun, [distinct[0]], self.style)]
            if len(distinct) <= 3:
                return [counted(colors.count(c), noun, [c], self.style) for c in distinct]
        return [counted(len(idx), noun, (), self.style)]

    def order(self, categories: list[str]) -> list[str]:
        """Categories by pixels covered, largest first, sometimes shuffled."""
        area = {c: sum(self.f.objects[i].area for i in self.groups[c]) for c in categories}
        out = sorted(categories, key=lambda c: (-area[c], c))
        if len(out) > 1 and self.rng.integers(0, 2):
            out = [out[i] for i in self.rng.permutation(len(out))]
        return out

    def inventory(self, categories: list[str]) -> tuple[str, int]:
        items = [item for c in self.order(categories) for item in self.group_items(c)]
        return join(items), len(items)

    def main_category(self) -> str:
        return max(self.groups, key=lambda c: (sum(self.f.objects[i].area for i in self.groups[c]), c))

    def the(self, i: int) -> str:
        """'the box' / 'the red box' for the single instance ``i`` of its category."""
        o = self.f.objects[i]
        color = self.colors[i] if self.use_color else None
        return "the " + " ".join(w for w in (color, self.noun(o.category)) if w)

    def singles(self) -> list[int]:
        return [idx[0] for idx in self.groups.values() if len(idx) == 1]

    def relations(self) -> list[str]:
        out = []
        singles = self.singles()
        objs = self.f.objects
        for a in singles:
            for b in singles:
                if a == b:
                    continue
                A, B = self.the(a), self.the(b)
                ax, ay, aw, ah = objs[a].bbox
                bx, by, bw, bh = objs[b].bbox
                if ax + aw <= bx:
                    out.append(self.pick((f"{A} is to the left of {B}", f"{B} is to the right of {A}",
                                          f"{A} is left of {B}")))
                if ay + ah <= by:
                    out.append(self.pick((f"{A} is above {B}", f"{B} is below {A}")))
                if objs[b].occluders is not None and a in objs[b].occluders:
                    out.append(self.pick((f"{A} is in front of {B}", f"{B} is partly hidden behind {A}",
                                          f"{A} partly blocks the view of {B}")))
        return out

    def details(self) -> list[str]:
        out = []
        image = self.f.width * self.f.height
        for i in self.singles():
            o = self.f.objects[i]
            T = self.the(i)
            if o.truncated:
                out.append(self.pick((f"{T} is partly out of frame", f"{T} is cut off by the edge of the image",
                                      f"{T} extends beyond the frame")))
            if o.occluders:
                out.append(self.pick((f"{T} is partly hidden", f"part of {T} is hidden from view",
                                      f"{T} is partially occluded")))
            if o.area >= LARGE_FRACTION * image:
                out.append(self.pick((f"{T} fills much of the frame", f"{T} takes up a large part of the image")))
            elif o.area < SMALL_FRACTION * image:
                out.append(self.pick((f"{T} is small in the frame", f"{T} appears small")))
        return out

    def stuff_phrase(self) -> str | None:
        names = [n for n, _ in self.f.stuff]
        if not names:
            return None
        return join([f"the {display_name(n)}" for n in names])

    def preposition(self, name: str) -> str:
        """The phrase template placing things relative to stuff ``name`` (user's first, then built in)."""
        return preposition(name, self.style.prepositions)

    def context(self) -> str | None:
        """Where the things are: the largest ground-like stuff ("on the floor"), else the largest stuff."""
        if not self.f.stuff:
            return None
        names = [n for n, _ in self.f.stuff]
        grounds = [n for n in names if self.preposition(n).startswith("on ")]
        name = grounds[0] if grounds else names[0]
        return self.preposition(name).replace("{stuff}", f"the {display_name(name)}")

    def values(self) -> dict[str, str | None]:
        values: dict[str, str | None] = dict.fromkeys(PLACEHOLDERS)
        values["stuff"] = self.stuff_phrase()
        values["context"] = self.context()
        if not self.groups:
            return values
        cats = list(self.groups)
        values["objects"], n_items = self.inventory(cats)
        first_many = len(self.groups[cats[0]]) > 1
        values["is_are"] = "are" if n_items > 1 or first_many or len(self.f.objects) > 1 else "is"
        main = self.main_category()
        items = self.group_items(main)
        if len(items) == 1 and len(self.groups[main]) == 1:
            o = self.f.objects[self.groups[main][0]]
            image = self.f.width * self.f.height
            size = "large" if o.area >= LARGE_FRACTION * image else "small" if o.area < SMALL_FRACTION * image else None
            if size and self.rng.integers(0, 2):
                color = self.colors[self.groups[main][0]] if self.use_color else None
                items = [counted(1, self.noun(main), [w for w in (size, color) if w], self.style)]
        values["main"] = join(items)
        rest = [c for c in cats if c != main]
        values["others"] = self.inventory(rest)[0] if rest else None
        relations = self.relations()
        values["relation"] = self.pick(relations) if relations else None
        details = self.details()
        values["detail"] = self.pick(details) if details else None
        n = len(self.f.objects)
        values["count"] = f"{number_word(n)} object{'s' if n != 1 else ''}"
        return values


def _fill(template: str, values: Mapping[str, str | None]) -> str | None:
    missing = False

    def sub(m: re.Match) -> str:
        nonlocal missing
        name = m.group(1)
        value = values.get(name.lower())
        if value is None:
            missing = True
            return ""
        return value[:1].upper() + value[1:] if name[:1].isupper() else value

    text = PLACEHOLDER_RE.sub(sub, template)
    if missing:
        return None
    text = " ".join(text.split())
    return text[:1].upper() + text[1:]


def captions(facts: FrameFacts, n: int, rng: np.random.Generator, style: CaptionStyle = CaptionStyle()) -> list[str]:
    """``n`` captions of a frame, distinct where the templates allow, true of its facts."""
    templates = style.templates if facts.objects else style.empty_templates
    out: list[str] = []
    fallback: list[str] = []
    for _ in range(8):
        for k in rng.permutation(len(templates)).tolist():
            text = _fill(templates[k], _Phrases(facts, style, rng).values())
            if text is None:
                continue
            fallback.append(text)
            if text not in out:
                out.append(text)
            if len(out) == n:
                return out
    if not fallback:
        raise UserError("no caption template fits a frame "
                        f"({'with' if facts.objects else 'without'} objects); add a template without placeholders "
                        f"to {'templates' if facts.objects else 'empty_templates'}")
    while len(out) < n:  # too few distinct sentences: repeat, deterministically
        out.append(fallback[len(out) % len(fallback)])
    return out


def caption_rng(seed: int, image_id: int) -> np.random.Generator:
    """The wording generator of one image: ``numpy.random.default_rng([seed, image_id])``."""
    return np.random.default_rng([int(seed), int(image_id)])

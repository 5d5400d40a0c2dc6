"""Captions (``annotations/captions.json``) generated from what each frame really shows.

Two steps. In the export worker, :func:`frame_facts` reduces a frame's ID mask and
depth pass to :class:`FrameFacts`: the visible things (exactly the annotations of
``instances.json``) with their box, area, material colour (from the record), mean
depth, truncation (the box touches the image border) and occluders (a neighbouring
surface nearer than ``tolerance`` along the object's outline), plus the visible
stuff. Then :func:`captions` turns the facts into sentences with templates.

A caption must be true of its image: it names only visible categories, and where it
counts a category it counts all of it ("two boxes", or "a red box and a blue box").
Relations are stated only between categories with one instance, and only when the
pixels show them: "left of" when the boxes do not overlap horizontally, "above"
likewise, "in front of" when one object's outline borders the other and is nearer.

Templates live here (:data:`DEFAULT_TEMPLATES`, :data:`DEFAULT_EMPTY_TEMPLATES`);
a user file (TOML or JSON, ``--caption-templates``) may replace or extend them and
override plurals, articles and stuff prepositions::

    templates = ["{Objects} {context}.", "A render of {objects}."]   # replace
    extra_templates = ["{Main} stands out."]                         # or add
    empty_templates = ["Nothing here but {stuff}."]
    [plurals]
    cactus = "cactuses"
    [articles]
    ukulele = "a"
    [prepositions]
    stage = "on the {stuff}"

Placeholders (a template is used only when all of its placeholders have a value;
a capitalised name capitalises the value): ``{objects}`` every visible thing with its
count; ``{main}`` the category covering most pixels; ``{others}`` the rest (needs two
categories); ``{context}`` where, from the largest stuff region ("on the floor");
``{stuff}`` the visible stuff ("the floor and the sky"); ``{relation}`` a relation
between two single objects; ``{detail}`` truncation, occlusion or size of a single
object; ``{count}`` the number of objects ("three objects"); ``{is_are}`` the verb
agreeing with ``{objects}``.

Wording is drawn from ``numpy.random.default_rng([seed, image_id])``: the same
records and seed give the same captions.
"""

from __future__ import annotations

import colorsys
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from blender_coco.errors import UserError
from blender_coco.coco.stuff import OTHER, WORLD_DEPTH

# ----------------------------------------------------------------------------- templates

DEFAULT_TEMPLATES: tuple[str, ...] = (
    "{Objects}.",
    "A rendered scene with {objects}.",
    "An image showing {objects}.",
    "This picture shows {objects}.",
    "There {is_are} {objects} in this image.",
    "{Objects} {context}.",
    "A picture of {objects} {context}.",
    "A view of {stuff} with {objects}.",
    "{Main} {context}, together with {others}.",
    "{Main}, along with {others}.",
    "A close look at {main}.",
    "{Main} in a rendered scene.",
    "{Objects}, and {relation}.",
    "A scene with {objects}, in which {relation}.",
    "In this image {relation}.",
    "{Objects}; {detail}.",
    "{Count} in view: {objects}.",
    "{Count} {context}: {objects}.",
)

DEFAULT_EMPTY_TEMPLATES: tuple[str, ...] = (
    "An empty scene.",
    "A rendered scene with no objects in it.",
    "Empty frame: no objects in view.",
    "A scene without any objects.",
    "A view of {stuff}, and nothing else.",
    "An image of {stuff} with no objects.",
    "Nothing to see but {stuff}.",
    "{Stuff}, empty of objects.",
)

PLACEHOLDERS = ("objects", "main", "others", "context", "stuff", "relation", "detail", "count", "is_are")

IRREGULAR_PLURALS: dict[str, str] = {
    "person": "people", "man": "men", "woman": "women", "child": "children", "foot": "feet",
    "tooth": "teeth", "goose": "geese", "mouse": "mice", "louse": "lice", "ox": "oxen",
    "sheep": "sheep", "deer": "deer", "fish": "fish", "moose": "moose", "bison": "bison",
    "series": "series", "species": "species", "aircraft": "aircraft", "cactus": "cacti",
    "fungus": "fungi", "knife": "knives", "wife": "wives", "life": "lives", "leaf": "leaves",
    "loaf": "loaves", "shelf": "shelves", "wolf": "wolves", "half": "halves", "calf": "calves",
    "elf": "elves", "scarf": "scarves", "thief": "thieves", "potato": "potatoes",
    "tomato": "tomatoes", "hero": "heroes", "echo": "echoes", "volcano": "volcanoes",
    "torpedo": "torpedoes", "die": "dice", "human": "humans", "glasses": "glasses",
    "scissors": "scissors", "pants": "pants", "jeans": "jeans", "skis": "skis",
    "goggles": "goggles", "headphones": "headphones", "policeman": "policemen",
    "snowman": "snowmen", "fireman": "firemen", "chassis": "chassis",
}

#: Words that take "an" though they start with a consonant, and vowel words that take "a".
AN_WORDS = ("hour", "honest", "honor", "honour", "heir", "herb")
A_PREFIXES = ("uni", "use", "usu", "uti", "ure", "eu", "one", "once", "ewe", "uk")

NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                "eleven", "twelve")

#: Stuff words -> the phrase placing things relative to that stuff ({stuff} = "the floor").
PREPOSITIONS: dict[str, str] = {
    **{w: "on {stuff}" for w in ("floor", "ground", "grass", "road", "street", "sand", "snow", "carpet", "rug",
                                  "table", "field", "pavement", "dirt", "gravel", "platform", "desk", "counter",
                                  "mat", "lawn", "terrain", "plane", "tile", "tiles", "pitch", "court")},
    **{w: "in front of {stuff}" for w in ("wall", "fence", "building", "curtain", "door", "window", "backdrop",
                                           "cabinet", "house", "hedge", "screen")},
    **{w: "under {stuff}" for w in ("sky", "ceiling", "clouds", "cloud", "roof")},
    **{w: "by {stuff}" for w in ("water", "sea", "river", "lake", "ocean", "pool")},
}
DEFAULT_PREPOSITION = "with {stuff} in view"

#: Fraction of the image an object must cover to be called large / at most to be called small.
LARGE_FRACTION = 0.2
SMALL_FRACTION = 0.01


@dataclass(frozen=True)
class CaptionStyle:
    """Templates and grammar overrides (the defaults, or a user file on top of them)."""

    templates: tuple[str, ...] = DEFAULT_TEMPLATES
    empty_templates: tuple[str, ...] = DEFAULT_EMPTY_TEMPLATES
    plurals: Mapping[str, str] = field(default_factory=dict)
    articles: Mapping[str, str] = field(default_factory=dict)
    prepositions: Mapping[str, str] = field(default_factory=dict)


_PLACEHOLDER = re.compile(r"\{([A-Za-z_]+)\}")


def _check_template(text: Any, source: str, key: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise UserError(f"{source}: {key} entries must be non-empty strings, got {text!r}")
    for name in _PLACEHOLDER.findall(text):
        if name.lower() not in PLACEHOLDERS:
            raise UserError(f"{source}: template {text!r} uses unknown placeholder {{{name}}}; "
                            f"use {', '.join('{' + p + '}' for p in PLACEHOLDERS)}")
    rest = _PLACEHOLDER.sub("", text)
    if "{" in rest or "}" in rest:
        raise UserError(f"{source}: template {text!r} has an unmatched brace; write placeholders as {{objects}}")
    return text


def style_from_dict(obj: Any, source: str = "caption templates") -> CaptionStyle:
    """Validate a parsed templates file; one-line :class:`UserError` naming ``source``."""
    keys = ("templates", "extra_templates", "empty_templates", "plurals", "articles", "prepositions")
    if not isinstance(obj, dict):
        raise UserError(f"{source}: must be a table/object with {', '.join(keys)}")
    unknown = sorted(set(obj) - set(keys))
    if unknown:
        raise UserError(f"{source}: unknown key {unknown[0]!r}; expected {', '.join(keys)}")

    def texts(key: str) -> tuple[str, ...] | None:
        if key not in obj:
            return None
        value = obj[key]
        if not isinstance(value, list) or (not value and key != "extra_templates"):
            raise UserError(f"{source}: {key} must be a non-empty list of strings")
        return tuple(_check_template(t, source, key) for t in value)

    def words(key: str, check_value=None) -> dict[str, str]:
        value = obj.get(key, {})
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) and k and v
                                                  for k, v in value.items()):
            raise UserError(f"{source}: {key} must map names to strings, like {{\"cactus\" = \"cacti\"}}")
        for k, v in value.items():
            if check_value:
                check_value(k, v)
        return dict(value)

    def article(k: str, v: str) -> None:
        if v not in ("a", "an"):
            raise UserError(f"{source}: articles.{k} must be \"a\" or \"an\", got {v!r}")

    def preposition(k: str, v: str) -> None:
        if "{stuff}" not in v:
            raise UserError(f"{source}: prepositions.{k} = {v!r} must contain {{stuff}}, e.g. \"on {{stuff}}\"")

    templates = texts("templates") or DEFAULT_TEMPLATES
    templates = templates + (texts("extra_templates") or ())
    return CaptionStyle(templates=templates, empty_templates=texts("empty_templates") or DEFAULT_EMPTY_TEMPLATES,
                        plurals=words("plurals"), articles=words("articles", article),
                        prepositions=words("prepositions", preposition))


def load_style(path: str | Path | None) -> CaptionStyle:
    """The caption style of a TOML or JSON templates file (None: the defaults)."""
    if path is None:
        return CaptionStyle()
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise UserError(f"caption templates file {p} does not exist; check --caption-templates") from None
    except OSError as exc:
        raise UserError(f"caption templates file {p} cannot be read ({exc.strerror}); check --caption-templates") from None
    if p.suffix.lower() == ".json":
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserError(f"caption templates file {p} is not valid JSON ({exc}); fix it") from None
    else:
        import tomllib

        try:
            obj = tomllib.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise UserError(f"caption templates file {p} is not valid TOML ({exc}); fix it (or use a .json file)") from None
    return style_from_dict(obj, str(p))


# ----------------------------------------------------------------------------- grammar


def display_name(category: str) -> str:
    """A category name as words: underscores become spaces."""
    return " ".join(category.replace("_", " ").split())


def _plural_word(word: str) -> str:
    low = word.lower()
    if low in IRREGULAR_PLURALS:
        plural = IRREGULAR_PLURALS[low]
        return plural if word == low else word[0] + plural[1:]
    if low.endswith("man") and len(low) > 4 and low not in ("german", "roman", "shaman", "caiman"):
        return word[:-3] + "men"
    if low.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if low.endswith("y") and len(low) > 1 and low[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def plural(noun: str, overrides: Mapping[str, str] = {}) -> str:
    """English plural of a (possibly multi-word) noun: the head word is inflected
    ("traffic light" -> "traffic lights", "cup of tea" -> "cups of tea")."""
    if noun in overrides:
        return overrides[noun]
    if " of " in noun:
        head, tail = noun.split(" of ", 1)
        return f"{plural(head, overrides)} of {tail}"
    words = noun.split(" ")
    words[-1] = _plural_word(words[-1])
    return " ".join(words)


def article(phrase: str, overrides: Mapping[str, str] = {}) -> str:
    """'a' or 'an' for a phrase, by the sound of its first word (overridable per word or phrase)."""
    if phrase in overrides:
        return overrides[phrase]
    first = phrase.split(" ", 1)[0]
    if first in overrides:
        return overrides[first]
    low = first.lower()
    if low.startswith(AN_WORDS):
        return "an"
    if low.startswith(A_PREFIXES):
        return "a"
    if len(first) > 1 and first.isupper():  # acronyms by letter name: an SUV, a TV
        return "an" if first[0] in "AEFHILMNORSX" else "a"
    return "an" if low[:1] in "aeiou" else "a"


def number_word(n: int) -> str:
    return NUMBER_WORDS[n] if 0 <= n < len(NUMBER_WORDS) else str(n)


def counted(n: int, noun: str, adjectives: Sequence[str] = (), style: CaptionStyle = CaptionStyle()) -> str:
    """'a red box', 'an apple', 'two boxes', 'three people'."""
    words = " ".join([*adjectives, noun if n == 1 else plural(noun, style.plurals)])
    if n == 1:
        return f"{article(words, style.articles)} {words}"
    return f"{number_word(n)} {words}"


def join(items: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def color_name(rgb: Sequence[float] | None) -> str | None:
    """A basic colour word for an sRGB colour (components 0..1), or None if not given."""
    if rgb is None or len(rgb) < 3:
        return None
    try:
        r, g, b = (min(1.0, max(0.0, float(c))) for c in rgb[:3])
    except (TypeError, ValueError):
        return None
    h, s, v = colorsys.rgb_to_hsv(r, g, b)
    if v < 0.18:
        return "black"
    if s < 0.18:
        return "white" if v > 0.85 else "gray"
    hue = h * 360
    if hue < 15 or hue >= 345:
        return "red" if v > 0.45 or s < 0.5 else "brown"
    if hue < 45:
        return "orange" if v > 0.65 else "brown"
    if hue < 70:
        return "yellow"
    if hue < 165:
        return "green"
    if hue < 255:
        return "blue"
    if hue < 290:
        return "purple"
    return "pink"


COLOR_WORDS = ("black", "white", "gray", "red", "brown", "orange", "yellow", "green", "blue", "purple", "pink")
SIZE_WORDS = ("large", "small")


# ----------------------------------------------------------------------------- facts


@dataclass(frozen=True)
class Seen:
    """One visible thing: exactly one annotation of instances.json.

    ``occluders``: indices (into the frame's objects) of things whose outline borders
    this one and is nearer, -1 for a nearer unmarked or stuff surface; None when the
    frame has no depth pass (unknown).
    """

    category: str
    bbox: tuple[float, float, float, float]
    area: int
    color: tuple[float, float, float] | None = None
    depth: float | None = None
    truncated: bool = False
    occluders: tuple[int, ...] | None = None


@dataclass(frozen=True)
class FrameFacts:
    """What a frame shows: its things and its stuff ((name, area), largest first)."""

    width: int
    height: int
    objects: tuple[Seen, ...] = ()
    stuff: tuple[tuple[str, int], ...] = ()


def touches_border(bbox: Sequence[float], width: int, height: int, eps: float = 1e-6) -> bool:
    """True when the box touches the image border (the object may continue outside)."""
    x, y, w, h = bbox
    return x <= eps or y <= eps or x + w >= width - eps or y + h >= height - eps


def occlusion_pairs(mask: np.ndarray, depth: np.ndarray, labels: Iterable[int], tolerance: float,
                    min_pixels: int = 2) -> dict[int, set[int]]:
    """For each label in ``labels``: the labels whose pixels border it and are nearer by more than
    ``tolerance`` along at least ``min_pixels`` pixel edges (0 = an unlabelled surface).

    Vectorized over all 4-neighbour pixel pairs of the frame.
    """
    wanted = np.zeros(int(mask.max(initial=0)) + 1, bool)
    labels = [int(v) for v in labels]
    wanted[[v for v in labels if v < wanted.size]] = True
    surface = depth < WORLD_DEPTH
    keys = []
    for a, b, da, db, sb in (
        (mask[:, :-1], mask[:, 1:], depth[:, :-1], depth[:, 1:], surface[:, 1:]),
        (mask[:, 1:], mask[:, :-1], depth[:, 1:], depth[:, :-1], surface[:, :-1]),
        (mask[:-1, :], mask[1:, :], depth[:-1, :], depth[1:, :], surface[1:, :]),
        (mask[1:, :], mask[:-1, :], depth[1:, :], depth[:-1, :], surface[:-1, :]),
    ):
        hit = (a != b) & wanted[a] & sb & (db < da - tolerance)
        if hit.any():
            keys.append(a[hit].astype(np.int64) * 65536 + b[hit].astype(np.int64))
    out: dict[int, set[int]] = {v: set() for v in labels}
    if keys:
        uniq, counts = np.unique(np.concatenate(keys), return_counts=True)
        for key, n in zip(uniq.tolist(), counts.tolist()):
            if n >= min_pixels:
                out[key // 65536].add(key % 65536)
    return out


def frame_facts(mask: np.ndarray, depth: np.ndarray | None, things: Sequence[tuple[int, dict]],
                category_names: Mapping[int, str], instances: Mapping[int, dict],
                stuff: Sequence[dict] = (), tolerance: float = 0.15) -> FrameFacts:
    """Facts of one frame. ``things``: (pass index, annotation) as in instances.json;
    ``instances``: the record's instance per pass index (for ``color``); ``stuff``: the
    frame's stuff annotations (``other`` is not mentioned in captions)."""
    h, w = mask.shape
    labels = [label for label, _ in things]
    depths: dict[int, float] = {}
    occ: dict[int, set[int]] | None = None
    if depth is not None and labels:
        finite = np.where(depth < WORLD_DEPTH, depth, 0.0).astype(np.float64)
        size = int(mask.max(initial=0)) + 1
        sums = np.bincount(mask.ravel(), weights=finite.ravel(), minlength=size)
        cnts = np.bincount(mask.ravel(), minlength=size)
        depths = {v: float(sums[v] / cnts[v]) for v in labels if v < size and cnts[v]}
        occ = occlusion_pairs(mask, depth, labels, tolerance)
    index = {label: i for i, label in enumerate(labels)}
    objects = []
    for label, ann in things:
        color = instances.get(label, {}).get("color")
        rgb = tuple(float(c) for c in color[:3]) if isinstance(color, (list, tuple)) and len(color) >= 3 else None
        occluders = None
        if occ is not None:
            occluders = tuple(sorted({index.get(o, -1) for o in occ.get(label, ())}))
        objects.append(Seen(category=category_names[ann["category_id"]], bbox=tuple(ann["bbox"]), area=int(ann["area"]),
                            color=rgb, depth=depths.get(label), truncated=touches_border(ann["bbox"], w, h),
                            occluders=occluders))
    regions = sorted(((category_names[a["category_id"]], int(a["area"])) for a in stuff
                      if category_names.get(a["category_id"]) not in (None, OTHER)), key=lambda t: (-t[1], t[0]))
    return FrameFacts(w, h, tuple(objects), tuple(regions))


# ----------------------------------------------------------------------------- sentences


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
        words = re.findall(r"[a-z]+", name.lower())
        for table in (self.style.prepositions, PREPOSITIONS):
            if name in table:
                return table[name]
            found = next((table[w] for w in reversed(words) if w in table), None)
            if found is not None:
                return found
        return DEFAULT_PREPOSITION

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

    text = _PLACEHOLDER.sub(sub, template)
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
    return np.random.default_rng([int(seed), int(image_id)])

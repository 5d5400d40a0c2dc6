"""English for captions: plurals, articles, number words, lists and stuff prepositions.

* :func:`display_name` -- a category name as words (``traffic_light`` -> ``traffic light``).
* :func:`plural` -- the head word inflected (``cup of tea`` -> ``cups of tea``), with
  :data:`IRREGULAR_PLURALS` and user overrides.
* :func:`article` -- ``a`` or ``an`` by the sound of the first word (``an hour``,
  ``a unicorn``, ``an SUV``), overridable per word or phrase.
* :func:`number_word`, :func:`counted` -- ``two boxes``, ``a red box``, ``an apple``.
* :func:`join` -- ``a``, ``a and b``, ``a, b and c``.
* :func:`preposition` -- how things stand relative to a stuff region (``on {stuff}``
  for a floor, ``under {stuff}`` for the sky; :data:`PREPOSITIONS`), by its last
  known word, user overrides first.

Overrides are the :class:`~.style.CaptionStyle` tables (``plurals``, ``articles``,
``prepositions``).
"""

from __future__ import annotations

import re
from typing import Mapping, Sequence

from blender_coco.coco.captions.style import CaptionStyle

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


def preposition(name: str, overrides: Mapping[str, str] = {}) -> str:
    """The phrase template placing things relative to stuff ``name`` (overrides first, then built in):
    the whole name, else its last word found in a table, else :data:`DEFAULT_PREPOSITION`."""
    words = re.findall(r"[a-z]+", name.lower())
    for table in (overrides, PREPOSITIONS):
        if name in table:
            return table[name]
        found = next((table[w] for w in reversed(words) if w in table), None)
        if found is not None:
            return found
    return DEFAULT_PREPOSITION

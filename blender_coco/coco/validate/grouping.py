"""Problems as the CLI prints them: identical problems of many items said once, with a count.

::

    grouped_lines(problems, examples=3) -> [str]

Problems are identical when their message is the same and their ``where`` names the
same kind of item (``annotation 7 (image 3)`` and ``annotation 9 (image 1)`` are both
annotations). Such a group becomes one line at the place of its first problem, e.g.
``977 annotations have no 'iscrowd' (e.g. annotation 1, 2, 3)``; a problem without
a twin keeps its own line (``str(problem)``). Messages that carry values (an area,
a path) differ, so they stay one line each. :func:`~blender_coco.coco.validate.validate_coco`
keeps returning every problem; only the printing groups.
"""

from __future__ import annotations

import re

from blender_coco.coco.validate.common import Problem

#: ``where`` of one item: kind, id, and the rest (``(image 3)``), e.g. ``annotation 7 (image 3)``.
_ITEM = re.compile(r"^(annotation|image|category|segment) (\S+)(?: \(.*\))?$")
#: ``where`` of a list entry without a usable id, e.g. ``annotations[4]``.
_ENTRY = re.compile(r"^(\w+)\[(\d+)\]$")
#: ``where`` of a panoptic annotation, named by its image.
_PANOPTIC = re.compile(r"^panoptic annotation \(image (\S+)\)$")

_PLURAL = {"annotation": "annotations", "image": "images", "category": "categories", "segment": "segments"}
#: A message's leading verb, said of one item -> said of many.
_VERBS = {"has": "have", "is": "are", "does": "do", "names": "name", "needs": "need", "overlaps": "overlap",
          "starts": "start", "ends": "end"}


def _kind(where: str) -> tuple[str, str, str] | None:
    """(group key, plural subject, example label) of ``where``, or None if it names no item kind."""
    if m := _ITEM.match(where):
        kind = m.group(1)
        return kind, _PLURAL[kind], m.group(2)
    if m := _PANOPTIC.match(where):
        return "panoptic", "panoptic annotations", m.group(1)
    if m := _ENTRY.match(where):
        return f"{m.group(1)}[]", f"entries of '{m.group(1)}'", where
    return None


def _sentence(subject: str, message: str) -> str:
    """``annotations`` + ``has no 'iscrowd'`` -> ``annotations have no 'iscrowd'``."""
    verb, sep, rest = message.partition(" ")
    if verb in _VERBS:
        return f"{subject} {_VERBS[verb]}{sep}{rest}"
    return f"{subject}: {message}"


def grouped_lines(problems: list[Problem], examples: int = 3) -> list[str]:
    """One line per problem, except that identical problems of two or more items of one
    kind become one line with their count and the ids of the first ``examples``."""
    groups: dict[tuple[str, str], list[tuple[Problem, str]]] = {}
    order: list[tuple[str, str] | Problem] = []
    subjects: dict[str, str] = {}
    for p in problems:
        kind = _kind(p.where)
        if kind is None:
            order.append(p)
            continue
        key = (kind[0], p.message)
        if key not in groups:
            groups[key] = []
            order.append(key)
        subjects[kind[0]] = kind[1]
        groups[key].append((p, kind[2]))
    lines = []
    for item in order:
        if isinstance(item, Problem):
            lines.append(str(item))
            continue
        members = groups[item]
        if len(members) == 1:
            lines.append(str(members[0][0]))
            continue
        kind, message = item
        shown = ", ".join(label for _, label in members[:examples])
        prefix = "" if kind.endswith("[]") else ("image " if kind == "panoptic" else f"{kind} ")
        more = "e.g. " if len(members) > examples else ""
        lines.append(f"{len(members)} {_sentence(subjects[kind], message)} ({more}{prefix}{shown})")
    return lines

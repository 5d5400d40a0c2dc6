"""Categories: names, keypoint names and skeletons.

* :func:`check_category_names` -- non-empty, unique names.
* :func:`check_category` -- ``keypoints`` a list of unique strings (its length K is
  recorded for the annotations; a category naming none, missing or ``[]`` as
  datumaro writes, has an unknown K), ``skeleton`` pairs of 1-based indices in 1..K
  (not range-checked when K is unknown: it indexes names that are not there).
"""

from __future__ import annotations

from collections import Counter, defaultdict

from blender_coco.coco.validate.common import Report
from blender_coco.values import is_int, short


def check_category_names(report: Report) -> None:
    """Every indexed category has a non-empty name, used once."""
    names: dict[str, list[int]] = defaultdict(list)
    for cat_id, cat in report.categories.items():
        name = cat.get("name")
        if not (isinstance(name, str) and name.strip()):
            report.add(f"category {cat_id}", f"'name' must be a non-empty string, got {short(name)}")
        else:
            names[name].append(cat_id)
    for name, ids in names.items():
        if len(ids) > 1:
            report.add(f"category {ids[1]}", f"name {name!r} is also used by category {ids[0]}; names must be unique")


def check_category(report: Report, cat_id: int, cat: dict) -> None:
    """Keypoint names and skeleton; records the category's K in ``report.num_keypoints``."""
    where = f"category {cat_id}"
    kps = cat.get("keypoints")
    k: int | None = None
    if kps is not None:
        if not (isinstance(kps, list) and all(isinstance(n, str) for n in kps)):
            report.add(where, f"'keypoints' must be a list of names, got {short(kps)}")
        else:
            dup = sorted(n for n, c in Counter(kps).items() if c > 1)
            if dup:
                report.add(where, f"keypoint names must be unique, repeated: {', '.join(dup)}")
            k = len(kps) or None
    report.num_keypoints[cat_id] = k
    skel = cat.get("skeleton")
    if skel is None:
        return
    if not isinstance(skel, list):
        report.add(where, f"'skeleton' must be a list of [a, b] pairs, got {short(skel)}")
        return
    for j, pair in enumerate(skel):
        if not (isinstance(pair, list) and len(pair) == 2 and all(is_int(v) for v in pair)):
            report.add(where, f"skeleton[{j}] must be a pair of integers, got {short(pair)}")
        elif k is not None and not all(1 <= v <= k for v in pair):
            report.add(where, f"skeleton[{j}] = {pair} must index keypoints 1..{k} (skeleton indices are 1-based)")

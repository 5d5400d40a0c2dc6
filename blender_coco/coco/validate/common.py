"""What every validate check shares: the :class:`Problem` type, the :class:`Report` a
run fills, ids and the top-level lists, and the bbox rule (boxes and panoptic segments).

* :class:`Problem` -- one line: ``where`` (``annotation 7 (image 3)``) and ``message``.
* :class:`Report` -- the problems found so far, in order, and what the checks of one
  file learn for the next ones: images and categories by id, each category's
  number of keypoints; :meth:`Report.image_size` an image's (height, width), None
  for one whose masks must not be rasterized.
* :func:`top_list` -- a top-level list (``images``, ...), reporting its absence.
* :func:`index_ids` -- ``{id: item}``, reporting bad and duplicate ids (ids must be
  positive: COCOeval never matches a ground truth with id 0).
* :func:`check_bbox` -- 4 finite numbers, w and h >= 0, inside the image within
  :data:`BBOX_EPS` px.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from blender_coco.coco.segmentation import too_large
from blender_coco.values import all_finite, is_int, short

#: A bbox may pass the image edge by this many pixels. COCO stores coordinates with
#: two decimals and rounds x and w separately, so x + w can exceed the edge by 0.01.
BBOX_EPS = 0.01 + 1e-9


@dataclass(frozen=True)
class Problem:
    """One problem: ``where`` names the item (``annotation 7 (image 3)``), ``message`` what is wrong."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class Report:
    """One validation run: its problems, and the file's indexed items.

    Each problem is filed under the current :attr:`key` (a tuple: the file's section,
    then the item's position, ...); :meth:`ordered` sorts by it, so a file read as a
    stream, whose categories come after its annotations, lists its problems in the
    same order as one checked whole.
    """

    problems: list[Problem] = field(default_factory=list)
    key: tuple = (0,)
    keys: list[tuple] = field(default_factory=list)
    _sizes: dict[int, tuple[int, int] | None] = field(default_factory=dict)
    images: dict[int, dict] = field(default_factory=dict)
    categories: dict[int, dict] = field(default_factory=dict)
    num_keypoints: dict[int, int | None] = field(default_factory=dict)  # category id -> K (None: names not given)
    polygon_tolerance: float | None = None  # info.polygon_tolerance: the polygons' simplification, px
    info_read: bool = False  # False while a streamed file's info is still to come
    pending_areas: list[tuple] = field(default_factory=list)  # polygon areas to judge once info is read

    def add(self, where: str | Callable[[], str], message: str) -> None:
        """File a problem; ``where`` may be a function that names the item (built only when needed)."""
        self.problems.append(Problem(where if isinstance(where, str) else where(), message))
        self.keys.append(self.key)

    def ordered(self) -> list[Problem]:
        """The problems sorted by their keys (ties: in the order found)."""
        order = sorted(range(len(self.problems)), key=self.keys.__getitem__)
        return [self.problems[i] for i in order]

    def image_size(self, img_id: Any) -> tuple[int, int] | None:
        """(height, width) of a known image with valid sizes, else None (also for an image
        too large to rasterize: :func:`blender_coco.coco.segmentation.too_large`)."""
        if not is_int(img_id):
            return None
        if img_id not in self._sizes:
            self._sizes[img_id] = self._image_size(img_id)
        return self._sizes[img_id]

    def _image_size(self, img_id: int) -> tuple[int, int] | None:
        img = self.images.get(img_id)
        if img is None:
            return None
        h, w = img.get("height"), img.get("width")
        ok = is_int(h) and is_int(w) and h > 0 and w > 0 and not too_large(h, w)
        return (h, w) if ok else None


def top_list(report: Report, data: dict, key: str, *, required: bool) -> list:
    """``data[key]`` if it is a list, else ``[]`` (reported when present or ``required``)."""
    if key not in data:
        if required:
            report.add("file", f"required key '{key}' is missing")
        return []
    value = data[key]
    if not isinstance(value, list):
        report.add("file", f"'{key}' must be a list, got {type(value).__name__}")
        return []
    return value


PLURALS = {"image": "images", "annotation": "annotations", "category": "categories"}


def check_id(report: Report, item: dict, kind: str, pos: int) -> int | None:
    """``item``'s id when it is an integer (0 and negatives included, reported), else None (reported:
    missing or not an integer). ``pos``: the item's index in the file's list of ``kind``."""
    plural = PLURALS[kind]
    if "id" not in item:
        report.add(f"{plural}[{pos}]", "has no 'id'")
        return None
    item_id = item["id"]
    if not is_int(item_id) or item_id <= 0:
        report.add(f"{kind} {short(item_id)}", f"id must be a positive integer, got {short(item_id)} ({plural}[{pos}])"
                   + ("; COCOeval never matches a ground truth with id 0" if item_id == 0 and kind == "annotation" else ""))
        if not is_int(item_id):
            return None
    return item_id


def index_ids(report: Report, items: list, kind: str, positions: list[int] | None = None) -> dict[int, dict]:
    """{id: item} of the items with a valid id; reports bad and duplicate ids.

    ``kind``: image, annotation or category; ``positions``: each item's index in the
    file's list, when ``items`` is a selection of it.
    """
    plural = PLURALS[kind]
    out: dict[int, dict] = {}
    first: dict[int, int] = {}
    dups: dict[int, list[int]] = {}
    for n, item in enumerate(items):
        pos = positions[n] if positions else n
        if not isinstance(item, dict):
            if kind != "annotation":
                report.add(f"{plural}[{pos}]", f"must be a JSON object, got {type(item).__name__}")
            continue
        item_id = check_id(report, item, kind, pos)
        if item_id is None:
            continue
        if item_id in first:
            dups.setdefault(item_id, [first[item_id]]).append(pos)
            continue
        first[item_id] = pos
        out[item_id] = item
    for item_id, where in dups.items():
        listed = ", ".join(f"{plural}[{p}]" for p in where)
        report.add(f"{kind} {item_id}", f"duplicate id: used {len(where)} times ({listed}); ids must be unique")
    return out


def check_bbox(report: Report, where: str, bbox: Any, size: tuple[int, int] | None) -> None:
    """A box of 4 finite numbers, not negative, inside the image of ``size`` (height, width) if known."""
    if not (isinstance(bbox, list) and len(bbox) == 4 and all_finite(bbox)):
        report.add(where, f"bbox must be [x, y, w, h] (4 finite numbers), got {short(bbox)}")
        return
    x, y, w, h = bbox
    if w < 0 or h < 0:
        report.add(where, f"bbox {bbox} has a negative width or height")
        return
    if x < -BBOX_EPS or y < -BBOX_EPS:
        report.add(where, f"bbox {bbox} starts outside the image (negative x or y)")
    if size is not None:
        ih, iw = size
        if x + w > iw + BBOX_EPS or y + h > ih + BBOX_EPS:
            report.add(where, f"bbox {bbox} ends at ({x + w:g}, {y + h:g}), past the image's {iw}x{ih}")

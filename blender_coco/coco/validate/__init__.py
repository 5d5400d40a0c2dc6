"""Validate a COCO file: structure and meaning, every problem as one line.

* :func:`validate_coco` -- every :class:`Problem` of a loaded COCO file (plus, on
  request, its image files and panoptic PNGs); ``[]`` when it is clean.
* :func:`validate_file` -- the same for a file read as a stream, in bounded memory
  (what ``blender-coco validate`` uses: a 2M-annotation file of 850 MB validates in
  under 1 GB, where loading it whole takes 6-8 GB).
* :func:`summary` -- one line: what the file holds and how many problems.

It is a pure function of the loaded JSON. It never stops at the first problem: it
returns every problem it finds, each naming the image, annotation or category id,
so a user can fix a file in one pass. ``blender-coco validate`` prints them. The
export stage does not validate what it writes; the test suite does, on every kind
of file it writes.

The rules, one module per file kind (see :mod:`blender_coco.coco.dataset` for the
format's conventions):

* :mod:`.common` -- the top level: a JSON object with ``images`` and ``annotations``
  lists; ``categories`` a list (required once any annotation carries a box, mask or
  keypoints); ``info`` an object and ``licenses`` a list when present
  (``info.polygon_tolerance``, when given, a number of pixels: see :mod:`.instances`). Ids: positive
  integers, unique per kind (COCOeval stores the matched ground-truth id in
  ``dtMatches`` and tests it with ``> 0``, so a ground-truth annotation with id 0 is
  never matched: id 0 is a real problem, not pedantry). ``bbox``: 4 finite numbers,
  w and h >= 0, inside the image within ``BBOX_EPS`` px.
* :mod:`.images` -- image entries; with ``images_dir`` each file exists and its
  header's size equals ``width`` x ``height``.
* :mod:`.categories` -- non-empty unique names; ``keypoints`` unique strings;
  ``skeleton`` pairs of 1-based indices in 1..K.
* :mod:`.instances` -- instance annotations: references, ``bbox``, ``area`` (> 0 and
  consistent with the segmentation: polygons cannot express holes, so for polygons
  only an area *larger* than the polygons' is flagged; RLE areas both ways; not
  for crowd regions, whose COCO areas are not pixel counts),
  ``iscrowd``, ``segmentation`` (polygons and RLE, checked by
  :func:`blender_coco.coco.segmentation.segmentation_error` before pycocotools sees
  them) and keypoints; :mod:`.amodal` -- the amodal keys (all five, amodal mask inside
  the image and containing the visible one, ``area <= amodal_area``, fractions in range).
* :mod:`.panoptic` -- annotations with ``segments_info`` and, with ``panoptic_dir``,
  their PNGs as panopticapi's ``pq_compute`` reads them.
* :mod:`.stuff` -- ``kind="stuff"`` (the CLI assumes it for files named
  ``stuff*.json``): one region per (image, category), regions do not overlap.
* :mod:`.captions` -- annotations with ``caption``: a non-empty string on a known image.
* :mod:`.checker` -- the run over one file (:class:`~.checker.Checker`), fed its
  top-level values and annotations in file order, so that a streamed file and a
  loaded one give the same problems; it orders them by section (below).
* :mod:`.grouping` -- how ``blender-coco validate`` prints them: identical problems of
  many items as one line with a count (``977 annotations have no 'iscrowd' (e.g.
  annotation 1, 2, 3)``); this API keeps every problem.

Problems come in this order: the top level, images, categories, annotations (file
order), panoptic annotations, the panoptic file and PNGs, stuff, keypoint lengths,
image files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from blender_coco.coco.validate.checker import Checker
from blender_coco.coco.validate.common import Problem

__all__ = ["Problem", "summary", "validate_coco", "validate_file"]


def validate_coco(data: Any, images_dir: Path | None = None, panoptic_dir: Path | None = None,
                  kind: str | None = None) -> list[Problem]:
    """Every problem in a loaded COCO file, in file order per kind; ``[]`` when it is clean.

    ``images_dir``: also check that each image file exists there and has the JSON's size.
    ``panoptic_dir``: the folder of a panoptic file's segment PNGs, checked against it.
    ``kind``: ``"stuff"`` adds the stuff rules (others are recognised by their content).
    """
    checker = Checker(images_dir, panoptic_dir, kind)
    if not isinstance(data, dict):
        checker.top(data)
    else:
        anns = data.get("annotations")
        for key, value in data.items():
            if key != "annotations" or not isinstance(anns, list):
                checker.key(key, value)
        checker.report.info_read = True  # every other key is read before the annotations
        if isinstance(anns, list):
            checker.annotations()
            for pos, ann in enumerate(anns):
                checker.annotation(pos, ann)
    return checker.finish()


class FileReport(NamedTuple):
    """What :func:`validate_file` found: the problems, what the file holds (for
    :func:`summary`), and whether it has panoptic annotations."""

    problems: list[Problem]
    held: str
    panoptic: bool


def validate_file(path: str | Path, images_dir: Path | None = None, panoptic_dir: Path | None = None,
                  kind: str | None = None) -> FileReport:
    """:func:`validate_coco` of a COCO file read as a stream
    (:func:`blender_coco.coco.jsonstream.iter_coco`): one annotation in memory at a time,
    plus a few values per annotation while the categories are not yet read (they
    usually come last). The problems are the same, in the same order."""
    from blender_coco.coco.jsonstream import iter_coco

    checker = Checker(images_dir, panoptic_dir, kind)
    for what, key, value in iter_coco(path):
        if what == "annotation":
            checker.annotation(key, value)
        elif what == "annotations":
            checker.annotations()
        elif what == "key":
            checker.key(key, value)
        else:
            checker.top(value)
    problems = checker.finish()
    return FileReport(problems, checker.held(), bool(checker.panoptic))


def summary(data: Any, problems: list[Problem], held: str | None = None) -> str:
    """One line: what the file holds (``held``, as :func:`validate_file` says it, or counted
    in ``data``) and how many problems were found."""
    if held is None:
        counts = []
        if isinstance(data, dict):
            for key in ("images", "annotations", "categories"):
                if isinstance(data.get(key), list):
                    n = len(data[key])
                    counts.append(f"{n} {key if n != 1 else key[:-1].replace('categorie', 'category')}")
        held = ", ".join(counts) or "nothing recognisable"
    if not problems:
        return f"OK: no problems ({held})"
    n = len(problems)
    return f"{n} problem{'s' if n != 1 else ''} found ({held})"

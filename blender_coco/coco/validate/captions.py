"""Captions files (annotations with ``caption``): a non-empty string on a known image.

The image reference is checked with the other annotation fields
(:func:`blender_coco.coco.validate.instances.check_annotation`, which calls
:func:`check_caption`); captions need no categories.
"""

from __future__ import annotations

from blender_coco.coco.validate.common import Report


def check_caption(report: Report, where: str, ann: dict) -> None:
    """``caption``, when present, is a string with words in it."""
    if "caption" in ann and not isinstance(ann["caption"], str):
        report.add(where, f"'caption' must be a string, got {type(ann['caption']).__name__}")
    elif "caption" in ann and not ann["caption"].strip():
        report.add(where, "'caption' is empty; write a sentence or drop the annotation")

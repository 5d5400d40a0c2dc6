"""Built-in keypoint maps ("presets") for common rig namings, starting with COCO's 17 person keypoints.

A *bone map* is a list of ``[keypoint_name, bone_name, "head" | "tail"]`` in the
category's keypoint order. A preset is a list of candidate bone maps, one per rig
naming (Rigify metarig, Mixamo, Unreal mannequin), tried in order:
:func:`resolve_preset` picks the first candidate whose bones all exist in the
armature, allowing any common name prefix (``mixamorig:``, ``mixamorig1:``,
``ORG-``, ``DEF-``, ...) as long as one prefix fits every bone of the map.

A bone of ``None`` means "this rig has no bone for that keypoint": the keypoint
is kept in the category (so every dataset has COCO's 17 names in COCO's order)
but is never labelled (v = 0). Candidates with such gaps come after the complete
ones: Mixamo and Unreal rigs have no nose or ear bones.

Placement (COCO "left" is the person's left, Rigify ``.L``, Mixamo ``Left``):
joints sit at the head of the bone that starts at the joint (left_elbow =
``forearm.L`` head, left_wrist = ``hand.L`` head, left_ankle = ``foot.L`` head,
left_hip = ``thigh.L`` head). On the Rigify metarig the nose tip is
``nose.001``'s tail, an eye is ``eye.L``'s tail (the front of the eyeball, where
annotators click the pupil) and an ear is ``ear.L``'s head (where the ear meets
the head), all checked on the metarig of Blender 5.0.

Pure Python (no bpy, no numpy): it runs in Blender 3.4's Python 3.10 as well.
"""

from __future__ import annotations

import logging
from typing import Iterable, List, Optional, Sequence

from blender_coco.errors import UserError

log = logging.getLogger(__name__)

COCO17_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)

# 1-based pairs, exactly as in COCO's person_keypoints files.
COCO17_SKELETON = (
    (16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7), (6, 8),
    (7, 9), (8, 10), (9, 11), (2, 3), (1, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7),
)

_FACE = ("nose", "left_eye", "right_eye", "left_ear", "right_ear")


def _body(shoulder: str, elbow: str, wrist: str, hip: str, knee: str, ankle: str,
          left: str, right: str) -> list:
    """The 12 body keypoints, each at the head of the bone starting at that joint."""
    out = []
    for joint, pattern in (("shoulder", shoulder), ("elbow", elbow), ("wrist", wrist),
                           ("hip", hip), ("knee", knee), ("ankle", ankle)):
        out.append([f"left_{joint}", pattern.format(side=left), "head"])
        out.append([f"right_{joint}", pattern.format(side=right), "head"])
    return out


def _coco17(face: Optional[dict], body: list) -> list:
    """A full COCO-17 map in COCO order from a face dict (or None) and the body list."""
    face = face or {}
    by_name = {e[0]: e for e in body}
    out = []
    for name in COCO17_NAMES:
        if name in by_name:
            out.append(list(by_name[name]))
        else:
            bone, end = face.get(name, (None, "head"))
            out.append([name, bone, end])
    return out


_RIGIFY_BODY = _body("upper_arm.{side}", "forearm.{side}", "hand.{side}",
                     "thigh.{side}", "shin.{side}", "foot.{side}", "L", "R")
_RIGIFY_FACE = {
    "nose": ("nose.001", "tail"),
    "left_eye": ("eye.L", "tail"), "right_eye": ("eye.R", "tail"),
    "left_ear": ("ear.L", "head"), "right_ear": ("ear.R", "head"),
}
_MIXAMO_BODY = _body("{side}Arm", "{side}ForeArm", "{side}Hand",
                     "{side}UpLeg", "{side}Leg", "{side}Foot", "Left", "Right")
_MIXAMO_EYES = {"left_eye": ("LeftEye", "head"), "right_eye": ("RightEye", "head")}
_UNREAL_BODY = _body("upperarm_{side}", "lowerarm_{side}", "hand_{side}",
                     "thigh_{side}", "calf_{side}", "foot_{side}", "l", "r")

# preset name -> [(rig label, bone map), ...], most complete first.
_CANDIDATES = {
    "coco17": [
        ("Rigify human metarig", _coco17(_RIGIFY_FACE, _RIGIFY_BODY)),
        ("Mixamo (with eye bones)", _coco17(_MIXAMO_EYES, _MIXAMO_BODY)),
        ("Rigify metarig without face bones", _coco17(None, _RIGIFY_BODY)),
        ("Mixamo", _coco17(None, _MIXAMO_BODY)),
        ("Unreal mannequin", _coco17(None, _UNREAL_BODY)),
    ],
}

PRESETS = {name: [m for _, m in cands] for name, cands in _CANDIDATES.items()}
PRESET_RIGS = {name: [label for label, _ in cands] for name, cands in _CANDIDATES.items()}
PRESET_KEYPOINTS = {"coco17": COCO17_NAMES}
PRESET_SKELETONS = {"coco17": COCO17_SKELETON}

# Prefixes tried first when several fit (then any other, shortest first).
_PREFERRED_PREFIXES = ("", "ORG-", "DEF-", "mixamorig:")


def _prefixes(bone_map: Sequence, bone_names: Iterable[str]) -> List[str]:
    """Prefixes p such that p + anchor is a bone, for the map's first bone, in preference order."""
    anchor = next((b for _, b, _ in bone_map if b), None)
    if anchor is None:
        return [""]
    found = {n[: len(n) - len(anchor)] for n in bone_names if n.endswith(anchor)}
    rank = {p: i for i, p in enumerate(_PREFERRED_PREFIXES)}
    return sorted(found, key=lambda p: (rank.get(p, len(rank)), len(p), p))


def _missing(bone_map: Sequence, prefix: str, names: set) -> List[str]:
    return [prefix + b for _, b, _ in bone_map if b and prefix + b not in names]


def resolve_preset(name: str, bone_names: Iterable[str]) -> List[list]:
    """The preset's bone map fitted to an armature: ``[[keypoint, bone, "head"|"tail"], ...]``.

    ``bone_names`` are the armature's bone names. The first candidate map (in
    :data:`PRESETS` order) whose bones all exist under one common prefix wins;
    bones come back with that prefix. ``bone`` is None for keypoints the rig has no
    bone for (never labelled). Raises :class:`UserError` naming the preset and
    the missing bones of the closest candidate when none fits.
    """
    if name not in _CANDIDATES:
        raise UserError(
            f"unknown keypoint preset {name!r}; use one of {', '.join(sorted(_CANDIDATES))} "
            f"or a JSON list like [[\"nose\", \"Head\", \"tail\"], [\"neck\", \"Neck\"]]"
        )
    names = set(bone_names)
    best = None  # (missing count, rig label, missing bones)
    for label, bone_map in _CANDIDATES[name]:
        for prefix in _prefixes(bone_map, names) or [""]:
            missing = _missing(bone_map, prefix, names)
            if not missing:
                gaps = [kp for kp, b, _ in bone_map if not b]
                if gaps:
                    log.warning("keypoint preset %r: fitted the %s naming, which has no bones for %s; "
                                "those keypoints are never labelled (v=0)", name, label, ", ".join(gaps))
                else:
                    log.debug("keypoint preset %r: fitted the %s naming (prefix %r)", name, label, prefix)
                return [[kp, prefix + b if b else None, end] for kp, b, end in bone_map]
            if best is None or len(missing) < best[0]:
                best = (len(missing), label, missing)
    _, label, missing = best if best is not None else (0, "none", [])
    shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
    raise UserError(
        f"keypoint preset {name!r} does not fit this armature: closest naming ({label}) lacks bones {shown}; "
        f"rename the bones or set coco_keypoints to a JSON map [[keypoint, bone], ...]"
    )

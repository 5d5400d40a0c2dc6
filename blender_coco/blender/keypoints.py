"""Keypoints from armature bones: read an armature's keypoint map and project its posed bones.

An armature marked with ``coco_category`` may carry ``coco_keypoints``: a JSON list of
``[name, bone]`` (the bone's head) or ``[name, bone, "tail"]``, or a preset name such as
``"coco17"`` (see :mod:`blender_coco.keypoint_presets`). Optional ``coco_skeleton`` is a
JSON list of ``[name_a, name_b]``; without it the skeleton is the preset's own (COCO's
for ``coco17``) or follows the bone hierarchy: each mapped bone is linked to its nearest
mapped ancestor, and a bone's head to its tail when both are mapped.

Projection uses the camera exactly as the render does: Blender's own projection matrix
(``Object.calc_matrix_camera``: perspective or orthographic, sensor fit, lens shift,
pixel aspect) at the rendered size (resolution x percentage / 100, truncated as Blender
does), and the camera's world matrix without scale. Positions come from the evaluated
pose at the current frame (actions, constraints, drivers and parenting applied):
``world = matrix_world @ pose_bone.head`` (or ``.tail``); an armature disabled in
viewports is shown for the run by :mod:`blender_coco.blender.render_match`, else
:func:`evaluated_pose` refuses it rather than read a stale pose. :func:`project_pose` places any pose by a given matrix (an
instanced copy's: :mod:`blender_coco.blender.copy_keypoints`).

Returned points are ``[x, y, depth]``: x, y continuous pixel coordinates with (0, 0) the
top-left corner of the image, and depth the distance along the camera's view axis
(planar depth). That is the convention of Cycles' Depth (Z) pass, checked on this
machine with Blender 5.0.1 and 3.4.1: a plane facing the camera 5 units away reads 5.0
in every pixel, corners included (the Euclidean distance there would be about 5.4).
Points at or behind the camera plane get ``[0.0, 0.0, None]``.

bpy and mathutils only (no numpy): this runs in Blender 3.4's Python 3.10 too.
"""

from __future__ import annotations

import difflib
import json
import logging
import math

import bpy

from blender_coco.blender.scene_info import output_size, scene_camera
from blender_coco.errors import UserError
from blender_coco.keypoint_presets import PRESET_KEYPOINTS, PRESET_SKELETONS, resolve_preset

log = logging.getLogger(__name__)

PROP_KEYPOINTS = "coco_keypoints"
PROP_SKELETON = "coco_skeleton"
ENDS = ("head", "tail")


def _close_bones(bone: str, names: list) -> str:
    close = difflib.get_close_matches(bone, names, n=5, cutoff=0.5)
    if not close:
        close = sorted(names)[:5]
        return "bones include " + ", ".join(close) + (" ..." if len(names) > 5 else "")
    return "did you mean " + ", ".join(close) + "?"


def _parse_json_prop(obj, prop: str, text: str):
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UserError(f"armature {obj.name_full!r}: custom property {prop} is not valid JSON ({exc}); "
                        f"write it like [[\"nose\", \"head_bone\", \"tail\"], [\"neck\", \"neck_bone\"]]") from None


def _parse_map(obj, data, bone_names: list) -> list:
    """Parsed JSON map -> [[name, bone or None, end], ...], validated against the armature's bones."""
    where = f"armature {obj.name_full!r}: {PROP_KEYPOINTS}"
    if not isinstance(data, list) or not data:
        raise UserError(f"{where} must be a non-empty JSON list of [name, bone] or [name, bone, \"tail\"], "
                        f"or a preset name such as \"coco17\"")
    known = set(bone_names)
    out = []
    for entry in data:
        ok = (isinstance(entry, list) and len(entry) in (2, 3) and isinstance(entry[0], str) and entry[0] != ""
              and (entry[1] is None or isinstance(entry[1], str)) and (len(entry) == 2 or entry[2] in ENDS))
        if not ok:
            raise UserError(f"{where} entry {json.dumps(entry)} must be [name, bone] or [name, bone, \"head\"|\"tail\"] "
                            f"(bone null = never labelled)")
        name, bone = entry[0], entry[1]
        end = entry[2] if len(entry) == 3 else "head"
        if bone is not None and bone not in known:
            raise UserError(f"{where} entry {json.dumps(entry)}: armature has no bone {bone!r}; "
                            f"{_close_bones(bone, bone_names)}")
        out.append([name, bone, end])
    return out


def _parse_skeleton(obj, text: str, names: list) -> list:
    data = _parse_json_prop(obj, PROP_SKELETON, text)
    where = f"armature {obj.name_full!r}: {PROP_SKELETON}"
    if not isinstance(data, list):
        raise UserError(f"{where} must be a JSON list of [keypoint_a, keypoint_b] pairs")
    index = {n: i + 1 for i, n in enumerate(names)}
    out = []
    for pair in data:
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
            raise UserError(f"{where} entry {json.dumps(pair)} must be a pair of keypoint names [\"a\", \"b\"]")
        for p in pair:
            if p not in index:
                raise UserError(f"{where} entry {json.dumps(pair)} names unknown keypoint {p!r}; "
                                f"keypoints are {', '.join(names)}")
        if pair[0] == pair[1]:
            raise UserError(f"{where} entry {json.dumps(pair)} links a keypoint to itself; remove it")
        link = [index[pair[0]], index[pair[1]]]
        if link not in out:
            out.append(link)
    return out


def _hierarchy_skeleton(obj, entries: list) -> list:
    """Link each mapped bone to its nearest mapped ancestor; a bone's head to its tail."""
    first = {}  # (bone, end) -> 1-based index of the first keypoint there
    for i, (_, bone, end) in enumerate(entries, start=1):
        if bone is not None:
            first.setdefault((bone, end), i)
    bones = obj.data.bones
    out = []
    for i, (_, bone, end) in enumerate(entries, start=1):
        if bone is None:
            continue
        parent_idx = None
        if end == "tail" and (bone, "head") in first:
            parent_idx = first[(bone, "head")]
        else:
            b = bones[bone].parent
            while b is not None and parent_idx is None:
                parent_idx = first.get((b.name, "tail")) or first.get((b.name, "head"))
                b = b.parent
        if parent_idx is not None and parent_idx != i:
            link = [parent_idx, i]
            if link not in out:
                out.append(link)
    return out


def keypoint_definition(obj) -> dict:
    """The keypoint definition of a marked armature, from its custom properties.

    Returns ``{"keypoints": [names], "skeleton": [[a, b], ...] (1-based),
    "bones": [[bone or None, "head"|"tail"], ...]}``. Raises :class:`UserError`
    (one line naming the object and the fix) for bad input.
    """
    raw = obj.get(PROP_KEYPOINTS)
    if raw is None:
        raise UserError(f"object {obj.name_full!r} has no {PROP_KEYPOINTS} custom property; add one, "
                        f"e.g. \"coco17\" or [[\"head\", \"Head\"]]")
    if obj.type != "ARMATURE":
        raise UserError(f"object {obj.name_full!r} has {PROP_KEYPOINTS} but is a {obj.type.lower()}, not an armature; "
                        f"put {PROP_KEYPOINTS} (and coco_category) on the armature object")
    if not isinstance(raw, str):
        raise UserError(f"armature {obj.name_full!r}: {PROP_KEYPOINTS} must be a string (a JSON list or a preset "
                        f"name such as \"coco17\"), got {type(raw).__name__}")
    bone_names = list(obj.data.bones.keys())
    text = raw.strip()
    preset = None
    if text[:1] in ("[", "{", '"'):
        data = _parse_json_prop(obj, PROP_KEYPOINTS, text)
        if isinstance(data, str):  # a JSON-quoted preset name
            preset = data.strip()
        else:
            entries = _parse_map(obj, data, bone_names)
    else:
        preset = text
    if preset is not None:
        try:
            entries = resolve_preset(preset, bone_names)
        except UserError as exc:
            raise exc.prefixed(f"armature {obj.name_full!r}: ") from None
    names = [e[0] for e in entries]
    seen = set()
    for n in names:
        if n in seen:
            raise UserError(f"armature {obj.name_full!r}: keypoint name {n!r} appears twice in {PROP_KEYPOINTS}; "
                            f"give every keypoint its own name")
        seen.add(n)

    sk_raw = obj.get(PROP_SKELETON)
    if sk_raw is not None:
        if not isinstance(sk_raw, str):
            raise UserError(f"armature {obj.name_full!r}: {PROP_SKELETON} must be a JSON string, "
                            f"got {type(sk_raw).__name__}")
        skeleton = _parse_skeleton(obj, sk_raw, names)
    elif preset is not None and preset in PRESET_SKELETONS and names == list(PRESET_KEYPOINTS[preset]):
        skeleton = [list(p) for p in PRESET_SKELETONS[preset]]
    else:
        skeleton = _hierarchy_skeleton(obj, entries)
    log.debug("armature %r: %d keypoints (%s), %d skeleton links", obj.name_full, len(names),
              f"preset {preset}" if preset else "custom map", len(skeleton))
    return {"keypoints": names, "skeleton": skeleton, "bones": [[b, end] for _, b, end in entries]}


def project_keypoints(scene, camera_obj, obj, definition: dict, depsgraph=None) -> list:
    """``[[x, y, depth | None], ...]`` for ``definition["bones"]`` at the current frame.

    x, y: continuous pixel coordinates, (0, 0) = top-left corner of the image.
    depth: planar depth along the view axis, the convention of Cycles' Depth pass;
    None (with x = y = 0) when the point is at or behind the camera, or the keypoint
    has no bone on this rig.
    """
    if depsgraph is None:
        depsgraph = bpy.context.evaluated_depsgraph_get()
    matrix, pose = evaluated_pose(scene, obj, depsgraph)
    return project_pose(scene, camera_obj, obj.name_full, matrix, pose, definition, depsgraph)


def evaluated_pose(scene, obj, depsgraph) -> tuple:
    """(world matrix, {bone: (head, tail)}) of armature ``obj`` evaluated at the current frame.

    The viewport depsgraph leaves out an armature disabled in viewports (its own
    ``hide_viewport`` or its collection's) unless a visible object depends on it, and the
    original then holds the pose of the last frame it was evaluated (measured on 5.0 and
    3.4: the hand 6.5 px off in tests/test_keypoint_copies.py). A run shows such objects
    for its duration (:mod:`blender_coco.blender.render_match`); one it could not show
    (read-only library data) is a one-line error here rather than a stale pose.
    """
    arm = obj.evaluated_get(depsgraph)
    if not arm.is_evaluated:
        raise UserError(f"armature {obj.name_full!r} is not evaluated by Blender at this frame (disabled in viewports), "
                        f"so its keypoints cannot be placed; enable it in viewports (its own or its collection's "
                        f"monitor icon), in its library file if it is linked")
    return arm.matrix_world, {pb.name: (pb.head, pb.tail) for pb in arm.pose.bones}


def project_pose(scene, camera_obj, name: str, matrix_world, pose: dict, definition: dict, depsgraph) -> list:
    """:func:`project_keypoints` for a pose placed anywhere: ``pose`` maps bone -> (head, tail) in
    armature space (an evaluated pose), ``matrix_world`` places it (a copy's instance matrix);
    ``name`` names the armature in messages."""
    if camera_obj is None:
        scene_camera(scene)
    if camera_obj.type != "CAMERA":
        raise UserError(f"object {camera_obj.name!r} is a {camera_obj.type.lower()}, not a camera; "
                        f"set a camera as the scene camera")
    cam = camera_obj.evaluated_get(depsgraph)
    if cam.data.type not in ("PERSP", "ORTHO"):
        raise UserError(f"camera {camera_obj.name!r} is {cam.data.type.lower()}; keypoint projection supports "
                        f"perspective and orthographic cameras: switch its type")
    width, height = output_size(scene)
    r = scene.render
    proj = cam.calc_matrix_camera(depsgraph, x=width, y=height,
                                  scale_x=r.pixel_aspect_x, scale_y=r.pixel_aspect_y)
    view = cam.matrix_world.normalized().inverted()
    to_cam = view @ matrix_world
    out = []
    for bone, end in definition["bones"]:
        if bone is None:
            out.append([0.0, 0.0, None])
            continue
        ends = pose.get(bone)
        if ends is None:
            raise UserError(f"armature {name!r} has no bone {bone!r} any more; update {PROP_KEYPOINTS}")
        p = to_cam @ ends[1 if end == "tail" else 0]
        depth = -p.z
        if not depth > 0.0 or not math.isfinite(depth):
            out.append([0.0, 0.0, None])
            continue
        clip = proj @ p.to_4d()
        x = (clip.x / clip.w + 1.0) * 0.5 * width
        y = (1.0 - clip.y / clip.w) * 0.5 * height
        out.append([x, y, depth])
    return out

"""Keypoint presets (bpy-free): COCO-17 names and skeleton match real COCO files; resolve_preset
fits Rigify, Mixamo (any prefix) and Unreal namings and names the missing bones otherwise."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from shared_assets import ASSETS, require

from blender_coco.errors import UserError
from blender_coco.keypoint_presets import (COCO17_NAMES, COCO17_SKELETON, PRESET_KEYPOINTS, PRESET_RIGS,
                                           PRESET_SKELETONS, PRESETS, resolve_preset)

ROOT = Path(__file__).resolve().parents[1]

RIGIFY_BODY = ["upper_arm.L", "forearm.L", "hand.L", "thigh.L", "shin.L", "foot.L",
               "upper_arm.R", "forearm.R", "hand.R", "thigh.R", "shin.R", "foot.R"]
RIGIFY_FACE = ["nose", "nose.001", "nose.002", "eye.L", "eye.R", "ear.L", "ear.R"]
MIXAMO_BODY = [f"{s}{b}" for s in ("Left", "Right") for b in ("Arm", "ForeArm", "Hand", "UpLeg", "Leg", "Foot")]
UNREAL_BODY = [f"{b}_{s}" for s in ("l", "r") for b in ("upperarm", "lowerarm", "hand", "thigh", "calf", "foot")]
OTHER = ["root", "spine", "spine.001", "Hips", "Spine", "Neck", "Head"]


def test_coco17_names_and_skeleton_are_those_of_real_coco_person_keypoints():
    path = require(ASSETS / "coco" / "person_keypoints" / "person_keypoints_val2017_4img.json")
    person = next(c for c in json.loads(path.read_text())["categories"] if c["name"] == "person")
    assert list(COCO17_NAMES) == person["keypoints"]
    assert [list(p) for p in COCO17_SKELETON] == person["skeleton"]
    assert PRESET_KEYPOINTS["coco17"] == COCO17_NAMES and PRESET_SKELETONS["coco17"] == COCO17_SKELETON


def test_every_candidate_map_lists_the_preset_keypoints_in_order():
    for name, maps in PRESETS.items():
        assert len(maps) == len(PRESET_RIGS[name]) >= 3
        for m in maps:
            assert [e[0] for e in m] == list(PRESET_KEYPOINTS[name])
            assert all(e[2] in ("head", "tail") for e in m)


@pytest.mark.parametrize("bones, rig, expect", [
    # Rigify metarig: complete map; joints at the head of the bone that starts there.
    (RIGIFY_BODY + RIGIFY_FACE + OTHER, "rigify", {
        "nose": ["nose.001", "tail"], "left_eye": ["eye.L", "tail"], "right_ear": ["ear.R", "head"],
        "left_shoulder": ["upper_arm.L", "head"], "left_elbow": ["forearm.L", "head"],
        "right_wrist": ["hand.R", "head"], "left_hip": ["thigh.L", "head"], "right_knee": ["shin.R", "head"],
        "left_ankle": ["foot.L", "head"]}),
    # A generated Rigify rig: ORG- bones (preferred over DEF-), controls ignored.
    ([p + b for p in ("ORG-", "DEF-") for b in RIGIFY_BODY + RIGIFY_FACE] + ["hand_ik.L", "MCH-hand.L"], "org", {
        "nose": ["ORG-nose.001", "tail"], "left_wrist": ["ORG-hand.L", "head"], "right_ankle": ["ORG-foot.R", "head"]}),
    # Mixamo with its usual prefix and eye bones: no nose or ear bones -> None.
    (["mixamorig:" + b for b in MIXAMO_BODY + ["LeftEye", "RightEye", "Hips", "Head"]], "mixamo", {
        "nose": [None, "head"], "left_ear": [None, "head"], "left_eye": ["mixamorig:LeftEye", "head"],
        "left_elbow": ["mixamorig:LeftForeArm", "head"], "right_knee": ["mixamorig:RightLeg", "head"],
        "left_hip": ["mixamorig:LeftUpLeg", "head"]}),
    # Mixamo with a numbered prefix, no eyes.
    (["mixamorig7:" + b for b in MIXAMO_BODY], "mixamo7", {
        "left_eye": [None, "head"], "right_shoulder": ["mixamorig7:RightArm", "head"]}),
    # Mixamo with the prefix stripped.
    (MIXAMO_BODY + ["Hips"], "bare", {"left_ankle": ["LeftFoot", "head"]}),
    (UNREAL_BODY + ["pelvis", "head"], "unreal", {"left_knee": ["calf_l", "head"], "nose": [None, "head"]}),
    # Rigify body without face bones (Rigify's basic human metarig).
    (RIGIFY_BODY + OTHER, "rigify-basic", {"nose": [None, "head"], "right_hip": ["thigh.R", "head"]}),
])
def test_resolve_preset_fits_common_rigs(bones, rig, expect):
    got = resolve_preset("coco17", bones)
    assert [e[0] for e in got] == list(COCO17_NAMES)
    by_name = {e[0]: [e[1], e[2]] for e in got}
    for kp, want in expect.items():
        assert by_name[kp] == want, (rig, kp)
    names = set(bones)
    assert all(b is None or b in names for b, _ in by_name.values())


def test_resolve_preset_prefers_the_complete_map():
    got = resolve_preset("coco17", RIGIFY_BODY + RIGIFY_FACE + ["mixamorig:" + b for b in MIXAMO_BODY])
    assert all(b is not None for _, b, _ in got)


@pytest.mark.parametrize("bones, needles", [
    (["Bone", "Bone.001"], ["'coco17'", "lacks bones"]),
    # one bone short of the Rigify body map: that bone is named.
    ([b for b in RIGIFY_BODY if b != "shin.R"] + RIGIFY_FACE, ["'coco17'", "shin.R", "Rigify"]),
    (["mixamorig:" + b for b in MIXAMO_BODY if b != "LeftHand"], ["mixamorig:LeftHand", "Mixamo"]),
])
def test_resolve_preset_names_the_missing_bones(bones, needles):
    with pytest.raises(UserError) as err:
        resolve_preset("coco17", bones)
    msg = str(err.value)
    assert "\n" not in msg and "JSON map" in msg
    for n in needles:
        assert n in msg


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(UserError, match=r"unknown keypoint preset 'coco18'.*coco17"):
        resolve_preset("coco18", RIGIFY_BODY)


def test_presets_module_runs_on_python_without_numpy_or_bpy():
    code = ("import sys; sys.modules['numpy'] = None; sys.modules['bpy'] = None\n"
            "from blender_coco.keypoint_presets import resolve_preset\n"
            "print(len(resolve_preset('coco17', " + repr(RIGIFY_BODY) + ")))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "17"

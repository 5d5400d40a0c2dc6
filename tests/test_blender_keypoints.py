"""Keypoints in Blender (the bpy module, in subprocesses): projection against an independent numpy
pinhole and against real renders, the depth convention of Cycles' Depth pass, COCO visibility on a
rendered scene, error messages, default skeletons, and real rigs nobody here made (the Rigify
metarig posed, CesiumMan and Fox over their glTF animations, checked against the .glb itself)."""

from __future__ import annotations

import importlib.util
import json
import math
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from shared_assets import ASSETS, require

from blender_coco.coco.keypoints import keypoint_visibility
from blender_coco.records.passes import read_passes
from blender_coco.keypoint_presets import COCO17_NAMES, COCO17_SKELETON

ROOT = Path(__file__).resolve().parents[1]
CASES = Path(__file__).resolve().parent / "kp_bpy_cases.py"

pytestmark = [
    pytest.mark.blender,
    pytest.mark.skipif(importlib.util.find_spec("bpy") is None, reason="bpy (Blender as a Python module) not installed"),
]


def run_case(case: str, out_dir: Path, blender: str | None = None) -> dict:
    """Run a case with the bpy module, or with a Blender binary (``blender -b -P``) when given."""
    cmd = ([blender, "-b", "--factory-startup", "--python-exit-code", "1", "-P", str(CASES), "--", case, str(out_dir), str(ASSETS)]
           if blender else [sys.executable, str(CASES), case, str(out_dir), str(ASSETS)])
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, f"case {case} failed:\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}"
    line = next(l for l in r.stdout.splitlines() if l.startswith("KPJSON:"))
    return json.loads(line[len("KPJSON:"):])


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    cache: dict[str, dict] = {}

    def get(name: str) -> dict:
        if name not in cache:
            cache[name] = run_case(name, tmp_path_factory.mktemp(name))
        return cache[name]
    return get


@pytest.fixture(scope="module")
def case34(tmp_path_factory, blender_binary):
    """The same cases in Debian's Blender 3.4 (Python 3.10, no numpy): the Blender layer must run there."""
    cache: dict[str, dict] = {}

    def get(name: str) -> dict:
        if name not in cache:
            cache[name] = run_case(name, tmp_path_factory.mktemp(name + "34"), blender_binary)
        return cache[name]
    return get


# ---------------------------------------------------------------- independent numpy camera


def pinhole(world: np.ndarray, cam: dict) -> np.ndarray:
    """World points -> (x, y, planar depth) in continuous pixels, top-left origin.

    Written from Blender's documented camera model (sensor fit, shift in units of the
    fitted sensor side, pixel aspect stretching the vertical extent), in float64.
    """
    m = np.array(cam["matrix_world"], float)
    rot = m[:3, :3] / np.linalg.norm(m[:3, :3], axis=0)  # the render ignores camera scale
    pc = (np.atleast_2d(world) - m[:3, 3]) @ rot
    depth = -pc[:, 2]
    w = cam["resolution_x"] * cam["percentage"] // 100
    h = cam["resolution_y"] * cam["percentage"] // 100
    assert [w, h] == cam["size"]
    ax, ay = cam["pixel_aspect_x"], cam["pixel_aspect_y"]
    ycor = ay / ax
    fit = cam["sensor_fit"]
    if fit == "AUTO":
        fit = "HORIZONTAL" if ax * w >= ay * h else "VERTICAL"
    sensor = cam["sensor_height"] if cam["sensor_fit"] == "VERTICAL" else cam["sensor_width"]
    viewfac = w if fit == "HORIZONTAL" else ycor * h  # pixels spanned by the fitted sensor side
    if cam["type"] == "PERSP":
        u, v, size = pc[:, 0] / depth, pc[:, 1] / depth, sensor / cam["lens"]
    else:
        u, v, size = pc[:, 0], pc[:, 1], cam["ortho_scale"]
    px = size / viewfac
    x = u / px + 0.5 * w - cam["shift_x"] * viewfac
    y_up = (v / px + 0.5 * ycor * h - cam["shift_y"] * viewfac) / ycor
    return np.stack([x, h - y_up, depth], axis=1)


def assert_projection(points: list, world, cam: dict, tol_px: float = 0.01) -> None:
    exp = pinhole(np.asarray(world, float), cam)
    for p, e in zip(points, exp):
        if e[2] <= 0:
            assert p == [0.0, 0.0, None]
            continue
        assert p[2] is not None
        assert abs(p[0] - e[0]) <= tol_px and abs(p[1] - e[1]) <= tol_px, (p, e)
        assert abs(p[2] - e[2]) <= 1e-4 * max(1.0, e[2]), (p, e)


# ---------------------------------------------------------------- projection


PROJECTION_TAGS = ["perspective", "shift", "sensor_fit_vertical", "sensor_fit_horizontal", "portrait_auto",
                   "pixel_aspect_y2", "pixel_aspect_x3", "percentage_33", "percentage_150", "orthographic",
                   "orthographic_shift_vertical_aspect", "everything_scaled_camera"]


@pytest.mark.parametrize("tag", PROJECTION_TAGS)
def test_projection_matches_numpy_pinhole(case, tag):
    data = case("projection")
    cfg = next(c for c in data["configs"] if c["tag"] == tag)
    assert_projection(cfg["points"], data["world"], cfg["camera"], tol_px=0.01)


@pytest.mark.blender_binary
def test_projection_matches_numpy_pinhole_in_blender34(case34):
    data = case34("projection")
    assert [c["tag"] for c in data["configs"]] == PROJECTION_TAGS
    for cfg in data["configs"]:
        assert_projection(cfg["points"], data["world"], cfg["camera"], tol_px=0.01)


def test_projection_settings_change_the_result_and_points_behind_the_camera_are_none(case):
    data = case("projection")
    by_tag = {c["tag"]: c for c in data["configs"]}
    for before, tag in zip(PROJECTION_TAGS, PROJECTION_TAGS[1:]):  # each step really moves the points
        prev = np.array(by_tag[before]["points"][:5], float)
        assert np.abs(np.array(by_tag[tag]["points"][:5], float)[:, :2] - prev[:, :2]).max() > 1.0, tag
    assert by_tag["percentage_33"]["camera"]["size"] == [32, 24]  # 97 * 33 // 100, 75 * 33 // 100
    persp_last = by_tag["perspective"]["points"][5]
    assert persp_last == [0.0, 0.0, None]  # behind the camera


def test_projection_matches_rendered_spheres(case):
    """Emissive spheres centred on the keypoints: their pixel centroids sit on the projected points
    (perspective with shift, vertical sensor fit, pixel aspect 1.5 and 75 %; orthographic with shift)."""
    from PIL import Image

    for shot in case("spheres")["shots"]:
        img = np.asarray(Image.open(shot["png"]).convert("RGB")).astype(int)
        assert [img.shape[1], img.shape[0]] == shot["size"]
        for color, p in zip(shot["colors"], shot["points"]):
            blob = np.all(np.abs(img - np.array(color) * 255) < 40, axis=2)
            rows, cols = np.nonzero(blob)
            assert blob.sum() >= 20, (shot["tag"], color)
            assert rows.min() > 0 and cols.min() > 0 and rows.max() < img.shape[0] - 1 and cols.max() < img.shape[1] - 1
            cx, cy = cols.mean() + 0.5, rows.mean() + 0.5
            assert abs(cx - p[0]) < 0.3 and abs(cy - p[1]) < 0.3, (shot["tag"], color, (cx, cy), p)


def test_depth_is_planar_like_cycles_depth_pass(case):
    """A wall facing the camera reads 6.0 in every pixel of the Depth pass (planar, not Euclidean),
    and the projected depth of points on a wall or a tilted plane equals the pass at their pixel."""
    data = case("depth")
    mask, depth = read_passes(data["exr"])
    wall = depth[np.abs(depth - 6.0) < 0.01]
    assert wall.size > 0.5 * depth.size and np.abs(wall - 6.0).max() < 1e-4
    corner_euclid = 6.0 * math.hypot(1.0, 18 / 30 * 1.0, 12 / 30 * 1.0)
    assert corner_euclid > 6.5 and abs(float(depth[0, 0]) - 6.0) < 1e-4
    for i, (x, y, d) in enumerate(data["points"]):
        s = float(depth[math.floor(y), math.floor(x)])
        assert abs(s - d) < (1e-3 if i < 3 else 0.08), (i, s, d)
    assert data["points"][0][2] == pytest.approx(6.0, abs=1e-5)  # off-axis point on the wall: planar
    ortho = data["ortho"]  # orthographic: depth from the camera's origin, not from clip_start
    _, depth = read_passes(ortho["exr"])
    assert abs(float(depth[0, 0]) - 6.0) < 1e-4
    for i, (x, y, d) in enumerate(ortho["points"]):
        s = float(depth[math.floor(y), math.floor(x)])
        assert abs(s - d) < (1e-3 if i < 3 else 0.08), (i, s, d)


# ---------------------------------------------------------------- visibility on a real render


def test_visibility_clear_cases_on_a_render(case):
    check_visibility_render(case("visibility"))


@pytest.mark.blender_binary
def test_visibility_clear_cases_on_a_blender34_render(case34):
    check_visibility_render(case34("visibility"))


def check_visibility_render(data):
    mask, depth = read_passes(data["exr"])
    flat, n = keypoint_visibility(data["points"], 1, mask, depth, 0.15)
    got = dict(zip(data["names"], flat[2::3]))
    assert got == {"visible": 2, "behind_torso": 1, "behind_unmarked": 1, "behind_other": 1, "open_air": 2,
                   "background": 2, "outside": 0, "behind_camera": 0}
    assert n == 6
    px = {name: (math.floor(p[0]), math.floor(p[1])) for name, p in zip(data["names"], data["points"]) if p[2]}
    # the facts behind each verdict, read from the passes
    at = lambda name: (int(mask[px[name][1], px[name][0]]), float(depth[px[name][1], px[name][0]]))  # noqa: E731
    assert at("visible")[0] == 1 and at("visible")[1] == pytest.approx(3.85, abs=1e-3)
    assert at("behind_torso") == (1, pytest.approx(3.85, abs=1e-3))
    assert at("behind_unmarked")[0] == 0 and at("behind_unmarked")[1] < 3.0
    assert at("behind_other")[0] == 2
    assert at("open_air") == (0, pytest.approx(6.0, abs=1e-3))  # the wall, behind the point
    assert at("background")[0] == 0 and at("background")[1] > 1e9  # Cycles' "nothing hit" depth
    # written coordinates: continuous minus 0.5
    i = data["names"].index("visible")
    assert flat[3 * i:3 * i + 2] == [round(data["points"][i][0] - 0.5, 2), round(data["points"][i][1] - 0.5, 2)]
    # a tolerance beyond the torso's depth makes the far joint visible; a tiny one hides the near joint
    assert keypoint_visibility(data["points"], 1, mask, depth, 0.6)[0][2::3][1] == 2
    assert keypoint_visibility(data["points"], 1, mask, depth, 0.01)[0][2::3][0] == 1
    assert_projection(data["points"], data["world"], data["camera"])


# ---------------------------------------------------------------- definitions and errors


ERRORS = {
    "malformed_json": ["'Rig'", "not valid JSON", "column"],
    "not_a_list": ["'Rig'", "must be a non-empty JSON list"],
    "bad_entry": ["'Rig'", '["head", "head", "middle"]', '"tail"'],
    "unknown_bone": ["'Rig'", "'hand.l'", "did you mean", "hand.L"],
    "duplicate_name": ["'Rig'", "'a' appears twice"],
    "skeleton_unknown": ["'Rig'", "coco_skeleton", "unknown keypoint 'c'", "keypoints are a, b"],
    "skeleton_malformed": ["'Rig'", "coco_skeleton", "[1, 2]"],
    "unknown_preset": ["'Rig'", "'coco18'", "coco17"],
    "preset_does_not_fit": ["'Rig'", "'coco17'", "lacks bones", "upper_arm.L"],
    "not_an_armature": ["'Cube'", "is a mesh, not an armature"],
    "number_property": ["'Rig'", "must be a string"],
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_definition_errors_are_one_line_naming_object_and_fix(case, name):
    result = case("definition")["results"][name]
    assert "error" in result, result
    msg = result["error"]
    assert "\n" not in msg
    for needle in ERRORS[name]:
        assert needle in msg, (needle, msg)


def test_default_skeleton_follows_the_bone_hierarchy(case):
    res = case("definition")["results"]
    full = res["hierarchy_full"]["ok"]
    # root-spine-neck-head chain, head tail linked to the head, hands to the spine (arms unmapped)
    assert full["skeleton"] == [[1, 2], [2, 3], [3, 4], [4, 5], [2, 6], [2, 7]]
    assert full["bones"][4] == ["head", "tail"]
    gaps = res["hierarchy_gaps"]["ok"]  # keypoints: head, lhand, root, rhand_tip
    assert gaps["skeleton"] == [[3, 1], [3, 2], [3, 4]]
    assert res["explicit_skeleton"]["ok"]["skeleton"] == [[1, 2], [3, 2], [2, 1]]
    assert res["null_bone"]["ok"]["bones"] == [["head", "head"], [None, "head"]]


def test_projection_follows_animated_parent_constraint_and_driver(case):
    data = case("definition")
    rest, target, k = data["rest"], np.array(data["target"]), data["knob_x"]
    movers = []
    for frame, fr in data["frames"].items():
        rig_world = np.array(fr["rig_world"])
        assert np.allclose(rig_world[:3, 3], fr["mover"], atol=1e-6)  # parenting to the animated empty
        movers.append(fr["mover"])
        to_world = lambda p: rig_world[:3, :3] @ np.array(p) + rig_world[:3, 3]  # noqa: E731
        head = to_world(rest["head"]["head"])
        head_tip = head + rest["head"]["length"] * (target - head) / np.linalg.norm(target - head)  # damped track
        hand = to_world(rest["hand.L"]["head"])
        assert_projection(fr["points"][:3], [head, head_tip, hand], fr["camera"])
        # driver: rotation about the hand's Z axis = knob x (0.5 rad): the tail swings in the XY plane
        tips = [hand + rest["hand.L"]["length"] * np.array([math.cos(k), s * math.sin(k), 0.0]) for s in (1, -1)]
        errs = [np.abs(pinhole(t, fr["camera"])[0, :2] - fr["points"][3][:2]).max() for t in tips]
        assert min(errs) < 0.01, errs
    assert movers[0] != movers[-1]


# ---------------------------------------------------------------- Rigify metarig (posed)


def _euler_matrix(angles, order):
    def axis(a, t):
        c, s = math.cos(t), math.sin(t)
        return {"X": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
                "Y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
                "Z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])}[a]
    value = dict(zip("XYZ", angles))
    m = np.eye(3)
    for a in order:  # the first axis of the order is applied first
        m = axis(a, value[a]) @ m
    return m


def _quat_matrix(q):
    w, x, y, z = np.asarray(q, float) / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def forward_kinematics(bones: dict, object_matrix) -> dict:
    """Bone name -> (world head, world tail) from rest matrices and pose channels, in numpy."""
    pose: dict[str, np.ndarray] = {}

    def mat(name):
        if name in pose:
            return pose[name]
        b = bones[name]
        basis = np.eye(4)
        mode = b["rotation_mode"]
        rot = _quat_matrix(b["rotation_quaternion"]) if mode == "QUATERNION" else _euler_matrix(b["rotation_euler"], mode)
        basis[:3, :3] = rot * np.array(b["scale"])
        basis[:3, 3] = b["location"]
        local = np.array(b["matrix_local"])
        if b["parent"]:
            pose[name] = mat(b["parent"]) @ np.linalg.inv(np.array(bones[b["parent"]]["matrix_local"])) @ local @ basis
        else:
            pose[name] = local @ basis
        return pose[name]

    om = np.array(object_matrix)
    out = {}
    for name, b in bones.items():
        m = om @ mat(name)
        out[name] = ((m @ [0, 0, 0, 1])[:3], (m @ [0, b["length"], 0, 1])[:3])
    return out


def test_rigify_metarig_posed_with_coco17(case):
    check_rigify(case("rigify"))


@pytest.mark.blender_binary
def test_rigify_metarig_posed_with_coco17_in_blender34(case34):
    check_rigify(case34("rigify"))


def check_rigify(data):
    d = data["definition"]
    assert data["bone_count"] == 159
    assert d["keypoints"] == list(COCO17_NAMES)
    assert d["skeleton"] == [list(p) for p in COCO17_SKELETON]
    assert all(b is not None for b, _ in d["bones"])  # the complete Rigify map, face included
    bones = data["bones"]
    assert all(b["constraints"] == 0 and b["inherit_scale"] == "FULL" and b["use_inherit_rotation"]
               for b in bones.values())
    fk = forward_kinematics(bones, data["object_matrix"])
    world = [fk[b][0 if end == "head" else 1] for b, end in d["bones"]]
    assert_projection(data["points"], world, data["camera"], tol_px=0.01)
    # the pose matters: unposed rest positions land elsewhere
    rest = forward_kinematics({n: {**b, "rotation_quaternion": [1, 0, 0, 0], "rotation_euler": [0, 0, 0],
                                   "location": [0, 0, 0], "scale": [1, 1, 1]} for n, b in bones.items()},
                              data["object_matrix"])
    rest_px = pinhole(np.array([rest[b][0 if e == "head" else 1] for b, e in d["bones"]]), data["camera"])
    moved = np.abs(rest_px[:, :2] - np.array(data["points"])[:, :2]).max(axis=1)
    kp = dict(zip(COCO17_NAMES, data["points"]))
    assert moved.max() > 3 and (moved > 1).sum() >= 8, moved
    # anatomy, seen from the front: the person's left is on the image's right; head above feet
    w, h = data["camera"]["size"]
    assert all(0 <= p[0] < w and 0 <= p[1] < h for p in data["points"])
    assert kp["left_shoulder"][0] > kp["right_shoulder"][0] and kp["left_hip"][0] > kp["right_hip"][0]
    assert kp["left_eye"][0] > kp["right_eye"][0] and kp["left_ear"][0] > kp["right_ear"][0]
    assert kp["nose"][1] < kp["left_shoulder"][1] < kp["left_hip"][1] < kp["left_knee"][1] < kp["left_ankle"][1]
    assert kp["nose"][2] < kp["left_ear"][2]  # the nose tip is nearer the camera than the ears


# ---------------------------------------------------------------- glTF rigs (CesiumMan, Fox)


def read_glb(path: Path):
    data = path.read_bytes()
    json_len = struct.unpack_from("<I", data, 12)[0]
    gltf = json.loads(data[20:20 + json_len])
    bin_start = 20 + json_len + 8
    binary = data[bin_start:]

    def accessor(i):
        acc = gltf["accessors"][i]
        view = gltf["bufferViews"][acc["bufferView"]]
        assert acc["componentType"] == 5126  # float
        n = {"SCALAR": 1, "VEC3": 3, "VEC4": 4, "MAT4": 16}[acc["type"]]
        stride = view.get("byteStride", 4 * n)
        start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
        rows = [np.frombuffer(binary, np.float32, n, start + k * stride) for k in range(acc["count"])]
        return np.array(rows, float)
    return gltf, accessor


def gltf_joint_positions(path: Path, animation: str | None, t: float) -> dict[int, np.ndarray]:
    """Node index -> world position (Blender axes: x, -z, y) at time t, from the .glb alone."""
    gltf, accessor = read_glb(path)
    nodes = gltf["nodes"]
    trs = [{"translation": np.array(n.get("translation", [0, 0, 0]), float),
            "rotation": np.array(n.get("rotation", [0, 0, 0, 1]), float),
            "scale": np.array(n.get("scale", [1, 1, 1]), float)} for n in nodes]
    anim = next(a for a in gltf["animations"] if animation is None or a.get("name") == animation)
    for ch in anim["channels"]:
        sampler = anim["samplers"][ch["sampler"]]
        times, values = accessor(sampler["input"])[:, 0], accessor(sampler["output"])
        k = int(np.searchsorted(times, t, side="right")) - 1
        k = min(max(k, 0), len(times) - 2)
        a = min(max((t - times[k]) / (times[k + 1] - times[k]), 0.0), 1.0)
        v = values[k] * (1 - a) + values[k + 1] * a
        if ch["target"]["path"] == "rotation":
            v = v / np.linalg.norm(v)
        trs[ch["target"]["node"]][ch["target"]["path"]] = v

    def local(i):
        if "matrix" in nodes[i]:
            return np.array(nodes[i]["matrix"], float).reshape(4, 4).T
        x, y, z, w = trs[i]["rotation"]
        m = np.eye(4)
        m[:3, :3] = _quat_matrix([w, x, y, z]) * trs[i]["scale"]
        m[:3, 3] = trs[i]["translation"]
        return m

    out = {}

    def walk(i, parent):
        m = parent @ local(i)
        x, y, z = m[:3, 3]
        out[i] = np.array([x, -z, y])
        for c in nodes[i].get("children", []):
            walk(c, m)
    for root in gltf["scenes"][gltf.get("scene", 0)]["nodes"]:
        walk(root, np.eye(4))
    return out


GLTF_MODELS = {"CesiumMan": None, "Fox": "Walk"}  # model -> glTF animation the test plays


@pytest.mark.parametrize("model", sorted(GLTF_MODELS))
def test_gltf_rig_keypoints_follow_the_animation_in_the_file(case, model):
    path = require(ASSETS / "models" / f"{model}.glb")
    data = case("gltf")[model]
    gltf, _ = read_glb(path)
    names = [n.get("name") for n in gltf["nodes"]]
    if GLTF_MODELS[model]:
        assert data["action"] == GLTF_MODELS[model]
    fps = data["fps"] / data["fps_base"]
    index_of = lambda bone: int(bone[5:]) if bone.startswith("Node_") else names.index(bone)  # noqa: E731
    nodes = [index_of(b) for b, _ in data["definition"]["bones"]]
    all_px = []
    for shot in data["shots"]:
        joints = gltf_joint_positions(path, GLTF_MODELS[model], shot["frame"] / fps)
        assert_projection(shot["points"], [joints[i] for i in nodes], shot["camera"], tol_px=0.01)
        w, h = shot["camera"]["size"]
        assert all(0 <= p[0] < w and 0 <= p[1] < h for p in shot["points"])
        all_px.append(np.array(shot["points"], float)[:, :2])
    motion = np.abs(np.array(all_px) - all_px[0]).max(axis=(0, 2))
    assert (motion > 2.0).sum() >= len(nodes) // 2, motion  # the walk / survey moves most joints

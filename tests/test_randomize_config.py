"""The bpy-free randomization config: parsing, validation messages, ranges, per-frame RNG.

Table-driven error cases: each bad config gives ONE line that names the field, the
value and what is allowed. Ranges draw only what they allow; the JSON handed to the
render stage rebuilds an equal config; frame generators depend on (seed, frame,
name) alone. Also the TOML -> JSON bridge a stock Blender (Python 3.10) uses.
"""

from __future__ import annotations

import json
import math
import random
import subprocess
import textwrap
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blender_coco import randomize as rc
from blender_coco.errors import UserError

REPO = Path(__file__).resolve().parents[1]


def error(data, base_dir=None) -> str:
    with pytest.raises(UserError) as exc:
        rc.from_dict(data, source="r.toml", base_dir=base_dir)
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith("r.toml: ")
    return msg


@pytest.mark.parametrize("data,expected", [
    # unknown fields, at every level
    ({"camara": {}}, "r.toml: camara is not a known field (allowed in the config: camera, lights, world, objects, "
                     "materials, armatures, spawn)"),
    # [[spawn]]
    ({"spawn": [{"surface": "T"}]}, "r.toml: spawn[0] needs exactly one of collection = \"Name\" (objects in the "
                                    ".blend) or assets = \"folder/\" (asset files)"),
    ({"spawn": [{"collection": "P"}]}, "r.toml: spawn[0] needs surface = \"Name\" (a mesh to stand or drop the "
                                       "copies on) or region = {min = [x, y, z], max = [x, y, z]}"),
    ({"spawn": [{"collection": "P", "region": {"min": [0, 0, 0], "max": [1, 1, 0]}, "physics": True}]},
     "r.toml: spawn[0].physics needs something to land on: a surface = \"Name\" on the group or colliders = "
     "[\"Floor\", ...]"),
    ({"spawn": [{"collection": "P", "surface": "T", "physics": "yes"}]},
     "r.toml: spawn[0].physics must be true, false or a table {colliders = [...], drop_height = [min, max], ...}, "
     "got \"yes\""),
    ({"spawn": [{"collection": "P", "surface": "T", "physics": {"substeps": 0}}]},
     "r.toml: spawn[0].physics.substeps must be a whole number in 1..1000, got 0"),
    ({"spawn": [{"collection": "P", "surface": "T", "physics": {"max_time": 0}}]},
     "r.toml: spawn[0].physics.max_time must be seconds of simulated time in 0.05..120, got 0"),
    ({"spawn": [{"collection": "P", "surface": "T", "material": {}}]},
     "r.toml: spawn[0].material sets nothing; give hue, saturation, value, roughness, metallic or textures"),
    ({"spawn": [{"collection": "P", "surface": "T", "count": [5, 2]}]}, "r.toml: spawn[0].count must have min <= max, "
                                                                        "got [5, 2]"),
    ({"spawn": [{"collection": "P", "surface": "T", "supercategory": "x"}]},
     "r.toml: spawn[0].supercategory needs category = \"...\" on the same group (the assets' own "
     "coco_supercategory applies otherwise)"),
    ({"spawn": [{"collection": "P", "surface": "T", "phisics": True}]}, "r.toml: spawn[0].phisics is not a known "
                                                                        "field (allowed in spawn[0]: collection, "),
    ({"camera": {"distanse": [1, 2], "target": [0, 0, 0]}}, "r.toml: camera.distanse is not a known field (allowed in camera: "),
    ({"objects": [{"collection": "A", "colour": 1}]}, "r.toml: objects[0].colour is not a known field"),
    ({"lights": {"energy": {"min": 1, "max": 2, "spread": 3}}}, "r.toml: lights.energy.spread is not a known field"),
    # wrong types
    ({"camera": {"target": [0, 0, 0], "distance": "far"}}, "r.toml: camera.distance must be a number, [min, max] or a "
                                                            "table {min, max, distribution} (or {values = [...]}), got \"far\""),
    ({"camera": {"target": [0, 0]}}, "r.toml: camera.target must be a point [x, y, z] of numbers, got [0, 0]"),
    ({"camera": []}, "r.toml: camera must be a table ([camera] in TOML), got []"),
    ({"lights": {"count": 1.5}}, "r.toml: lights.count must hold whole numbers, got 1.5"),
    ({"lights": {"types": ["POINT", "LASER"]}}, "r.toml: lights.types must be a non-empty list of POINT, SUN, SPOT, AREA"),
    ({"lights": {"replace": "yes"}}, "r.toml: lights.replace must be true or false, got \"yes\""),
    ({"objects": {"collection": 3}}, "r.toml: objects[0].collection must be a name (text), got 3"),
    ({"objects": "Props"}, "r.toml: objects must be a list of tables ([[objects]] in TOML), got \"Props\""),
    ({"objects": [{"collection": "A", "visibility": 1.5}]}, "r.toml: objects[0].visibility must be a probability "
                                                            "between 0 and 1, got 1.5"),
    ({"objects": [{"collection": "A", "max_tries": 0}]}, "r.toml: objects[0].max_tries must be a whole number in 1..100000, got 0"),
    ({"objects": [{"collection": "A", "region": {"min": [0, 0, 0]}}]},
     "r.toml: objects[0].region must be a table {min = [x, y, z], max = [x, y, z]}"),
    # min > max, bounds, distributions
    ({"camera": {"target": [0, 0, 0], "distance": [12, 8]}}, "r.toml: camera.distance must have min <= max, got [12, 8]"),
    ({"camera": {"target": [0, 0, 0], "elevation": [10, 100]}}, "r.toml: camera.elevation must be between -90 and 90, got [10, 100]"),
    ({"objects": [{"collection": "A", "region": {"min": [0, 0, 1], "max": [1, 1, 0]}}]},
     "r.toml: objects[0].region must have min <= max on every axis, got min [0.0, 0.0, 1.0], max [1.0, 1.0, 0.0]"),
    ({"lights": {"energy": {"distribution": "gamma", "min": 1, "max": 2}}},
     "r.toml: lights.energy distribution must be one of uniform, loguniform, normal, got \"gamma\""),
    ({"lights": {"energy": {"distribution": "loguniform", "min": 0, "max": 2}}},
     "r.toml: lights.energy with distribution 'loguniform' needs min > 0, got 0"),
    ({"lights": {"energy": {"distribution": "normal", "mean": 5}}},
     "r.toml: lights.energy with distribution 'normal' needs a number mean and a std >= 0, got mean 5, std null"),
    ({"lights": {"count": [0, 100]}}, "r.toml: lights.count must be between 0 and 64, got [0, 100]"),
    ({"materials": [{"roughness": [0.5, 2]}]}, "r.toml: materials[0].roughness must be between 0 and 1, got [0.5, 2]"),
    # missing pieces and conflicts
    ({"camera": {"distance": [3, 4]}}, "r.toml: camera.target is needed to orbit or aim the camera"),
    ({"camera": {"target": [0, 0, 0], "target_object": "Table"}}, "r.toml: camera.target and camera.target_object "
                                                                  "cannot both be set"),
    ({"objects": [{"count": 2}]}, "r.toml: objects[0] needs collection = \"Name\" or objects = [\"Name\", ...]"),
    ({"armatures": [{"objects": ["Rig"]}]}, "r.toml: armatures[0] needs rotation = {x = [-20, 20], ...} or actions"),
    ({"version": 2}, "r.toml: version must be 1, got 2"),
])
def test_bad_configs_are_one_line_naming_field_value_and_what_is_allowed(data, expected):
    assert error(data).startswith(expected)


def test_missing_or_empty_image_folders_are_named(tmp_path):
    msg = error({"world": {"images": "hdris"}}, base_dir=tmp_path)
    assert msg.startswith("r.toml: world.images folder \"hdris\" does not exist (")
    assert str(tmp_path / "hdris") in msg and "config file's folder" in msg
    (tmp_path / "textures").mkdir()
    (tmp_path / "textures" / "notes.txt").write_text("not an image")
    msg = error({"materials": [{"textures": "textures"}]}, base_dir=tmp_path)
    assert msg.startswith("r.toml: materials[0].textures folder \"textures\"") and "holds no image file (.hdr" in msg


def test_folders_resolve_against_the_config_file_and_list_images_sorted(tmp_path):
    (tmp_path / "hdri").mkdir()
    for name in ("b.hdr", "a.EXR", "c.txt", ".hidden.png"):
        (tmp_path / "hdri" / name).write_bytes(b"x")
    config = rc.from_dict({"world": {"images": "hdri", "image_probability": 0.5}}, base_dir=tmp_path)
    assert config.world.images == str(tmp_path / "hdri")
    assert [Path(p).name for p in rc.image_files(config.world.images)] == ["a.EXR", "b.hdr"]


def test_a_full_config_parses_and_its_json_rebuilds_an_equal_config(tmp_path):
    (tmp_path / "tex").mkdir()
    (tmp_path / "tex" / "wood.png").write_bytes(b"x")
    text = (REPO / "scenes" / "randomize_tabletop.toml").read_text()
    path = tmp_path / "r.toml"
    path.write_text(text + '\n[[materials]]\nmaterials = ["floor"]\ntextures = "tex"\ntexture_probability = 0.3\n')
    config = rc.load(path)
    assert config.camera.target == (0.0, 0.0, 0.8) and config.camera.azimuth.to_json() == [-70, 70]
    assert config.camera.focal_length.distribution == "normal"
    assert config.lights.types == ("POINT", "AREA", "SUN") and config.lights.count.to_json() == [1, 3]
    assert [g.collection for g in config.objects] == ["Props", "Clutter"] and config.objects[1].distractor
    assert config.materials[1].variation.textures == str(tmp_path / "tex")
    data = config.to_json()
    assert json.loads(json.dumps(data)) == data  # JSON-able, as the sidecar needs
    again = rc.from_dict(json.loads(json.dumps(data)))
    assert again == config and again.to_json() == data


def test_every_shipped_example_config_is_valid(tmp_path):
    names = sorted(p.name for p in (REPO / "scenes").glob("randomize_*.toml"))
    assert names == ["randomize_demo.toml", "randomize_spawn.toml", "randomize_tabletop.toml"]
    # randomize_spawn.toml reads the asset folder scenes/kitchen_assets.py writes next to it
    (tmp_path / "kitchen_assets").mkdir()
    (tmp_path / "kitchen_assets" / "mug.glb").write_bytes(b"stands in for the generated library")
    for name in names:
        (tmp_path / name).write_text((REPO / "scenes" / name).read_text())
        assert not rc.load(tmp_path / name).empty
    spawn = rc.load(tmp_path / "randomize_spawn.toml").spawn
    assert spawn[0].assets == str(tmp_path / "kitchen_assets") and spawn[0].physics.colliders == ("Floor",)


def test_the_demo_scenes_own_randomization_is_valid():
    import ast

    source = (REPO / "blender_coco" / "blender" / "demo_scene.py").read_text()
    node = next(n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Assign)
                and getattr(n.targets[0], "id", None) == "DEMO_RANDOMIZE")
    config = rc.from_dict(ast.literal_eval(node.value))
    assert config.lights and config.world and config.materials and config.camera and config.objects
    assert config.spawn[0].physics is not None and config.spawn[0].material is not None


def test_toml_syntax_errors_and_missing_files_are_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[camera]\ndistance = [1, \n")
    with pytest.raises(UserError) as exc:
        rc.load(bad)
    assert str(exc.value).startswith(f"randomize config {bad} is not valid TOML (") and "\n" not in str(exc.value)
    with pytest.raises(UserError, match="does not exist; pass the path of a TOML"):
        rc.load(tmp_path / "nope.toml")


def test_json_configs_load_like_toml(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"lights": {"count": [0, 2]}}))
    assert rc.load(path).lights.count.to_json() == [0, 2]


def test_the_toml_bridge_for_pythons_without_tomllib(tmp_path):
    """Stock Blender 3.4 (Python 3.10) hands the TOML to the export Python: same JSON as in process."""
    path = tmp_path / "r.toml"
    path.write_text((REPO / "scenes" / "randomize_demo.toml").read_text())
    proc = subprocess.run([sys.executable, "-m", "blender_coco.randomize", str(path)], capture_output=True,
                          text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert rc.from_dict(json.loads(proc.stdout)) == rc.load(path)
    path.write_text("[lights]\ncount = [5, 2]\n")
    proc = subprocess.run([sys.executable, "-m", "blender_coco.randomize", str(path)], capture_output=True,
                          text=True, cwd=REPO)
    assert proc.returncode == 2 and proc.stderr.strip() == (
        f"blender-coco: error: {path}: lights.count must have min <= max, got [5, 2]")


def test_without_tomllib_the_export_python_reads_the_toml_and_no_foreign_tomli_is_imported(tmp_path):
    """Inside a Blender whose Python lacks tomllib, a TOML goes to the Python that runs the export (the same
    choice as the export's hand-off), never to a ``tomli`` that some virtualenv on sys.path happens to offer."""
    path = tmp_path / "r.toml"
    path.write_text((REPO / "scenes" / "randomize_demo.toml").read_text())
    fake = tmp_path / "site"
    fake.mkdir()
    (fake / "tomli.py").write_text("TOMLDecodeError = ValueError\ndef load(fh):\n    return {'lights': {'count': [0, 9]}}\n")
    calls = tmp_path / "calls.txt"
    wrapper = tmp_path / "export_python"
    wrapper.write_text(f"#!/bin/sh\necho \"$@\" >> {calls}\nexec {sys.executable} \"$@\"\n")
    wrapper.chmod(0o755)
    code = textwrap.dedent(f"""
        import json, sys
        sys.modules["tomllib"] = None  # a Python 3.10 Blender
        sys.path.insert(0, {str(fake)!r})
        from blender_coco.errors import UserError
        from blender_coco.randomize import loading
        out = {{"bridge": loading.load({str(path)!r}, python={str(wrapper)!r}).to_json(),
               "tomli_after_bridge": "tomli" in sys.modules}}
        out["no_python"] = loading.load({str(path)!r}).to_json()["lights"]["count"]
        print(json.dumps(out))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["bridge"] == rc.load(path).to_json() and not out["tomli_after_bridge"]
    assert calls.read_text().split() == ["-m", "blender_coco.randomize", str(path)]
    assert out["no_python"] == [0, 9]  # no export Python to ask: tomli is the last resort


# -- ranges and generators -------------------------------------------------------------


def test_ranges_draw_what_they_allow():
    rng = random.Random(1)
    uniform = rc.parse_range([2, 5], "f")
    assert all(2 <= uniform.sample(rng) <= 5 for _ in range(500))
    assert rc.parse_range(3, "f").sample(rng) == 3.0
    ints = rc.parse_range([1, 3], "f", integer=True)
    draws = [ints.sample(rng) for _ in range(300)]
    assert set(draws) == {1, 2, 3} and all(isinstance(v, int) for v in draws)
    log = rc.parse_range({"distribution": "loguniform", "min": 1, "max": 1000}, "f")
    draws = [log.sample(rng) for _ in range(2000)]
    assert all(1 <= v <= 1000 for v in draws)
    assert 0.25 < sum(v < 31.6 for v in draws) / len(draws) < 0.75  # the median is the geometric mean
    normal = rc.parse_range({"distribution": "normal", "mean": 35, "std": 4, "min": 30, "max": 40}, "f")
    draws = [normal.sample(rng) for _ in range(2000)]
    assert min(draws) >= 30 and max(draws) <= 40 and abs(sum(draws) / len(draws) - 35) < 0.5
    choice = rc.parse_range({"values": [0, 0, 1]}, "f")
    draws = [choice.sample(rng) for _ in range(3000)]
    assert set(draws) == {0.0, 1.0} and 0.28 < sum(draws) / len(draws) < 0.39


def test_frame_generators_depend_on_seed_frame_and_name_alone():
    first = [rc.frame_rng(7, i, "camera").random() for i in range(50)]
    assert [rc.frame_rng(7, i, "camera").random() for i in reversed(range(50))][::-1] == first  # any order
    assert len(set(first)) == 50
    assert rc.frame_rng(7, 3, "camera").random() != rc.frame_rng(8, 3, "camera").random()
    assert rc.frame_rng(7, 3, "camera").random() != rc.frame_rng(7, 3, "lights").random()
    # a fixed value: the hash (not Python's salted hash()) makes it the same in every process and Python
    assert rc.frame_rng(0, 0, "camera").random() == pytest.approx(random.Random(
        int.from_bytes(__import__("hashlib").sha256(b"blender-coco/0/0/camera").digest()[:8], "big")).random())


@settings(max_examples=60, deadline=None)
@given(lo=st.floats(-1e3, 1e3), width=st.floats(0, 1e3), seed=st.integers(0, 2**32))
def test_uniform_ranges_stay_inside_and_round_trip(lo, width, seed):
    r = rc.parse_range([lo, lo + width], "f")
    v = r.sample(random.Random(seed))
    assert lo <= v <= lo + width or math.isclose(v, lo + width)
    assert rc.parse_range(r.to_json(), "f") == r


def test_asset_folders_list_assets_of_every_kind_sorted_and_resolve_against_the_config(tmp_path):
    lib = tmp_path / "kitchen"
    (lib / "mugs").mkdir(parents=True)
    (lib / ".git").mkdir()
    for name in ("mugs/mug.glb", "bowl.gltf", "bowl.bin", "can.OBJ", "can.mtl", "box.fbx", "orange.ply", "block.stl",
                 "fruit.blend", "fruit.blend1", ".hidden.glb", ".git/x.obj", "notes.txt"):
        (lib / name).write_bytes(b"x")
    config = rc.from_dict({"spawn": [{"assets": "kitchen", "category": "{stem}", "surface": "Table"}]},
                          base_dir=tmp_path)
    assert config.spawn[0].assets == str(lib)
    assert [str(Path(p).relative_to(lib)) for p in rc.asset_files(str(lib))] == [
        "block.stl", "bowl.gltf", "box.fbx", "can.OBJ", "fruit.blend", "mugs/mug.glb", "orange.ply"]
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no assets")
    msg = error({"spawn": [{"assets": "empty", "surface": "T"}]}, base_dir=tmp_path)
    assert msg.startswith("r.toml: spawn[0].assets folder \"empty\"") and "holds no asset file (.blend, .glb" in msg


def test_spawn_groups_round_trip_through_json_and_physics_true_means_the_defaults(tmp_path):
    (tmp_path / "tex").mkdir()
    (tmp_path / "tex" / "a.png").write_bytes(b"x")
    data = {"spawn": [{"collection": "Props", "category": "mug", "supercategory": "kitchen", "count": [5, 15],
                       "surface": "TableTop", "region": {"min": [-1, -1, 0], "max": [1, 1, 0]},
                       "rotation": {"z": [0, 360]}, "scale": [0.8, 1.2], "spacing": 0.01, "max_tries": 50,
                       "physics": {"colliders": ["Floor"], "drop_height": [0.1, 0.2], "max_time": 3, "substeps": 20,
                                   "friction": 0.3, "bounciness": 0.1},
                       "material": {"hue": [-0.1, 0.1], "textures": "tex", "texture_probability": 0.5},
                       "distractor": False},
                      {"collection": "Props", "surface": "TableTop", "physics": True}]}
    config = rc.from_dict(data, base_dir=tmp_path)
    again = rc.from_dict(json.loads(json.dumps(config.to_json())))
    assert again == config
    default = config.spawn[1].physics
    assert (default.colliders, default.drop_height.to_json(), default.max_time, default.substeps) == ((), [0.02, 0.3], 4.0, 10)
    assert config.spawn[1].count.to_json() == 1 and config.spawn[1].name == "spawn[1]"
    assert rc.from_dict({"spawn": [{"collection": "P", "surface": "T", "physics": False}]}).spawn[0].physics is None

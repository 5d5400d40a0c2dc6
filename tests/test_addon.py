"""The Blender add-on: registration, marking operators, keypoint maps, panels, rendering,
the add-on zip, and installing it as a 4.2+ extension (bpy 5.0) and as a legacy add-on
(Debian's Blender 3.4 binary).

bpy state is global, so every Blender check runs in its own subprocess (the ``bpy``
module of this venv, or ``blender -b``) with HOME pointing at a temporary folder:
installing an add-on writes into the user's Blender config, which must not be the
real one. The scripts assert inside Blender and report facts as one JSON line.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BLENDER = shutil.which("blender")
HAS_BPY = importlib.util.find_spec("bpy") is not None

sys.path.insert(0, str(REPO / "scripts"))
import build_addon  # noqa: E402  (scripts/ is not a package)

needs_bpy = pytest.mark.skipif(not HAS_BPY, reason="the bpy module is not installed (pip install blender-coco[bpy])")


def isolated_env(home: Path) -> dict:
    """Environment whose Blender user folders (config, scripts, extensions) live under ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLENDER_USER_")}
    home.mkdir(parents=True, exist_ok=True)
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), PYTHONDONTWRITEBYTECODE="1")
    return env


def _result(proc: subprocess.CompletedProcess, what: str) -> dict:
    output = f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}"
    assert proc.returncode == 0, f"{what} failed (exit {proc.returncode})\n{output}"
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, f"{what} printed no RESULT line\n{output}"
    return json.loads(lines[-1][len("RESULT "):])


PRELUDE = """\
import json, sys
import bpy

def result(**facts):
    print("RESULT " + json.dumps(facts), flush=True)

def raises(op, **kw):
    try:
        op(**kw)
    except RuntimeError as exc:  # bpy.ops raises on ERROR reports and failed polls
        return str(exc).strip()
    raise AssertionError(f"{op} did not fail")

def select(*names):
    for o in bpy.context.view_layer.objects:
        o.select_set(o.name in names)
    bpy.context.view_layer.objects.active = bpy.data.objects[names[0]] if names else None

def draw_panel(cls):
    # A real UILayout from a popup menu that is never shown (ending it would lay out icons,
    # which crashes without a GPU). Blender does not raise for a bad property or operator
    # name in a layout: it prints "rna_uiItem...: ... not found"; the test checks the log.
    popup = bpy.context.window_manager.popmenu_begin__internal(cls.bl_label, icon="NONE")
    cls.draw(popup, bpy.context)

ADDON_TYPES = ["BLENDER_COCO_PT_main", "BLENDER_COCO_PT_mark", "BLENDER_COCO_PT_categories",
               "BLENDER_COCO_PT_keypoints", "BLENDER_COCO_PT_output", "BLENDER_COCO_PT_render_settings",
               "BLENDER_COCO_PT_randomization", "BLENDER_COCO_PT_export_python", "BLENDER_COCO_PT_render",
               "BLENDER_COCO_OT_mark", "BLENDER_COCO_OT_unmark", "BLENDER_COCO_OT_select_category",
               "BLENDER_COCO_OT_set_keypoints", "BLENDER_COCO_OT_render", "BLENDER_COCO_OT_render_cancel"]

def registered():
    return sorted(n for n in ADDON_TYPES if hasattr(bpy.types, n))
"""

IMPORTS = """\
import blender_coco
from blender_coco.blender import marking
"""


def run_bpy(code: str, tmp_path: Path, what: str = "bpy script", timeout: float = 300,
            imports: str = IMPORTS, log: list | None = None) -> dict:
    """Run ``code`` (after PRELUDE and ``imports``) in a fresh Python with the bpy module; return its
    RESULT. ``log`` (a list) receives the process's stdout + stderr."""
    script = tmp_path / "script.py"
    script.write_text(PRELUDE + imports + textwrap.dedent(code))
    env = isolated_env(tmp_path / "home")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)  # this checkout
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path,
                          env=env, timeout=timeout)
    if log is not None:
        log.append(proc.stdout + proc.stderr)
    return _result(proc, what)


# ----------------------------------------------------------------------------- registration


@needs_bpy
@pytest.mark.blender
def test_register_unregister_register_leaves_nothing_behind(tmp_path):
    facts = run_bpy("""
        before = registered()
        blender_coco.register()
        after_register = registered()
        has_settings = hasattr(bpy.types.Scene, "blender_coco") and bpy.context.scene.blender_coco is not None
        blender_coco.register()  # a second register is harmless
        ops = sorted(n for n in dir(bpy.ops.blender_coco))
        blender_coco.unregister()
        after_unregister = registered()
        from blender_coco.blender.addon_props import BLENDER_COCO_PG_settings
        settings_gone = not hasattr(bpy.types.Scene, "blender_coco") and not BLENDER_COCO_PG_settings.is_registered
        blender_coco.register()
        again = registered()
        # the operators work after a re-register
        select("Cube")
        bpy.ops.blender_coco.mark(category="box")
        blender_coco.unregister()
        result(before=before, after_register=after_register, has_settings=has_settings, ops=ops,
               after_unregister=after_unregister, settings_gone=settings_gone, again=again,
               still_marked=marking.category_of(bpy.data.objects["Cube"]), final=registered())
    """, tmp_path)
    assert facts["before"] == []
    assert len(facts["after_register"]) == 15 and facts["has_settings"]
    assert facts["ops"] == ["mark", "render", "render_cancel", "select_category", "set_keypoints", "unmark"]
    assert facts["after_unregister"] == [] and facts["settings_gone"]
    assert facts["again"] == facts["after_register"]
    assert facts["still_marked"] == "box"  # the marking is data, it outlives the add-on
    assert facts["final"] == []


def test_bl_info_and_manifest_agree_with_the_package_version():
    import blender_coco

    manifest = tomllib.loads((REPO / "blender_coco" / "blender_manifest.toml").read_text())
    assert manifest["version"] == blender_coco.__version__
    assert ".".join(map(str, blender_coco.bl_info["version"])) == blender_coco.__version__
    assert blender_coco.bl_info["blender"] == (3, 4, 0)
    for key, value in {"id": "blender_coco", "schema_version": "1.0.0", "type": "add-on",
                       "blender_version_min": "4.2.0", "license": ["SPDX:MIT"]}.items():
        assert manifest[key] == value, key
    for key in ("name", "tagline", "maintainer"):
        assert manifest[key].strip(), key
    assert not manifest["tagline"].endswith((".", "!", "?")) and len(manifest["tagline"]) <= 64


# ----------------------------------------------------------------------------- marking


@needs_bpy
@pytest.mark.blender
def test_mark_unmark_select_and_category_counts(tmp_path):
    facts = run_bpy("""
        blender_coco.register()
        bpy.ops.mesh.primitive_uv_sphere_add(location=(3, 0, 0))
        bpy.ops.mesh.primitive_cone_add(location=(-3, 0, 0))
        bpy.ops.mesh.primitive_plane_add(location=(0, 0, -1))
        settings = bpy.context.scene.blender_coco
        out = {}
        select()
        out["no_selection"] = raises(bpy.ops.blender_coco.mark, category="box")
        select("Cube", "Sphere")
        out["mark"] = sorted(bpy.ops.blender_coco.mark(category="box"))
        out["props"] = {n: marking.category_of(bpy.data.objects[n]) for n in ("Cube", "Sphere", "Cone", "Plane")}
        out["counts_1"] = marking.category_counts(bpy.context.scene)
        # the panel's field is used when the operator gets no category; the supercategory too
        settings.category = "cone"
        settings.supercategory = "shape"
        select("Cone")
        bpy.ops.blender_coco.mark()
        out["cone"] = [marking.category_of(bpy.data.objects["Cone"]), marking.supercategory_of(bpy.data.objects["Cone"])]
        out["counts_2"] = marking.category_counts(bpy.context.scene)
        # the dropdown lists the scene's categories and copies the pick into the field
        out["enum_items"] = [i.identifier for i in settings.bl_rna.properties["category_pick"].enum_items]
        settings.category_pick = "box"
        out["picked"] = settings.category
        # no category anywhere -> one-line error, nothing marked
        settings.category = "  "
        select("Plane")
        out["empty_error"] = raises(bpy.ops.blender_coco.mark)
        out["plane_after_error"] = marking.category_of(bpy.data.objects["Plane"])
        # select by category replaces the selection with that category's objects
        select("Plane")
        bpy.ops.blender_coco.select_category(category="box")
        out["selected"] = sorted(o.name for o in bpy.context.selected_objects)
        # unmark the selection: Sphere keeps nothing, Cube stays marked
        select("Sphere", "Plane")
        bpy.ops.blender_coco.unmark()
        out["after_unmark"] = {n: marking.category_of(bpy.data.objects[n]) for n in ("Cube", "Sphere", "Cone", "Plane")}
        out["counts_3"] = marking.category_counts(bpy.context.scene)
        result(**out)
    """, tmp_path)
    assert "Select the objects to mark" in facts["no_selection"]
    assert facts["mark"] == ["FINISHED"]
    assert facts["props"] == {"Cube": "box", "Sphere": "box", "Cone": None, "Plane": None}
    assert facts["counts_1"] == {"box": 2}
    assert facts["cone"] == ["cone", "shape"]
    assert facts["counts_2"] == {"box": 2, "cone": 1}
    assert facts["picked"] == "box"
    assert "No category" in facts["empty_error"] and "\n" not in facts["empty_error"]
    assert facts["plane_after_error"] is None
    assert facts["selected"] == ["Cube", "Sphere"]
    assert facts["after_unmark"] == {"Cube": "box", "Sphere": None, "Cone": "cone", "Plane": None}
    assert facts["counts_3"] == {"box": 1, "cone": 1}


@needs_bpy
@pytest.mark.blender
def test_stuff_checkbox_marks_and_clears_coco_stuff_and_background_field_is_the_scene_property(tmp_path):
    log = []
    facts = run_bpy("""
        from blender_coco.blender.addon_props import stuff_categories
        blender_coco.register()
        bpy.ops.mesh.primitive_plane_add(size=20, location=(0, 0, -1))
        bpy.ops.mesh.primitive_plane_add(size=4, location=(0, 6, 0))
        scene = bpy.context.scene
        settings = scene.blender_coco
        out = {}
        # the panel's checkbox: Mark writes coco_stuff on every selected object
        settings.category, settings.stuff = "floor", True
        select("Plane", "Plane.001")
        out["mark"] = sorted(bpy.ops.blender_coco.mark())
        out["stuff_props"] = [bool(bpy.data.objects[n].get("coco_stuff")) for n in ("Plane", "Plane.001", "Cube")]
        out["is_stuff"] = [marking.is_stuff(bpy.data.objects[n]) for n in ("Plane", "Plane.001", "Cube")]
        # marking a thing with the checkbox off leaves no coco_stuff
        settings.category, settings.stuff = "box", False
        select("Cube")
        bpy.ops.blender_coco.mark()
        out["cube_prop"] = "coco_stuff" in bpy.data.objects["Cube"]
        out["stuff_categories"] = sorted(stuff_categories(scene))
        # picking an existing category copies whether it is stuff into the checkbox
        settings.category_pick = "floor"
        out["pick_floor"] = [settings.category, settings.stuff]
        settings.category_pick = "box"
        out["pick_box"] = [settings.category, settings.stuff]
        # re-marking with the checkbox off clears coco_stuff; the operator's own stuff= wins over the panel
        select("Plane.001")
        settings.category, settings.stuff = "floor", False
        print("MIXED-BEGIN", flush=True)
        out["mixed_status"] = sorted(bpy.ops.blender_coco.mark())  # floor: stuff on Plane, thing here -> warning
        print("MIXED-END", flush=True)
        out["cleared"] = "coco_stuff" in bpy.data.objects["Plane.001"]
        bpy.ops.blender_coco.mark(category="floor", stuff=True)
        out["operator_arg"] = marking.is_stuff(bpy.data.objects["Plane.001"])
        # unmark removes the stuff flag with the category
        bpy.ops.blender_coco.unmark()
        out["unmarked"] = [marking.category_of(bpy.data.objects["Plane.001"]), "coco_stuff" in bpy.data.objects["Plane.001"]]
        # the world background field is the scene's coco_background, both ways
        out["bg_default"] = [settings.background, "coco_background" in scene]
        settings.background = " sky "
        out["bg_set"] = [scene.get("coco_background"), marking.background_category(scene), settings.background]
        scene["coco_background"] = "clouds"  # set by a script: the panel shows it
        out["bg_script"] = settings.background
        settings.background = ""
        out["bg_cleared"] = "coco_background" in scene
        result(**out)
    """, tmp_path, log=log)
    assert facts["mark"] == ["FINISHED"]
    assert facts["stuff_props"] == [True, True, False] and facts["is_stuff"] == [True, True, False]
    assert facts["cube_prop"] is False
    assert facts["stuff_categories"] == ["floor"]
    assert facts["pick_floor"] == ["floor", True] and facts["pick_box"] == ["box", False]
    assert facts["mixed_status"] == ["FINISHED"] and facts["cleared"] is False
    mixed = log[0].split("MIXED-BEGIN", 1)[1].split("MIXED-END", 1)[0]
    assert "Warning" in mixed and "'floor' is stuff on object 'Plane'" in mixed  # the render would refuse it
    assert facts["operator_arg"] is True
    assert facts["unmarked"] == [None, False]
    assert facts["bg_default"] == ["", False]
    assert facts["bg_set"] == ["sky", "sky", "sky"]
    assert facts["bg_script"] == "clouds"
    assert facts["bg_cleared"] is False


@needs_bpy
@pytest.mark.blender
def test_set_keypoints_writes_validated_maps_on_a_real_rigify_rig(tmp_path):
    facts = run_bpy("""
        import addon_utils
        addon_utils.enable("rigify")
        blender_coco.register()
        bpy.ops.object.armature_human_metarig_add()
        rig = bpy.context.active_object
        out = {"rig": rig.name}
        select(rig.name)
        bpy.ops.blender_coco.set_keypoints(keypoints="coco17")
        out["preset"] = rig.get("coco_keypoints")
        custom = '[["left_wrist", "hand.L"], ["nose", "nose.001", "tail"]]'
        bpy.ops.blender_coco.set_keypoints(keypoints=custom)
        out["custom"] = rig.get("coco_keypoints")
        from blender_coco.blender.keypoints import keypoint_definition
        bpy.ops.blender_coco.mark(category="person")
        out["definition"] = keypoint_definition(rig)["keypoints"]
        # null bone: "this rig has no such bone" (always v=0), as the render stage's parser accepts it
        with_null = '[["left_wrist", "hand.L"], ["left_ear", null], ["nose", "nose.001", "tail"]]'
        out["null_status"] = sorted(bpy.ops.blender_coco.set_keypoints(keypoints=with_null))
        out["null_stored"] = rig.get("coco_keypoints")
        out["null_bones"] = keypoint_definition(rig)["bones"]
        from blender_coco.blender.addon_ops import describe_keypoints
        out["null_described"] = describe_keypoints(rig)
        bpy.ops.blender_coco.set_keypoints(keypoints=custom)
        out["bad_bone"] = raises(bpy.ops.blender_coco.set_keypoints, keypoints='[["nose", "no_such_bone"]]')
        out["bad_json"] = raises(bpy.ops.blender_coco.set_keypoints, keypoints='[["nose", "head"')
        out["after_errors"] = rig.get("coco_keypoints")
        bpy.ops.object.armature_add()  # a one-bone armature: coco17 cannot fit
        plain = bpy.context.active_object
        select(plain.name)
        out["no_fit"] = raises(bpy.ops.blender_coco.set_keypoints, keypoints="coco17")
        out["plain_prop"] = plain.get("coco_keypoints")
        select(rig.name)
        bpy.ops.blender_coco.set_keypoints(keypoints="")
        out["removed"] = "coco_keypoints" in rig
        select("Cube")
        out["not_armature"] = raises(bpy.ops.blender_coco.set_keypoints, keypoints="coco17")
        result(**out)
    """, tmp_path)
    assert facts["preset"] == "coco17"
    assert json.loads(facts["custom"]) == [["left_wrist", "hand.L"], ["nose", "nose.001", "tail"]]
    assert facts["definition"] == ["left_wrist", "nose"]
    assert facts["null_status"] == ["FINISHED"]
    assert json.loads(facts["null_stored"]) == [["left_wrist", "hand.L"], ["left_ear", None], ["nose", "nose.001", "tail"]]
    assert facts["null_bones"] == [["hand.L", "head"], [None, "head"], ["nose.001", "tail"]]
    assert facts["null_described"] == "3 keypoint(s), custom map, 1 with no bone (always v=0)"
    assert "no_such_bone" in facts["bad_bone"] and facts["rig"] in facts["bad_bone"]
    assert "not valid JSON" in facts["bad_json"]
    assert facts["after_errors"] == facts["custom"]  # a rejected value leaves the previous map
    assert "coco17" in facts["no_fit"] and facts["plain_prop"] is None
    assert facts["removed"] is False
    assert "armature" in facts["not_armature"].lower()


@needs_bpy
@pytest.mark.blender
def test_every_panel_draws_with_a_real_layout(tmp_path):
    log = []
    facts = run_bpy("""
        from blender_coco.blender import addon_ui
        blender_coco.register()
        panels = list(addon_ui.CLASSES)
        for cls in panels:  # empty scene, mesh active
            draw_panel(cls)
        select("Cube")
        bpy.ops.blender_coco.mark(category="box")
        bpy.ops.object.armature_add()
        bpy.ops.blender_coco.set_keypoints(keypoints='[["top", "Bone", "tail"], ["ear", null]]')
        settings = bpy.context.scene.blender_coco
        bpy.ops.mesh.primitive_plane_add(size=20, location=(0, 0, -1))
        bpy.ops.blender_coco.mark(category="floor", stuff=True)
        for source, background in (("__none__", ""), ("coco17", "sky"), ("__custom__", "box")):
            settings.keypoint_source, settings.background = source, background
            for cls in panels:
                draw_panel(cls)
        select("Armature")
        for cls in panels:
            draw_panel(cls)
        result(drawn=[c.__name__ for c in panels])
    """, tmp_path, log=log)
    assert len(facts["drawn"]) == 9
    layout_errors = [ln for ln in log[0].splitlines() if "rna_uiItem" in ln or "not found" in ln or "unknown" in ln]
    assert layout_errors == []


def _strings(item) -> list:
    """[draw_string, RNA path or operator] of every button in a UILayout.introspect() tree, in order."""
    if isinstance(item, list):
        return [s for i in item for s in _strings(i)]
    target = item.get("rna") or item.get("operator") or ""
    own = [[item.get("draw_string", ""), target]] if "LAYOUT" not in str(item.get("type")) else []
    return own + _strings(item.get("items", []))


@needs_bpy
@pytest.mark.blender
def test_override_samples_is_a_checkbox_over_samples_and_the_panel_shows_the_scenes_own(tmp_path):
    facts = run_bpy("""
        from blender_coco.blender import addon_ui
        from blender_coco.blender.addon_props import render_config
        blender_coco.register()
        bpy.ops.wm.save_as_mainfile(filepath=bpy.path.abspath("//") or "scene.blend")
        settings = bpy.context.scene.blender_coco
        bpy.context.scene.cycles.samples = 32
        def state():
            popup = bpy.context.window_manager.popmenu_begin__internal("x", icon="NONE")
            addon_ui.BLENDER_COCO_PT_render_settings.draw(popup, bpy.context)
            return [settings.use_samples, settings.samples, render_config(settings).samples, popup.layout.introspect()]
        out = {"default": state()}
        settings.use_samples = True  # starts from what renders now: the scene's 32
        out["on"] = state()
        settings.samples = 8
        settings.use_samples = False
        out["off"] = state()
        settings.use_samples = True  # the last override comes back
        out["again"] = state()
        settings.samples = 0  # 0 is the scene's, as before: the checkbox follows
        out["zero"] = state()
        result(**out)
    """, tmp_path)
    for key, (use, samples, config, _) in {"default": (False, 0, None, 0), "on": (True, 32, 32, 0),
                                           "off": (False, 0, None, 0), "again": (True, 8, 8, 0),
                                           "zero": (False, 0, None, 0)}.items():
        assert facts[key][:3] == [use, samples, config], key
    shown = {key: _strings(facts[key][3]) for key in facts}
    # off: the Samples row shows the scene's own Cycles samples (greyed); on: the override's value
    assert ["32", "CyclesRenderSettings.samples[0]"] in shown["default"]
    assert not [s for s in shown["default"] if s[1].startswith("BLENDER_COCO_PG_settings.samples")]
    assert ["8", "BLENDER_COCO_PG_settings.samples[0]"] in shown["again"]
    assert "BLENDER_COCO_PG_settings.use_samples[0]" in [rna for _, rna in shown["default"]]  # the checkbox


@needs_bpy
@pytest.mark.blender
def test_long_panel_text_is_wrapped_not_cut(tmp_path):
    facts = run_bpy("""
        from blender_coco.blender import addon_render, addon_ui
        blender_coco.register()
        error = ("COCO > Output > Export Python /nonexistent/python3: no such executable; set it to the Python "
                 "of an environment with blender-coco installed")
        class Failed:
            state, error, done, total, result = addon_render.FAILED, error, 1, 3, None
        addon_render._session = Failed()
        popup = bpy.context.window_manager.popmenu_begin__internal("x", icon="NONE")
        addon_ui.BLENDER_COCO_PT_render.draw(popup, bpy.context)
        def labels(item):
            if isinstance(item, list):
                return [t for i in item for t in labels(i)]
            own = [item["draw_string"]] if item.get("draw_string") and not (item.get("rna") or item.get("operator")) else []
            return own + labels(item.get("items", []))
        lines = labels(popup.layout.introspect())[1:]  # after the popup's title
        # no region here: text wraps to a 300 px one
        result(error=error, lines=lines, widths=[addon_ui._text_width(t, 1.0) for t in lines],
               room=300 - addon_ui.LABEL_MARGIN, whole=addon_ui._text_width(error, 1.0))
    """, tmp_path)
    lines = facts["lines"]
    assert len(lines) > 2
    assert " ".join(lines) == facts["error"]  # every word shown, in order
    assert max(facts["widths"]) <= facts["room"] < facts["whole"]


# ----------------------------------------------------------------------------- rendering

SCENE = """
        blender_coco.register()
        bpy.ops.mesh.primitive_uv_sphere_add(location=(2.5, 0, 0))
        select("Cube")
        bpy.ops.blender_coco.mark(category="box")
        select("Sphere")
        bpy.ops.blender_coco.mark(category="ball", supercategory="toy")
        settings = bpy.context.scene.blender_coco
        settings.frames = 2
        settings.seed = 7
        settings.samples = 1
        settings.use_resolution = True
        settings.resolution_x, settings.resolution_y = 64, 48
        settings.segmentation = "rle"
"""


@needs_bpy
@pytest.mark.blender
def test_panel_settings_become_the_same_render_config_as_the_cli(tmp_path):
    facts = run_bpy(SCENE + f"""
        from blender_coco.blender.addon_props import render_config
        from blender_coco.config import ExportConfig, RenderConfig
        from blender_coco.errors import UserError
        settings.output_dir = {str(tmp_path / "ds")!r}
        settings.device, settings.image_format, settings.python = "CPU", "JPEG", "/usr/bin/python3"
        settings.randomize = {str(tmp_path / "random.toml")!r}
        expected = RenderConfig(out={str(tmp_path / "ds")!r}, frames=2, seed=7, resolution=(64, 48), samples=1,
                                device="CPU", image_format="JPEG", export=ExportConfig(segmentation="rle"),
                                python="/usr/bin/python3", randomize={str(tmp_path / "random.toml")!r})
        out = {{"equal": render_config(settings) == expected}}
        settings.use_resolution, settings.samples, settings.python, settings.randomize = False, 0, "", "  "
        cfg = render_config(settings)
        out["defaults"] = [cfg.resolution, cfg.samples, cfg.python, cfg.randomize]
        settings.randomize = "off"
        out["randomize_off"] = render_config(settings).randomize
        out["amodal"] = [render_config(settings).amodal]
        settings.amodal = False
        out["amodal"].append(render_config(settings).amodal)
        errors = {{}}
        settings.randomize = "//random.toml"  # the .blend is not saved: // has no meaning yet
        try:
            render_config(settings)
        except UserError as exc:
            errors["randomize"] = str(exc)
        settings.randomize = ""
        for value in ("", "//relative/"):
            settings.output_dir = value
            try:
                render_config(settings)
            except UserError as exc:
                errors[value] = str(exc)
        out["errors"] = errors
        out["operator_error"] = raises(bpy.ops.blender_coco.render)
        out["path_warnings"] = bpy.app.version < (4, 5, 0) or all(
            settings.bl_rna.properties[n].is_path_supports_blend_relative for n in ("output_dir", "python", "randomize"))
        # the pipeline's export-stage errors speak of --python; the panel's user reads the field's name
        import os
        from pathlib import Path
        from blender_coco.blender import handoff
        from blender_coco.blender.addon_render import panel_message
        from blender_coco.commands._common import flag
        os.environ.pop("BLENDER_COCO_PYTHON", None)
        os.environ["PATH"] = ""  # no python3 to fall back to
        raw = []
        for call in (lambda: handoff.find_python("/nonexistent/python3"), lambda: handoff.find_python(None),
                     lambda: handoff.run_export(Path({str(tmp_path)!r}), ExportConfig(), "/nonexistent/python3")):
            try:
                call()
            except UserError as exc:
                raw.append(exc)
        out["python_errors"] = [[m.render(flag), panel_message(m)] for m in raw]
        # once the .blend is saved, // paths resolve next to it
        bpy.ops.wm.save_as_mainfile(filepath={str(tmp_path / "scene.blend")!r})
        settings.randomize, settings.output_dir = "//random.toml", "//ds/"
        cfg = render_config(settings)
        out["relative"] = [cfg.out, cfg.randomize]
        cams = []  # the camera list: names, 'all', and an unknown camera as the panel shows it
        for text in (" Camera , CamB", "all"):
            settings.cameras = text
            cams.append(list(render_config(settings).cameras))
        settings.cameras = "Nope"
        try:
            from blender_coco.blender.views import resolve_views
            resolve_views(bpy.context.scene, render_config(settings).cameras)
        except UserError as exc:
            cams.append(panel_message(exc))
        out["cameras"] = cams
        result(**out)
    """, tmp_path)
    assert facts["cameras"][:2] == [["Camera", "CamB"], ["all"]]
    assert facts["cameras"][2].startswith("COCO > Output > Cameras: scene 'Scene' has no object 'Nope'; its cameras: ")
    assert facts["equal"]
    assert facts["defaults"] == [None, None, None, None]  # randomize None: the scene's own coco_randomize, if any
    assert facts["randomize_off"] == "off"
    assert facts["amodal"] == [True, False]  # the checkbox, on by default
    assert "COCO > Output > Randomization > Config '//random.toml'" in facts["errors"]["randomize"]
    assert "not saved" in facts["errors"]["randomize"]
    assert facts["relative"] == [str(tmp_path / "ds") + "/", str(tmp_path / "random.toml")]
    assert facts["path_warnings"] is True  # Blender 4.5+: "//" paths are valid in these fields
    assert "Folder is empty" in facts["errors"][""]
    assert "not saved" in facts["errors"]["//relative/"]
    assert "not saved" in facts["operator_error"] and "\n" not in facts["operator_error"]
    assert len(facts["python_errors"]) == 3
    for raw, shown in facts["python_errors"]:
        assert "--python" in raw and "--python" not in shown and "COCO > Output > Export Python" in shown
    (_, missing), (_, none_found), (_, cannot_start) = facts["python_errors"]
    assert missing.startswith("COCO > Output > Export Python /nonexistent/python3: no such executable")
    assert "set COCO > Output > Export Python to the Python of an environment with blender-coco" in none_found
    assert cannot_start.endswith("set COCO > Output > Export Python to a working Python")


@needs_bpy
@pytest.mark.blender
def test_render_operator_writes_a_dataset_that_pycocotools_loads(tmp_path):
    from pycocotools.coco import COCO

    ds = tmp_path / "ds"
    facts = run_bpy(SCENE + f"""
        settings.output_dir = {str(ds)!r}
        status = bpy.ops.blender_coco.render()
        r = bpy.context.scene.render
        result(status=sorted(status), restored=[r.resolution_x, r.resolution_y, bpy.context.scene.cycles.samples])
    """, tmp_path, "render operator")
    assert facts["status"] == ["FINISHED"]
    assert facts["restored"][:2] == [1920, 1080] and facts["restored"][2] != 1  # the scene is left as it was
    coco = COCO(str(ds / "annotations" / "instances.json"))
    cats = {c["name"]: c for c in coco.loadCats(coco.getCatIds())}
    assert sorted(cats) == ["ball", "box"] and cats["ball"]["supercategory"] == "toy"
    images = coco.loadImgs(coco.getImgIds())
    assert len(images) == 2
    for img in images:
        assert (img["width"], img["height"]) == (64, 48)
        assert (ds / "images" / img["file_name"]).is_file()
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[img["id"]]))
        assert sorted(coco.cats[a["category_id"]]["name"] for a in anns) == ["ball", "box"]
        for a in anns:
            assert isinstance(a["segmentation"], dict)  # the panel asked for RLE
            assert coco.annToMask(a).sum() == a["area"] > 0
    assert json.loads((ds / "records" / "000000.json").read_text())["seed"] == 7


@needs_bpy
@pytest.mark.blender
def test_mask_threshold_field_reaches_the_export(tmp_path):
    """A 30%-opaque square (scenes/instances.py): the majority leaves it unannotated; the panel's
    Threshold 0.25 annotates it (the same cut as --mask-threshold 0.25)."""
    facts = run_bpy(f"""
        sys.path.insert(0, {str(REPO / "scenes")!r})
        import instances as scenes
        from blender_coco.blender.addon_props import render_config
        blender_coco.register()
        for obj in list(bpy.data.objects):
            bpy.data.objects.remove(obj)
        scene = bpy.context.scene
        scenes.single(scene, "transparent")
        settings = scene.blender_coco
        settings.frames, settings.segmentation, settings.output_dir = 1, "rle", {str(tmp_path / "ds")!r}
        out = {{"default": render_config(settings).export.mask_threshold}}
        for name, on in (("majority", False), ("threshold", True)):
            settings.output_dir = {str(tmp_path)!r} + "/" + name
            settings.use_mask_threshold, settings.mask_threshold = on, 0.25
            out[name] = [sorted(bpy.ops.blender_coco.render()), render_config(settings).export.mask_threshold]
        result(**out)
    """, tmp_path, "render with a mask threshold")
    assert facts["default"] is None
    assert facts["majority"] == [["FINISHED"], None] and facts["threshold"] == [["FINISHED"], 0.25]
    import numpy as np
    from pycocotools.coco import COCO

    assert COCO(str(tmp_path / "majority" / "annotations" / "instances.json")).getAnnIds() == []
    coco = COCO(str(tmp_path / "threshold" / "annotations" / "instances.json"))
    (ann,) = coco.loadAnns(coco.getAnnIds())
    mask = coco.annToMask(ann).astype(bool)
    truth = np.zeros_like(mask)
    truth[32:64, 48:80] = True  # the square: columns 48..80, rows 32..64
    assert (mask & truth).sum() / (mask | truth).sum() >= 0.99


@needs_bpy
@pytest.mark.blender
def test_render_operator_with_a_stuff_floor_writes_stuff_and_panoptic(tmp_path):
    """Marked in the panel: a stuff floor, the world as 'sky', a box, and a rig whose map has a null bone."""
    from test_panoptic import panoptic_to_detection, panopticapi_checks, same_annotations

    from cocotools import load_coco, self_eval

    ds = tmp_path / "ds"
    facts = run_bpy(f"""
        blender_coco.register()
        settings = bpy.context.scene.blender_coco
        bpy.ops.mesh.primitive_plane_add(size=20, location=(0, 0, -1))
        settings.category, settings.stuff = "floor", True
        select("Plane")
        bpy.ops.blender_coco.mark()
        settings.stuff = False
        select("Cube")
        bpy.ops.blender_coco.mark(category="box")
        bpy.ops.object.armature_add(location=(0, -2.5, 0))
        rig = bpy.context.active_object
        bpy.ops.mesh.primitive_cone_add(location=(0, -2.5, 0))  # the rig's body; its apex is the bone's tail
        bpy.context.active_object.parent = rig
        bpy.context.active_object.matrix_parent_inverse = rig.matrix_world.inverted()
        select(rig.name)
        bpy.ops.blender_coco.set_keypoints(keypoints='[["top", "Bone", "tail"], ["ear", null]]')
        bpy.ops.blender_coco.mark(category="stick")
        settings.background = "sky"
        settings.output_dir = {str(ds)!r}
        settings.frames, settings.samples, settings.use_resolution = 1, 1, True
        settings.resolution_x, settings.resolution_y = 64, 48
        result(status=sorted(bpy.ops.blender_coco.render()))
    """, tmp_path, "render operator with stuff")
    assert facts["status"] == ["FINISHED"]
    ann_dir = ds / "annotations"
    assert {"instances.json", "stuff.json", "panoptic.json"} <= {p.name for p in ann_dir.iterdir()}
    instances, stuff = load_coco(ann_dir / "instances.json"), load_coco(ann_dir / "stuff.json")
    ids = {c["name"]: c["id"] for c in instances.dataset["categories"] + stuff.dataset["categories"]}
    assert ids == {"box": 1, "floor": 2, "sky": 3, "stick": 4}  # 1..n by name over things and stuff
    assert sorted(c["name"] for c in stuff.dataset["categories"]) == ["floor", "sky"]
    assert sorted(stuff.cats[a["category_id"]]["name"] for a in stuff.dataset["annotations"]) == ["floor", "sky"]
    for a in stuff.dataset["annotations"]:
        assert stuff.annToMask(a).sum() == a["area"] > 0
    assert self_eval(ann_dir / "stuff.json", "segm") == pytest.approx(1.0)
    (stick,) = instances.loadAnns(instances.getAnnIds(catIds=[ids["stick"]]))
    assert stick["keypoints"][2] > 0 and stick["keypoints"][3:] == [0, 0, 0] and stick["num_keypoints"] == 1
    pan = json.loads((ann_dir / "panoptic.json").read_text())
    panopticapi_checks(pan, ann_dir / "panoptic")
    assert {c["name"]: c["isthing"] for c in pan["categories"]} == {"box": 1, "floor": 0, "sky": 0, "stick": 1}
    (segments,) = panoptic_to_detection(pan, ann_dir / "panoptic").values()
    assert sum(s["area"] for s in segments) == 64 * 48  # every pixel is floor, sky, box or stick
    same_annotations([s for s in segments if s["isthing"]], instances, 1)
    same_annotations([s for s in segments if not s["isthing"]], stuff, 1)
    # the panoptic segments, loaded as a detection dataset, are judged by pycocotools too
    as_coco = {"images": pan["images"], "categories": pan["categories"], "annotations": [
        {"id": i, "image_id": 1, "category_id": s["category_id"], "iscrowd": s["iscrowd"], "area": s["area"],
         "bbox": s["bbox"], "segmentation": _rle(s["mask"])} for i, s in enumerate(segments, start=1)]}
    assert self_eval(as_coco, "segm") == pytest.approx(1.0)


def _rle(mask) -> dict:
    import numpy as np
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": rle["size"], "counts": rle["counts"].decode("ascii")}


@needs_bpy
@pytest.mark.blender
def test_render_session_steps_frame_by_frame_shows_progress_and_cancels(tmp_path):
    """The machinery of the modal operator (its timer ticks need a GUI event loop)."""
    log = []
    facts = run_bpy(SCENE + f"""
        from blender_coco.blender import addon_render, addon_ui, pipeline
        from blender_coco.blender.addon_props import render_config
        settings.output_dir = {str(tmp_path / "run")!r}
        settings.frames = 3
        scene = bpy.context.scene
        session = addon_render.RenderSession(pipeline.RenderJob(render_config(settings), scene))
        addon_render._session = session  # what invoke() does
        poll_running = raises(bpy.ops.blender_coco.render)
        session.start()
        states, progress = [], []
        while session.active:
            states.append(session.tick())
            progress.append([session.done, session.total])
            draw_panel(addon_ui.BLENDER_COCO_PT_render)  # progress bar + Cancel while running
        draw_panel(addon_ui.BLENDER_COCO_PT_render)  # the finished line
        out = {{"states": states, "progress": progress, "result": str(session.result.files["instances"]), "poll_running": poll_running}}

        settings.output_dir = {str(tmp_path / "cancel")!r}
        session = addon_render.RenderSession(pipeline.RenderJob(render_config(settings), scene))
        addon_render._session = session
        session.start()
        session.tick()
        bpy.ops.blender_coco.render_cancel()
        out["cancel_state"] = session.tick()
        out["cancel_done"] = session.done
        out["after_cancel_resolution"] = [scene.render.resolution_x, scene.render.resolution_y]
        draw_panel(addon_ui.BLENDER_COCO_PT_render)
        out["cancel_poll_after"] = bpy.ops.blender_coco.render_cancel.poll()
        result(**out)
    """, tmp_path, "render session", log=log)
    assert "already running" in facts["poll_running"]
    assert facts["states"] == ["RUNNING", "RUNNING", "FINISHED"]
    assert facts["progress"] == [[1, 3], [2, 3], [3, 3]]
    assert facts["result"] == str(tmp_path / "run" / "annotations" / "instances.json")
    assert Path(facts["result"]).is_file()
    assert facts["cancel_state"] == "CANCELLED" and facts["cancel_done"] == 1
    assert facts["after_cancel_resolution"] == [1920, 1080]  # abort() restored the scene
    assert not (tmp_path / "cancel" / "annotations" / "instances.json").exists()
    assert len(list((tmp_path / "cancel" / "images").iterdir())) == 1  # the finished frame stays
    assert facts["cancel_poll_after"] is False
    assert not [ln for ln in log[0].splitlines() if "rna_uiItem" in ln]


@needs_bpy
@pytest.mark.blender
def test_cancelled_session_puts_back_the_viewport_settings_it_matched_to_the_render(tmp_path):
    """In the user's session: the viewport evaluates as the render while the run is on
    (blender/render_match.py); a Cancel after one frame puts every value back."""
    facts = run_bpy(SCENE + f"""
        from blender_coco.blender import addon_render, pipeline
        from blender_coco.blender.addon_props import render_config
        scene = bpy.context.scene
        sphere, cube = bpy.data.objects["Sphere"], bpy.data.objects["Cube"]
        sub = sphere.modifiers.new("sub", "SUBSURF"); sub.levels, sub.render_levels = 0, 2
        ps = cube.modifiers.new("ps", "PARTICLE_SYSTEM").particle_system.settings
        ps.render_type, ps.instance_object = "OBJECT", sphere
        ps.display_percentage, ps.display_method = 10, "DOT"
        cube.hide_set(True)
        def state():
            return [sub.levels, ps.display_percentage, ps.display_method, cube.hide_get()]
        out = {{"before": state()}}
        settings.output_dir, settings.frames = {str(tmp_path / "cancel")!r}, 3
        session = addon_render.RenderSession(pipeline.RenderJob(render_config(settings), scene))
        addon_render._session = session
        session.start()
        session.tick()
        out["during"] = state()
        bpy.ops.blender_coco.render_cancel()
        out["state"] = session.tick()
        out["after"] = state()
        result(**out)
    """, tmp_path, "cancelled render session")
    assert facts["before"] == [0, 10, "DOT", True]
    assert facts["during"] == [2, 100, "RENDER", False]
    assert facts["state"] == "CANCELLED" and facts["after"] == facts["before"]


@needs_bpy
@pytest.mark.blender
def test_render_operator_reports_user_errors_in_one_line(tmp_path):
    facts = run_bpy(SCENE + f"""
        settings.output_dir = {str(tmp_path / "ds")!r}
        bpy.data.objects.remove(bpy.data.objects["Camera"])
        result(error=raises(bpy.ops.blender_coco.render))
    """, tmp_path)
    assert "no camera" in facts["error"] and "Traceback" not in facts["error"]
    assert len(facts["error"].splitlines()) == 1


# ----------------------------------------------------------------------------- the zip


@pytest.fixture(scope="module")
def addon_zip(tmp_path_factory) -> Path:
    return build_addon.build_zip(tmp_path_factory.mktemp("dist"))


def test_zip_holds_the_package_without_caches_and_is_reproducible(addon_zip, tmp_path):
    (REPO / "blender_coco" / "__pycache__").mkdir(exist_ok=True)  # ensure there is a cache to leave out
    with zipfile.ZipFile(addon_zip) as zf:
        names = zf.namelist()
        manifest = tomllib.loads(zf.read("blender_coco/blender_manifest.toml").decode())
    assert addon_zip.name == f"blender_coco-{manifest['version']}.zip"
    assert all(n.startswith("blender_coco/") for n in names)
    for required in ("blender_coco/__init__.py", "blender_coco/blender/addon.py", "blender_coco/config.py",
                     "blender_coco/blender/marking.py", "blender_coco/blender_manifest.toml"):
        assert required in names
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".tmp"))]
    again = build_addon.build_zip(tmp_path)
    assert again.read_bytes() == addon_zip.read_bytes()


@needs_bpy
def test_zip_passes_blenders_own_extension_validator(addon_zip):
    spec = importlib.util.find_spec("bpy")
    tools = sorted(Path(spec.origin).parent.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not tools:
        pytest.skip("this bpy build ships no blender_ext.py (Blender's extension command-line tool)")
    proc = subprocess.run([sys.executable, str(tools[-1]), "validate", str(addon_zip)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success" in proc.stdout


def test_build_refuses_a_manifest_version_that_differs_from_the_package(tmp_path):
    pkg = tmp_path / "blender_coco"
    pkg.mkdir()
    (pkg / "__init__.py").write_text('__version__ = "9.9.9"\n')
    (pkg / "blender_manifest.toml").write_text('schema_version = "1.0.0"\nversion = "0.1.0"\n')
    with pytest.raises(build_addon.BuildError, match="9.9.9"):
        build_addon.build_zip(tmp_path / "dist", pkg)
    assert not (tmp_path / "dist").exists() or not list((tmp_path / "dist").iterdir())


@needs_bpy
@pytest.mark.blender
def test_zip_installs_as_an_extension_in_blender_5(addon_zip, tmp_path):
    facts = run_bpy(f"""
        import addon_utils
        bpy.ops.extensions.package_install_files(filepath={str(addon_zip)!r}, repo="user_default",
                                                 enable_on_install=True)
        module = "bl_ext.user_default.blender_coco"
        from blender_coco.blender import handoff, marking
        out = {{"enabled": module in bpy.context.preferences.addons.keys(), "types": registered(),
                "bundled": handoff.bundled_exporter()}}
        # the add-on's code came from the installed extension, not from this checkout
        out["file"] = sys.modules["blender_coco.blender.addon"].__file__
        select("Cube")
        bpy.ops.blender_coco.mark(category="box")
        out["marked"] = marking.category_of(bpy.data.objects["Cube"])
        addon_utils.disable(module)
        out["after_disable"] = registered()
        out["settings_after_disable"] = hasattr(bpy.types.Scene, "blender_coco")
        addon_utils.enable(module)
        out["reenabled"] = registered()
        result(**out)
    """, tmp_path, "extension install", imports="")
    assert facts["enabled"] and len(facts["types"]) == 15
    assert not facts["bundled"]  # no wheels in this zip: the export needs the Export Python field, shown
    assert "/extensions/user_default/blender_coco/" in facts["file"]
    assert str(tmp_path) in facts["file"]
    assert facts["marked"] == "box"
    assert facts["after_disable"] == [] and not facts["settings_after_disable"]
    assert facts["reenabled"] == facts["types"]


@pytest.mark.blender_binary
def test_zip_installs_and_renders_as_a_legacy_addon_in_debian_blender_3_4(addon_zip, tmp_path):
    """Stock Blender: its Python has no numpy, so the add-on's render hands the export to this venv's Python."""
    from pycocotools.coco import COCO

    if BLENDER is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but there is no 'blender' binary on PATH (apt-get install blender)")
        pytest.skip("no 'blender' binary on PATH (apt-get install blender)")
    ds = tmp_path / "ds"
    script = tmp_path / "install.py"
    script.write_text(textwrap.dedent(f"""
        import json, sys
        import addon_utils, bpy
        bpy.ops.preferences.addon_install(filepath={str(addon_zip)!r})
        addon_utils.enable("blender_coco", default_set=True, handle_error=None)
        assert hasattr(bpy.types, "BLENDER_COCO_PT_main"), "panel not registered"
        import blender_coco
        from blender_coco.blender import marking
        for o in bpy.context.view_layer.objects:
            o.select_set(o.name == "Cube")
        bpy.ops.blender_coco.mark(category="box")
        facts = {{"version": bpy.app.version_string, "file": blender_coco.__file__,
                  "marked": marking.category_of(bpy.data.objects["Cube"]),
                  "counts": marking.category_counts(bpy.context.scene)}}
        settings = bpy.context.scene.blender_coco
        settings.output_dir = {str(ds)!r}
        settings.frames, settings.samples, settings.use_resolution = 2, 1, True
        settings.resolution_x, settings.resolution_y = 64, 48
        settings.python = "/nonexistent/python3"  # the export stage cannot run here: the error names the field
        try:
            bpy.ops.blender_coco.render()
            facts["bad_python"] = None
        except RuntimeError as exc:
            facts["bad_python"] = str(exc).strip()
        settings.python = {sys.executable!r}
        facts["render"] = sorted(bpy.ops.blender_coco.render())
        addon_utils.disable("blender_coco", default_set=True)
        facts["after_disable"] = hasattr(bpy.types, "BLENDER_COCO_PT_main") or hasattr(bpy.types.Scene, "blender_coco")
        print("RESULT " + json.dumps(facts), flush=True)
    """))
    env = isolated_env(tmp_path / "home")
    env["TMPDIR"] = str(tmp_path)  # where Blender writes blender.crash.txt
    proc = subprocess.run([BLENDER, "-b", "--factory-startup", "--python-exit-code", "1", "--python", str(script)],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, f"blender -b printed no RESULT (exit {proc.returncode})\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    facts = json.loads(lines[-1][len("RESULT "):])
    assert str(tmp_path / "home") in facts["file"] and "/scripts/addons/blender_coco/" in facts["file"]
    assert facts["marked"] == "box" and facts["counts"] == {"box": 1}
    assert "COCO > Output > Export Python /nonexistent/python3: no such executable" in facts["bad_python"]
    assert "--python" not in facts["bad_python"] and len(facts["bad_python"].splitlines()) == 1
    assert facts["render"] == ["FINISHED"]
    coco = COCO(str(ds / "annotations" / "instances.json"))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["box"]
    assert len(coco.getImgIds()) == 2 and len(coco.getAnnIds()) == 2
    assert facts["after_disable"] is False
    crash = tmp_path / "blender.crash.txt"
    if proc.returncode == -11 and crash.is_file() and "disable_all" in crash.read_text(errors="replace"):
        # Known: Debian's Blender 3.4 segfaults on quit once `multiprocessing` was imported
        # (its __mp_main__ alias of Blender's __main__); the export hand-off imports it while
        # probing for an in-process exporter. Everything above already happened.
        pytest.xfail("Blender 3.4 crashed on quit after the render (multiprocessing imported in Blender)")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

"""The COCO panel fits Blender's sidebar: Debian's Blender 3.4 with its real UI, on Xvfb.

The test starts Xvfb on a free display and runs ``blender`` (not ``-b``) with a startup
script that installs the add-on zip built from this checkout, marks a small scene,
opens the 3D View's sidebar at its default width, switches it to the COCO tab (mouse
wheel over the tabs, sent with xdotool), opens every sub-panel and takes screenshots.

"No label is cut" is checked on what Blender drew: Blender shortens a text that does
not fit with an ellipsis ("Cate…", "Segment…"), so the sidebar's pixels must hold no
ellipsis. The detector is proven on the same run: a control panel drawn afterwards with
the old, too long labels must show exactly one ellipsis per label. A second check uses
Blender's own font metrics (blf): every property-split label's width is compared with
the width of its label column, measured on the screenshot.

Set ``BLENDER_COCO_UPDATE_DOCS=1`` to also write the sidebar's picture to docs/panel.png.
Xvfb, xdotool or the blender binary missing: skipped locally, a failure under CI.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import build_addon  # noqa: E402  (scripts/ is not a package)

DOCS_PNG = REPO / "docs" / "panel.png"
SCREEN = (1000, 1700)  # tall enough for every sub-panel open, without scrolling

# The old panel's labels: the control panel draws them; each must come out cut (one ellipsis each).
OLD_SPLIT_LABELS = ["Segmentation", "Supercategory", "Randomization config", "Export Python", "Image format"]
OLD_BUTTONS = ["Mark selected", "Unmark selected"]  # side by side in one row

STARTUP = r'''
import json, subprocess, sys, traceback
import addon_utils, blf, bpy

ARGS = json.loads(sys.argv[sys.argv.index("--") + 1])
facts = {"errors": [], "drawn": {}, "shots": []}


def finish():
    with open(ARGS["facts"], "w") as fh:
        json.dump(facts, fh)
    bpy.ops.wm.quit_blender()


def guarded(step):
    def run():
        try:
            return step()
        except Exception:
            facts["errors"].append(traceback.format_exc())
            finish()
            return None
    return run


bpy.context.preferences.view.show_splash = False
bpy.ops.preferences.addon_install(filepath=ARGS["zip"])
addon_utils.enable("blender_coco", default_set=True, handle_error=None)
from blender_coco.blender import addon_ui

# Every sub-panel open (the picture shows them all), then record what each one draws.
for cls in reversed(addon_ui.CLASSES):
    bpy.utils.unregister_class(cls)
for cls in addon_ui.CLASSES:
    cls.bl_options = set(getattr(cls, "bl_options", set())) - {"DEFAULT_CLOSED"}
    bpy.utils.register_class(cls)


def record(cls):
    draw = cls.draw

    def recorded(self, context):
        draw(self, context)
        facts["drawn"][cls.__name__] = self.layout.introspect()
    cls.draw = recorded


for cls in addon_ui.CLASSES:
    record(cls)

# A small marked scene: a box, a stuff floor, the world as sky, a rig with keypoints (active).
def select(name):
    for o in bpy.context.view_layer.objects:
        o.select_set(o.name == name)
    bpy.context.view_layer.objects.active = bpy.data.objects[name]

settings = bpy.context.scene.blender_coco
select("Cube")
bpy.ops.blender_coco.mark(category="box", supercategory="toy")
bpy.ops.mesh.primitive_plane_add(size=20, location=(0, 0, -1))
bpy.ops.blender_coco.mark(category="floor", stuff=True)
settings.background = "sky"
bpy.ops.object.armature_add(location=(3, 0, 0))
bpy.ops.blender_coco.mark(category="person")
bpy.ops.blender_coco.set_keypoints(keypoints='[["head", "Bone", "tail"], ["hip", "Bone"], ["ear", null]]')
settings.category, settings.supercategory = "box", "toy"
settings.keypoint_source = "coco17"

win = bpy.context.window_manager.windows[0]
area = max((a for a in win.screen.areas if a.type == "VIEW_3D"), key=lambda a: a.width * a.height)
area.spaces.active.show_region_ui = True
region = next(r for r in area.regions if r.type == "UI")
facts["window"] = [win.width, win.height]
facts["ui_scale"] = bpy.context.preferences.system.ui_scale
facts["version"] = bpy.app.version_string


def shot(name):
    path = ARGS["out"] + "/" + name + ".png"
    with bpy.context.temp_override(window=win, screen=win.screen):
        bpy.ops.screen.screenshot(filepath=path, check_existing=False)
    facts["shots"].append(path)
    facts["region"] = [region.x, region.y, region.width, region.height]


def text_width(text):
    size = 11 * facts["ui_scale"]  # Blender's widget font: 11 points at the UI scale
    try:
        blf.size(0, size)
    except TypeError:  # Blender < 4.0 also takes a dpi
        blf.size(0, size, 72)
    return blf.dimensions(0, text)[0]


def split_labels(item, out):
    """Labels Blender put in the left column of a property split."""
    if isinstance(item, list):
        for i in item:
            split_labels(i, out)
        return out
    if item.get("type") == "LAYOUT_SPLIT" and item["items"] and item["items"][0].get("type") == "LAYOUT_COLUMN":
        for label in item["items"][0]["items"]:
            if label.get("draw_string"):
                out.append(label["draw_string"])
    split_labels(item.get("items", []), out)
    return out


class BLENDER_COCO_PT_zz_control(bpy.types.Panel):
    """The old labels, drawn the old way: the ellipsis detector must find each one cut"""
    bl_space_type, bl_region_type, bl_category, bl_label = "VIEW_3D", "UI", "COCO", "Control"

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        layout.use_property_decorate = False
        for text in ARGS["old_split"]:
            layout.prop(context.scene.blender_coco, "frames", text=text)
        row = layout.row(align=True)
        row.operator("blender_coco.mark", text=ARGS["old_buttons"][0], icon="ADD")
        row.operator("blender_coco.unmark", text=ARGS["old_buttons"][1], icon="REMOVE")
        facts["drawn"]["control"] = layout.introspect()


steps = {"wheel": 0}


def open_tab():
    """Wheel over the sidebar's tabs until the COCO tab is the one drawn."""
    if "BLENDER_COCO_PT_main" in facts["drawn"]:
        bpy.app.timers.register(guarded(take_shots), first_interval=0.5)
        return None
    if steps["wheel"] >= 12:
        facts["errors"].append("the COCO tab never drew: the sidebar did not switch to it")
        finish()
        return None
    steps["wheel"] += 1
    x = region.x + region.width - max(4, int(8 * facts["ui_scale"]))
    y = win.height - (region.y + region.height // 2)
    subprocess.run(["xdotool", "mousemove", str(x), str(y), "click", "5"], check=True)
    return 0.4


def take_shots():
    facts["wheel_steps"] = steps["wheel"]
    shot("panel")
    facts["labels"] = {}
    for name, tree in facts["drawn"].items():
        facts["labels"][name] = {t: text_width(t) for t in split_labels(tree, [])}
    bpy.utils.register_class(BLENDER_COCO_PT_zz_control)
    area.tag_redraw()
    bpy.app.timers.register(guarded(control_shot), first_interval=0.5)
    return None


def control_shot():
    shot("control")
    facts["labels"]["control"] = {t: text_width(t) for t in split_labels(facts["drawn"]["control"], [])}
    finish()
    return None


bpy.app.timers.register(guarded(open_tab), first_interval=1.0)
'''


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        msg = f"no {tool} (apt-get install xvfb xdotool)"
        if os.environ.get("CI"):
            pytest.fail(msg + "; CI must run the panel screenshot test")
        pytest.skip(msg)
    return path


@pytest.fixture
def display():
    """A fresh Xvfb server on a free display (Xvfb picks it: -displayfd); ':N'."""
    xvfb = _require("Xvfb")
    _require("xdotool")
    read, write = os.pipe()
    proc = subprocess.Popen([xvfb, "-displayfd", str(write), "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24",
                             "-nolisten", "tcp"], pass_fds=(write,), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as fh:
        number = fh.readline().strip()
    try:
        assert number.isdigit(), "Xvfb did not report its display"
        yield f":{number}"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def ellipses(gray: np.ndarray) -> list[tuple[int, int]]:
    """(x, y) of every "…" drawn in a dark-theme image: three dot-sized bright blobs on one
    baseline, evenly spaced, with no other ink above, below or between them."""
    ink = gray > 0.5 * (gray.max() + np.median(gray))
    labels, n = ndimage.label(ink)
    boxes = ndimage.find_objects(labels)
    dots = []
    for i, (ys, xs) in enumerate(boxes, start=1):
        h, w = ys.stop - ys.start, xs.stop - xs.start
        if h <= 3 and w <= 3:
            dots.append(((xs.start + xs.stop) / 2, (ys.start + ys.stop) / 2, xs, ys, i))
    dots.sort(key=lambda d: (round(d[1]), d[0]))
    found = []
    for a in dots:
        for b in dots:
            gap = b[0] - a[0]
            if not (2 <= gap <= 6) or abs(b[1] - a[1]) > 0.5:
                continue
            for c in dots:
                if abs(c[0] - b[0] - gap) > 1 or abs(c[1] - a[1]) > 0.5:
                    continue
                y0, y1 = a[3].start, a[3].stop
                x0, x1 = a[2].start, c[2].stop
                around = labels[max(y0 - 7, 0):y1 + 3, x0:x1]
                if set(np.unique(around)) <= {0, a[4], b[4], c[4]}:
                    found.append((int(a[0]), int(a[1])))
    return sorted(set(found))


def sidebar(path: str, facts: dict) -> np.ndarray:
    """The sidebar region's pixels (RGB) cut from a window screenshot."""
    image = np.asarray(Image.open(path).convert("RGB"))
    assert image.shape[:2] == (facts["window"][1], facts["window"][0]), "the screenshot is not the window"
    x, y, w, h = facts["region"]  # window coordinates, origin bottom-left
    top = image.shape[0] - (y + h)
    return image[top:top + h, x:x + w]


def gray(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(float) @ [0.299, 0.587, 0.114]


def ink_left(g: np.ndarray, row: int, right: int) -> int:
    """Leftmost text pixel on a line of text ending at column ``right``."""
    ink = g > 0.5 * (g.max() + np.median(g))
    band = ink[max(row - 9, 0):row + 2, :right]
    cols = np.nonzero(band.any(axis=0))[0]
    return int(cols.min())


@pytest.mark.blender_binary
def test_every_label_of_the_panel_fits_the_default_sidebar(blender_binary, display, tmp_path):
    addon_zip = build_addon.build_zip(tmp_path / "dist")
    script = tmp_path / "startup.py"
    script.write_text(textwrap.dedent(STARTUP))
    facts_path = tmp_path / "facts.json"
    args = {"zip": str(addon_zip), "out": str(tmp_path), "facts": str(facts_path),
            "old_split": OLD_SPLIT_LABELS, "old_buttons": OLD_BUTTONS}
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLENDER_USER_")}
    env.update(DISPLAY=display, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), TMPDIR=str(tmp_path))
    proc = subprocess.run([blender_binary, "--factory-startup", "--no-window-focus", "--python", str(script),
                           "--", json.dumps(args)], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=240)
    log = f"(exit {proc.returncode})\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert facts_path.is_file(), f"Blender wrote no facts {log}"
    facts = json.loads(facts_path.read_text())
    assert facts["errors"] == [], "\n".join(facts["errors"])

    drawn = set(facts["drawn"])
    assert drawn >= {"BLENDER_COCO_PT_main", "BLENDER_COCO_PT_mark", "BLENDER_COCO_PT_categories",
                     "BLENDER_COCO_PT_keypoints", "BLENDER_COCO_PT_output", "BLENDER_COCO_PT_render_settings",
                     "BLENDER_COCO_PT_randomization", "BLENDER_COCO_PT_export_python", "BLENDER_COCO_PT_render"}
    labels = facts["labels"]
    assert set(labels["BLENDER_COCO_PT_render_settings"]) >= {"Override", "Samples", "Device"}

    panel = sidebar(facts["shots"][0], facts)
    control = sidebar(facts["shots"][1], facts)
    Image.fromarray(panel).save(tmp_path / "sidebar.png")

    # 1. Nothing Blender drew in the sidebar was shortened with an ellipsis...
    cut = ellipses(gray(panel))
    assert cut == [], f"text cut at (x, y) {cut} in the sidebar: see {tmp_path / 'sidebar.png'}"
    # ...and the detector sees every cut: the control panel's old labels, one ellipsis each.
    control_cut = ellipses(gray(control))
    assert len(control_cut) == len(OLD_SPLIT_LABELS) + len(OLD_BUTTONS), control_cut
    buttons_row = max(y for _, y in control_cut)
    assert sum(y == buttons_row for _, y in control_cut) == len(OLD_BUTTONS)

    # 2. Blender's font metrics agree: the label column (as wide as a cut label's drawn text,
    # measured on the screenshot) holds every label of the panel and none of the old ones.
    g = gray(control)
    column = max(x + 4 - ink_left(g, y, x + 4) for x, y in control_cut if y != buttons_row)
    assert 0.2 * facts["region"][2] < column < 0.45 * facts["region"][2], column
    too_wide = {t: w for panel_labels in labels.values() for t, w in panel_labels.items() if w > column}
    assert set(too_wide) == set(OLD_SPLIT_LABELS), f"label column {column} px: {too_wide}"

    # 3. The whole panel is in the picture: the sidebar's bottom shows no text (nothing scrolled away).
    ink = gray(control) > 0.5 * (gray(control).max() + np.median(gray(control)))
    assert not ink[-30:].any(), "the sidebar is too short for the panel: the picture misses its end"

    rows = np.nonzero((gray(panel) > 0.5 * (gray(panel).max() + np.median(gray(panel)))).any(axis=1))[0]
    picture = Image.fromarray(panel[:rows.max() + 14])
    if os.environ.get("BLENDER_COCO_UPDATE_DOCS"):
        picture.save(DOCS_PNG, optimize=True)
    assert DOCS_PNG.is_file() and DOCS_PNG.stat().st_size < 200_000, "docs/panel.png: run with BLENDER_COCO_UPDATE_DOCS=1"

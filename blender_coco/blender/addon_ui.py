"""The COCO tab of the 3D View sidebar (N panel), laid out like Blender's own panels.

::

    COCO Dataset            what the scene will produce ("2 instances, 1 category")
      Mark                  category to mark with, Mark / Unmark, the active object's marking, world
      Categories            the scene's categories, each with a select button
      Keypoints             the active armature's keypoint map (closed by default)
      Output                folder, frames, seed, mask and image formats, mask threshold, amodal masks
        Render Settings     samples and resolution overrides (off: the scene's own), device
        Randomization       the randomization config file
        Export Python       the Python that runs the export stage (when Blender's own cannot)
      Render                the render button, progress, the result

Fields use ``use_property_split`` (label left, value right) with labels short enough for
the sidebar's default width; the long text is each property's tooltip. Panels only
draw: every change goes through an operator (``addon_ops``, ``addon_render``) or a
property of ``Scene.blender_coco`` (``addon_props``).
"""

from pathlib import Path

from bpy.types import Panel

from blender_coco.blender import handoff, marking
from blender_coco.blender.addon_ops import describe_keypoints
from blender_coco.blender.addon_props import KEYPOINTS_CUSTOM, KEYPOINTS_NONE, stuff_categories
from blender_coco.blender.addon_render import FAILED, FINISHED, RUNNING, current_session
from blender_coco.randomize.loading import OFF, SCENE_PROP

FONT_SIZE = 11  # Blender's widget text, in points at ui_scale 1
LABEL_MARGIN = 90  # px at ui_scale 1 a sidebar label with an icon loses: tabs, margins, icon (and some slack)


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _text_width(text: str, scale: float) -> float:
    """Width in pixels of ``text`` in the UI font at ``scale`` (Blender's own font metrics)."""
    import blf

    try:
        blf.size(0, FONT_SIZE * scale)
    except TypeError:  # Blender < 4.0 also takes a dpi
        blf.size(0, FONT_SIZE * scale, 72)
    return blf.dimensions(0, text)[0]


def _wrap(text: str, width: float, scale: float) -> list:
    """``text`` in lines no wider than ``width`` pixels (a longer word gets a line of its own)."""
    lines: list = []
    for word in text.split():
        if lines and _text_width(lines[-1] + " " + word, scale) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def _wrapped(layout, context, text: str, icon: str = "NONE", sep: str | None = None) -> None:
    """``text`` as labels wrapped to the region's width (Blender 3.4 labels do not wrap);
    with ``sep``, each part of ``text.split(sep)`` starts a line."""
    region = getattr(context, "region", None)
    system = getattr(getattr(context, "preferences", None), "system", None)
    scale = getattr(system, "ui_scale", 1.0) or 1.0
    width = (region.width if region is not None else 300) - LABEL_MARGIN * scale
    lines = [line for part in (text.split(sep) if sep else [text]) for line in _wrap(part, width, scale)]
    col = layout.column(align=True)
    for i, line in enumerate(lines or [""]):
        col.label(text=line, icon=icon if i == 0 or icon in ("NONE", "BLANK1") else "BLANK1")


def _split_layout(layout):
    """``layout`` with Blender's property-split style (label left, value right, no animate dots)."""
    layout.use_property_split = True
    layout.use_property_decorate = False
    return layout


class _CocoPanel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "COCO"


class BLENDER_COCO_PT_main(_CocoPanel, Panel):
    """Overview of the COCO dataset this scene will produce"""

    bl_label = "COCO Dataset"

    def draw(self, context):
        counts = marking.category_counts(context.scene)
        n = sum(counts.values())
        text = f"{_plural(n, 'instance', 'instances')}, {_plural(len(counts), 'category', 'categories')}"
        self.layout.label(text=text, icon="OUTLINER_OB_GROUP_INSTANCE" if n else "INFO")


class _CocoSubPanel(_CocoPanel):
    bl_parent_id = "BLENDER_COCO_PT_main"


class BLENDER_COCO_PT_mark(_CocoSubPanel, Panel):
    """Mark the selected objects with a COCO category"""

    bl_label = "Mark"

    def draw(self, context):
        layout = _split_layout(self.layout)
        settings = context.scene.blender_coco
        row = layout.row(align=True)
        row.prop(settings, "category")
        row.prop(settings, "category_pick", text="", icon_only=True, icon="DOWNARROW_HLT")
        layout.prop(settings, "supercategory")
        layout.prop(settings, "stuff")
        row = layout.row(align=True)
        op = row.operator("blender_coco.mark", text="Mark", icon="ADD")
        op.category = settings.category
        op.supercategory = settings.supercategory
        op.stuff = settings.stuff
        row.operator("blender_coco.unmark", text="Unmark", icon="REMOVE")
        obj = context.active_object
        if obj is not None:
            root = marking.instance_of(obj)
            if root is None:
                layout.label(text=f"{obj.name}: not marked", icon="OBJECT_DATA")
            else:
                kind = " (stuff)" if marking.is_stuff(root) else ""
                layout.label(text=f"{obj.name}: {marking.category_of(root)}{kind}", icon="CHECKMARK")
                if root != obj:
                    layout.label(text=f"Part of {root.name}", icon="BLANK1")
        layout.separator()
        layout.prop(settings, "background", icon="WORLD")
        background = marking.background_category(context.scene)
        if background is not None and background in marking.category_counts(context.scene) \
                and background not in stuff_categories(context.scene):
            layout.label(text=f"'{background}' is not stuff", icon="ERROR")


class BLENDER_COCO_PT_categories(_CocoSubPanel, Panel):
    """The scene's COCO categories"""

    bl_label = "Categories"

    def draw(self, context):
        layout = self.layout
        scene = context.scene
        counts = marking.category_counts(scene)
        background = marking.background_category(scene)
        if not counts and background is None:
            layout.label(text="No objects marked yet", icon="INFO")
            return
        stuff = stuff_categories(scene)
        col = layout.column(align=True)
        for name, n in sorted(counts.items()):
            row = col.row(align=True)
            split = row.split(factor=0.55)
            split.label(text=name, icon="TEXTURE" if name in stuff else "OBJECT_DATA")
            split.label(text="stuff" if name in stuff else _plural(n, "instance", "instances"))
            op = row.operator("blender_coco.select_category", text="", icon="RESTRICT_SELECT_OFF")
            op.category = name
        if background is not None:
            col.label(text=f"{background}: world", icon="WORLD")


class BLENDER_COCO_PT_keypoints(_CocoSubPanel, Panel):
    """Keypoints of the active armature (coco_keypoints)"""

    bl_label = "Keypoints"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = _split_layout(self.layout)
        obj = context.active_object
        if obj is None or obj.type != "ARMATURE":
            layout.label(text="Select an armature", icon="INFO")
            return
        settings = context.scene.blender_coco
        col = layout.column(align=True)
        col.label(text=obj.name, icon="ARMATURE_DATA")
        _wrapped(col, context, describe_keypoints(obj), icon="BLANK1", sep=", ")
        layout.prop(settings, "keypoint_source")
        if settings.keypoint_source == KEYPOINTS_CUSTOM:
            layout.prop(settings, "keypoint_map")
            value = settings.keypoint_map
        elif settings.keypoint_source == KEYPOINTS_NONE:
            value = ""
        else:
            value = settings.keypoint_source
        layout.operator("blender_coco.set_keypoints", text="Apply", icon="CHECKMARK").keypoints = value


class BLENDER_COCO_PT_output(_CocoSubPanel, Panel):
    """Where the dataset goes and what it holds"""

    bl_label = "Output"

    def draw(self, context):
        layout = _split_layout(self.layout)
        settings = context.scene.blender_coco
        layout.prop(settings, "output_dir", text="")  # a path needs the full width (Blender's Output panel too)
        col = layout.column(align=True)
        col.prop(settings, "frames")
        col.prop(settings, "seed")
        layout.prop(settings, "cameras")
        col = layout.column(align=True)
        col.prop(settings, "segmentation")
        col.prop(settings, "image_format")
        row = layout.row(heading="Threshold", align=True)  # of the masks; "Mask Threshold" is cut at the default width
        row.prop(settings, "use_mask_threshold", text="")
        sub = row.row(align=True)
        sub.enabled = settings.use_mask_threshold
        sub.prop(settings, "mask_threshold", text="")
        layout.prop(settings, "amodal")


class _OutputSubPanel(_CocoPanel):
    bl_parent_id = "BLENDER_COCO_PT_output"


class BLENDER_COCO_PT_render_settings(_OutputSubPanel, Panel):
    """Samples, resolution and device of the render (the scene's own unless overridden)"""

    bl_label = "Render Settings"

    def draw(self, context):
        layout = _split_layout(self.layout)
        settings = context.scene.blender_coco
        col = layout.column(heading="Override", align=True)
        col.prop(settings, "use_samples", text="Samples")
        col.prop(settings, "use_resolution", text="Resolution")
        # Not overridden: the scene's own values, shown greyed (they are what renders).
        scene = context.scene
        col = layout.column(align=True)
        row = col.row(align=True)
        if settings.use_samples:
            row.prop(settings, "samples")
        elif getattr(scene, "cycles", None) is not None:
            row.enabled = False
            row.prop(scene.cycles, "samples", text="Samples")
        sub = col.column(align=True)
        source = settings if settings.use_resolution else scene.render
        sub.enabled = settings.use_resolution
        sub.prop(source, "resolution_x", text="Width")
        sub.prop(source, "resolution_y", text="Height")
        layout.prop(settings, "device")


class BLENDER_COCO_PT_randomization(_OutputSubPanel, Panel):
    """Per-frame randomization (a TOML or JSON config)"""

    bl_label = "Randomization"

    def draw(self, context):
        layout = _split_layout(self.layout)
        settings = context.scene.blender_coco
        layout.prop(settings, "randomize")
        value = settings.randomize.strip()
        if value.lower() == OFF:
            layout.label(text="Off: the scene as it is", icon="INFO")
        elif not value:
            own = SCENE_PROP in context.scene
            layout.label(text="The scene's own config" if own else "None: the scene as it is", icon="INFO")


class BLENDER_COCO_PT_export_python(_OutputSubPanel, Panel):
    """The Python that runs the export stage when Blender's own lacks its dependencies"""

    bl_label = "Export Python"
    bl_options = {"DEFAULT_CLOSED"}

    @classmethod
    def poll(cls, context):
        return not handoff.bundled_exporter()  # the 4.2+ extension zips export in Blender: no second Python

    def draw(self, context):
        layout = _split_layout(self.layout)
        layout.prop(context.scene.blender_coco, "python")


class BLENDER_COCO_PT_render(_CocoSubPanel, Panel):
    """Render the dataset"""

    bl_label = "Render"

    def draw(self, context):
        layout = self.layout
        session = current_session()
        if session is not None and session.state == RUNNING:
            text = f"Frame {session.done} / {session.total}"
            if hasattr(layout, "progress"):  # Blender 4.0+
                layout.progress(factor=session.done / max(session.total, 1), type="BAR", text=text)
            else:
                layout.label(text=text, icon="RENDER_ANIMATION")
            layout.operator("blender_coco.render_cancel", icon="CANCEL")
            return
        layout.operator("blender_coco.render", text="Render Dataset", icon="RENDER_ANIMATION")
        if session is not None and session.state == FINISHED:
            col = layout.column(align=True)
            col.label(text=f"Done: {_plural(session.total, 'frame', 'frames')}", icon="CHECKMARK")
            for path in getattr(session.result, "files", {}).values():
                col.label(text=Path(path).name, icon="FILE")
        elif session is not None and session.state == FAILED:
            _wrapped(layout, context, session.error or "Failed; see the system console", icon="ERROR")
        elif session is not None:
            layout.label(text=f"Cancelled at {session.done} / {session.total}", icon="CANCEL")


CLASSES = (
    BLENDER_COCO_PT_main,
    BLENDER_COCO_PT_mark,
    BLENDER_COCO_PT_categories,
    BLENDER_COCO_PT_keypoints,
    BLENDER_COCO_PT_output,
    BLENDER_COCO_PT_render_settings,
    BLENDER_COCO_PT_randomization,
    BLENDER_COCO_PT_export_python,
    BLENDER_COCO_PT_render,
)

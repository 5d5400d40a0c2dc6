"""The COCO tab of the 3D View sidebar (N panel): mark, categories, keypoints, output, render.

Panels only draw: every change goes through an operator (``addon_ops``,
``addon_render``) or a property of ``Scene.blender_coco`` (``addon_props``).
"""

from bpy.types import Panel

from blender_coco.blender import handoff, marking
from blender_coco.blender.addon_ops import describe_keypoints
from blender_coco.blender.addon_props import KEYPOINTS_CUSTOM, KEYPOINTS_NONE, stuff_categories
from blender_coco.blender.addon_render import FAILED, FINISHED, RUNNING, current_session


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
        self.layout.label(text=f"{n} instance(s) in {len(counts)} categor{'y' if len(counts) == 1 else 'ies'}",
                          icon="OUTLINER_OB_GROUP_INSTANCE" if n else "INFO")


class _CocoSubPanel(_CocoPanel):
    bl_parent_id = "BLENDER_COCO_PT_main"


class BLENDER_COCO_PT_mark(_CocoSubPanel, Panel):
    bl_label = "Mark"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.blender_coco
        row = layout.row(align=True)
        row.prop(settings, "category", text="Category")
        row.prop(settings, "category_pick", text="", icon_only=True, icon="DOWNARROW_HLT")
        layout.prop(settings, "supercategory")
        layout.prop(settings, "stuff", text="Stuff (one region per image, no instances)")
        row = layout.row(align=True)
        op = row.operator("blender_coco.mark", icon="ADD")
        op.category = settings.category
        op.supercategory = settings.supercategory
        op.stuff = settings.stuff
        row.operator("blender_coco.unmark", icon="REMOVE")
        obj = context.active_object
        if obj is not None:
            root = marking.instance_of(obj)
            if root is None:
                layout.label(text=f"{obj.name}: not annotated", icon="OBJECT_DATA")
            else:
                part = "" if root == obj else f" (part of {root.name})"
                kind = " (stuff)" if marking.is_stuff(root) else ""
                layout.label(text=f"{obj.name}: {marking.category_of(root)}{kind}{part}", icon="CHECKMARK")
        layout.separator()
        layout.prop(settings, "background", icon="WORLD")
        background = marking.background_category(context.scene)
        if background is not None and background in marking.category_counts(context.scene) \
                and background not in stuff_categories(context.scene):
            layout.label(text=f"'{background}' is a thing category: pick a stuff one", icon="ERROR")


class BLENDER_COCO_PT_categories(_CocoSubPanel, Panel):
    bl_label = "Categories"

    def draw(self, context):
        layout = self.layout
        scene = context.scene
        counts = marking.category_counts(scene)
        background = marking.background_category(scene)
        if not counts and background is None:
            layout.label(text="No objects marked yet")
            return
        stuff = stuff_categories(scene)
        col = layout.column(align=True)
        for name, n in sorted(counts.items()):
            row = col.row(align=True)
            row.label(text=f"{name} (stuff)" if name in stuff else name)
            row.label(text=f"{n} object(s)" if name in stuff else f"{n} instance(s)")
            op = row.operator("blender_coco.select_category", text="", icon="RESTRICT_SELECT_OFF")
            op.category = name
        if background is not None:
            col.label(text=f"{background} (stuff): world background", icon="WORLD")


class BLENDER_COCO_PT_keypoints(_CocoSubPanel, Panel):
    bl_label = "Keypoints"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        obj = context.active_object
        if obj is None or obj.type != "ARMATURE":
            layout.label(text="Make an armature active to map its bones", icon="INFO")
            return
        settings = context.scene.blender_coco
        layout.label(text=f"{obj.name}: {describe_keypoints(obj)}", icon="ARMATURE_DATA")
        layout.prop(settings, "keypoint_source")
        if settings.keypoint_source == KEYPOINTS_CUSTOM:
            layout.prop(settings, "keypoint_map")
            value = settings.keypoint_map
        elif settings.keypoint_source == KEYPOINTS_NONE:
            value = ""
        else:
            value = settings.keypoint_source
        layout.operator("blender_coco.set_keypoints", text="Apply to armature").keypoints = value


class BLENDER_COCO_PT_output(_CocoSubPanel, Panel):
    bl_label = "Output"

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        layout.use_property_decorate = False
        settings = context.scene.blender_coco
        layout.prop(settings, "output_dir")
        col = layout.column(align=True)
        col.prop(settings, "frames")
        col.prop(settings, "seed")
        layout.prop(settings, "segmentation")
        layout.prop(settings, "samples")
        layout.prop(settings, "use_resolution")
        col = layout.column(align=True)
        col.active = settings.use_resolution
        col.prop(settings, "resolution_x")
        col.prop(settings, "resolution_y")
        layout.prop(settings, "device")
        layout.prop(settings, "image_format")
        if not handoff.bundled_exporter():  # the 4.2+ extension zips export in Blender: no second Python
            layout.prop(settings, "python")
        layout.prop(settings, "randomize")


class BLENDER_COCO_PT_render(_CocoSubPanel, Panel):
    bl_label = "Render"

    def draw(self, context):
        layout = self.layout
        session = current_session()
        if session is not None and session.state == RUNNING:
            text = f"Frame {session.done} / {session.total}"
            if hasattr(layout, "progress"):  # Blender 4.0+
                layout.progress(factor=session.done / max(session.total, 1), type="BAR", text=text)
            else:
                layout.label(text=f"Rendering: {text}", icon="RENDER_ANIMATION")
            layout.operator("blender_coco.render_cancel", icon="CANCEL")
            return
        layout.operator("blender_coco.render", icon="RENDER_ANIMATION")
        if session is not None and session.state == FINISHED:
            layout.label(text=f"Done: {session.total} frame(s)", icon="CHECKMARK")
            layout.label(text=str(session.result))
        elif session is not None and session.state == FAILED:
            layout.label(text=session.error or "Failed; see the system console", icon="ERROR")
        elif session is not None:
            layout.label(text=f"Cancelled after {session.done} of {session.total} frame(s)", icon="CANCEL")


CLASSES = (
    BLENDER_COCO_PT_main,
    BLENDER_COCO_PT_mark,
    BLENDER_COCO_PT_categories,
    BLENDER_COCO_PT_keypoints,
    BLENDER_COCO_PT_output,
    BLENDER_COCO_PT_render,
)

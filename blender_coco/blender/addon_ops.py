"""Add-on operators that edit the marking: mark, unmark, select by category, keypoint maps.

They only write the custom properties of the marking contract (``coco_category``,
``coco_supercategory`` through :mod:`blender_coco.blender.marking`, ``coco_stuff``
and ``coco_keypoints``), so a scene marked in the UI and one marked by a script are
the same scene to the render stage.
"""

import json
import logging

from bpy.props import BoolProperty, StringProperty
from bpy.types import Operator

from blender_coco.blender import marking
from blender_coco.errors import UserError

log = logging.getLogger(__name__)

KEYPOINTS_PROP = marking.KEYPOINTS_PROP


def _settings(context):
    return getattr(context.scene, "blender_coco", None)


class BLENDER_COCO_OT_mark(Operator):
    """Mark the selected objects as COCO instances of a category"""

    bl_idname = "blender_coco.mark"
    bl_label = "Mark selected"
    bl_options = {"REGISTER", "UNDO"}

    category: StringProperty(name="Category", description="Category name (empty: the one in the COCO panel)")
    supercategory: StringProperty(name="Supercategory", description="Optional supercategory (empty: the panel's)")
    stuff: BoolProperty(name="Stuff", description="The category is stuff (floor, wall, sky): sets coco_stuff, "
                                                  "or clears it when off (not given: the panel's checkbox)")

    @classmethod
    def poll(cls, context):
        if not context.selected_objects:
            cls.poll_message_set("Select the objects to mark first")
            return False
        return True

    def execute(self, context):
        settings = _settings(context)
        category = (self.category or (settings.category if settings else "")).strip()
        supercategory = (self.supercategory or (settings.supercategory if settings else "")).strip()
        if not category:
            self.report({"ERROR"}, "No category: type one in COCO > Mark > Category (or pass category=...)")
            return {"CANCELLED"}
        if self.properties.is_property_set("stuff"):
            stuff = self.stuff
        else:
            stuff = bool(settings.stuff) if settings is not None else False
        objects = sorted(context.selected_objects, key=lambda o: o.name)
        try:
            for obj in objects:
                marking.mark(obj, category, supercategory or None, stuff=stuff)
        except UserError as err:
            self.report({"ERROR"}, str(err))
            return {"CANCELLED"}
        if settings is not None and settings.category != category:
            settings.category = category
        kind = " (stuff)" if stuff else ""
        try:
            marking.check_marks(context.scene)
        except UserError as err:  # e.g. the category is still a thing on other objects: the render would refuse
            self.report({"WARNING"}, f"Marked {len(objects)} object(s) as '{category}'{kind}, but {err}")
            return {"FINISHED"}
        self.report({"INFO"}, f"Marked {len(objects)} object(s) as '{category}'{kind}")
        return {"FINISHED"}


class BLENDER_COCO_OT_unmark(Operator):
    """Remove the COCO category (and stuff flag) from the selected objects"""

    bl_idname = "blender_coco.unmark"
    bl_label = "Unmark selected"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        if not context.selected_objects:
            cls.poll_message_set("Select the objects to unmark first")
            return False
        return True

    def execute(self, context):
        marked = [obj for obj in context.selected_objects if marking.CATEGORY_PROP in obj]
        for obj in marked:
            marking.unmark(obj)
        if not marked:
            self.report({"WARNING"}, "None of the selected objects carries a COCO category")
            return {"CANCELLED"}
        self.report({"INFO"}, f"Unmarked {len(marked)} object(s)")
        return {"FINISHED"}


class BLENDER_COCO_OT_select_category(Operator):
    """Select the marked objects of one category"""

    bl_idname = "blender_coco.select_category"
    bl_label = "Select category"
    bl_options = {"REGISTER", "UNDO"}

    category: StringProperty(name="Category")
    extend: BoolProperty(name="Extend", default=False, description="Add to the selection instead of replacing it")

    def execute(self, context):
        view_layer = context.view_layer
        in_layer = {obj.as_pointer() for obj in view_layer.objects}  # by identity: linked objects may share a name
        roots = [obj for obj in marking.marked_roots(context.scene)
                 if marking.category_of(obj) == self.category and obj.as_pointer() in in_layer]
        if not roots:
            self.report({"WARNING"}, f"No object in this view layer is marked '{self.category}'")
            return {"CANCELLED"}
        if not self.extend:
            for obj in view_layer.objects:
                obj.select_set(False)
        for obj in roots:
            obj.select_set(True)
        view_layer.objects.active = roots[0]
        self.report({"INFO"}, f"Selected {len(roots)} object(s) of '{self.category}'")
        return {"FINISHED"}


def apply_keypoints(obj, text: str) -> str:
    """Set ``obj["coco_keypoints"]`` to ``text`` (a preset name or a JSON map; empty removes it).

    The value is checked by the render stage's own parser
    (:func:`blender_coco.blender.keypoints.keypoint_definition`): on a bad value the
    property keeps its previous state and :class:`UserError` says what is wrong.
    Returns the value written ("" when removed).
    """
    from blender_coco.blender.keypoints import keypoint_definition

    text = text.strip()
    previous = obj.get(KEYPOINTS_PROP)
    if not text:
        if previous is not None:
            del obj[KEYPOINTS_PROP]
        return ""
    if text.startswith("["):
        try:
            text = json.dumps(json.loads(text))
        except ValueError:
            pass  # keypoint_definition reports it with the armature's name
    obj[KEYPOINTS_PROP] = text
    try:
        keypoint_definition(obj)
    except UserError:
        if previous is None:
            del obj[KEYPOINTS_PROP]
        else:
            obj[KEYPOINTS_PROP] = previous
        raise
    return text


def describe_keypoints(obj) -> str:
    """One line on ``obj``'s keypoint map, read by the render stage's parser: count, source, unmapped bones."""
    from blender_coco.blender.keypoints import keypoint_definition

    value = obj.get(KEYPOINTS_PROP)
    if value is None or (isinstance(value, str) and not value.strip()):
        return "no keypoints"
    try:
        definition = keypoint_definition(obj)
    except UserError:
        return "invalid keypoint map (re-apply one)"
    n = len(definition["keypoints"])
    custom = isinstance(value, str) and value.strip().startswith("[")
    text = f"{n} keypoint(s), " + ("custom map" if custom else f"preset {str(value).strip()}")
    missing = sum(1 for bone, _ in definition["bones"] if bone is None)
    if missing:
        text += f", {missing} with no bone (always v=0)"
    return text


class BLENDER_COCO_OT_set_keypoints(Operator):
    """Write the keypoint map (coco_keypoints) of the active armature"""

    bl_idname = "blender_coco.set_keypoints"
    bl_label = "Set keypoints"
    bl_options = {"REGISTER", "UNDO"}

    keypoints: StringProperty(
        name="Keypoints",
        description='Preset name (e.g. "coco17"), JSON list of [name, bone] / [name, bone, "tail"] '
                    '(bone null: this rig has no such bone), or empty to remove the map')

    @classmethod
    def poll(cls, context):
        obj = context.active_object
        if obj is None or obj.type != "ARMATURE":
            cls.poll_message_set("Make an armature the active object")
            return False
        return True

    def execute(self, context):
        obj = context.active_object
        try:
            value = apply_keypoints(obj, self.keypoints)
        except UserError as err:
            self.report({"ERROR"}, str(err))
            return {"CANCELLED"}
        if not value:
            self.report({"INFO"}, f"Removed the keypoint map of '{obj.name}'")
        elif marking.category_of(obj) is None:
            self.report({"WARNING"}, f"'{obj.name}' has keypoints but no coco_category: mark it for them to be exported")
        else:
            self.report({"INFO"}, f"Keypoint map of '{obj.name}' set: {describe_keypoints(obj)}")
        return {"FINISHED"}


CLASSES = (
    BLENDER_COCO_OT_mark,
    BLENDER_COCO_OT_unmark,
    BLENDER_COCO_OT_select_category,
    BLENDER_COCO_OT_set_keypoints,
)

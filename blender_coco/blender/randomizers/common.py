"""What the randomizers share: the run's images, the frame's state and scene lookups.

- :class:`Images`: images loaded for the run (``get(path, field)``); ``release(keep)``
  removes those no frame uses any more, so memory stays flat.
- :class:`Frame`: what the parts of one frame share (placed bounding spheres, images
  in use, the values drawn).
- Scene lookups with one-line errors naming the config field:
  :func:`collection_in_scene`, :func:`scene_object`, :func:`roots` (a group's
  top-level objects).
- Changes made through a :class:`~blender_coco.blender.guard.SettingsGuard`:
  :func:`reveal` (make an asset collection renderable), :func:`lift_action` (unassign
  an object's own action).
- :func:`relink` (give a socket back its original input), :func:`direction` (unit
  vector from azimuth/elevation), :data:`TRANSFORM`, :data:`GEOMETRY`.
"""

from __future__ import annotations

import math
import os

import bpy
from mathutils import Vector

from blender_coco.blender.guard import SettingsGuard
from blender_coco.errors import UserError

#: Object types with geometry (their bounding boxes count for placement).
GEOMETRY = {"MESH", "CURVE", "SURFACE", "FONT", "META", "VOLUME", "POINTCLOUD", "CURVES", "GPENCIL", "GREASEPENCIL"}
#: Transform attributes of objects and pose bones. rotation_mode last: restoring goes in
#: reverse, and setting the mode converts the rotation values.
TRANSFORM = ("location", "rotation_euler", "rotation_quaternion", "rotation_axis_angle", "scale", "rotation_mode")


class Images:
    """Images loaded for the run; each is removed once no frame uses it."""

    def __init__(self) -> None:
        self.ours: dict[str, object] = {}

    def get(self, path: str, field: str):
        path = os.path.abspath(path)
        img = self.ours.get(path)
        if img is not None:
            return img
        for existing in bpy.data.images:  # already in the file: use it, never remove it
            if existing.filepath and os.path.abspath(bpy.path.abspath(existing.filepath)) == path:
                return existing
        try:
            img = bpy.data.images.load(path, check_existing=False)
        except RuntimeError as exc:
            raise UserError(f"{field}: cannot load image {path} ({' '.join(str(exc).split())}); remove it from the "
                            f"folder or convert it") from None
        self.ours[path] = img
        return img

    def release(self, keep: set[str]) -> None:
        for path in [p for p in self.ours if p not in keep]:
            img = self.ours.pop(path)
            try:
                bpy.data.images.remove(img)
            except ReferenceError:
                pass


class Frame:
    """What the parts of one frame share: placed bounding spheres, images in use, chosen values."""

    def __init__(self) -> None:
        self.placed: list[tuple[Vector, float, frozenset]] = []
        self.images: set[str] = set()
        self.values: dict[str, object] = {}


def direction(azimuth_deg: float, elevation_deg: float) -> Vector:
    """Unit vector from a target to a viewer: azimuth 0 = -Y side, 90 = +X side, elevation up."""
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    return Vector((math.sin(az) * math.cos(el), -math.cos(az) * math.cos(el), math.sin(el)))


# -- scene lookups ---------------------------------------------------------------


def collection_in_scene(scene, name: str, field: str):
    """The collection ``name`` if ``scene`` holds it, else an error naming ``field``."""
    coll = bpy.data.collections.get(name)
    found = []
    stack = [scene.collection]
    while stack:
        c = stack.pop()
        found.append(c.name)
        if coll is not None and c.as_pointer() == coll.as_pointer():
            return coll
        stack.extend(c.children)
    names = ", ".join(sorted(found[1:])) or "none"
    raise UserError(f"{field}: no collection {name!r} in scene {scene.name!r} (collections: {names}); fix the name")


def scene_object(scene, name: str, field: str):
    """The object ``name`` of ``scene``, else an error naming ``field``."""
    obj = scene.objects.get(name)
    if obj is None:
        raise UserError(f"{field}: no object {name!r} in scene {scene.name!r}; fix the name")
    return obj


def roots(scene, group, field_prefix: str) -> list:
    """Top-level objects of ``group.collection`` plus ``group.objects``, sorted by full name
    (``name_full``: objects linked from two libraries may share a name)."""
    found = {}
    if group.collection:
        coll = collection_in_scene(scene, group.collection, f"{field_prefix}.collection")
        members = {o.name_full for o in coll.all_objects}
        for o in coll.all_objects:
            if o.parent is None or o.parent.name_full not in members:
                found[o.name_full] = o
        if not members:
            raise UserError(f"{field_prefix}.collection: collection {group.collection!r} holds no objects; "
                            f"add objects to it or remove the group")
    for name in group.objects:
        obj = scene_object(scene, name, f"{field_prefix}.objects")
        found[obj.name_full] = obj
    return [found[n] for n in sorted(found)]


# -- guarded changes -------------------------------------------------------------


def _layer_path(layer_collection, coll):
    if layer_collection.collection.as_pointer() == coll.as_pointer():
        return [layer_collection]
    for child in layer_collection.children:
        path = _layer_path(child, coll)
        if path:
            return [layer_collection] + path
    return []


def reveal(scene, coll, guard: SettingsGuard) -> None:
    """Make ``coll`` renderable for the run (an asset collection is often excluded or hidden)."""
    for layer in scene.view_layers:
        for lc in _layer_path(layer.layer_collection, coll)[1:]:
            if lc.exclude:
                guard.set(lc, "exclude", False)
            if lc.collection.hide_render:
                guard.set(lc.collection, "hide_render", False)


def lift_action(obj, guard: SettingsGuard):
    """Unassign ``obj``'s own action for the run (it would win over randomized values); returns it."""
    ad = obj.animation_data
    if ad is None or ad.action is None:
        return None
    action = ad.action
    guard.set(ad, "action", None)
    return action


def relink(tree, socket, from_socket) -> None:
    """Give ``socket`` back its original input (``from_socket`` or none)."""
    current = socket.links[0].from_socket if socket.is_linked else None
    if from_socket is None:
        for link in list(socket.links):
            tree.links.remove(link)
    elif current is None or current.as_pointer() != from_socket.as_pointer():
        tree.links.new(from_socket, socket)

"""Which objects are annotated: the ``coco_category`` marking contract.

A custom property ``coco_category`` (a non-empty string) on an object marks that
object and its descendants as ONE instance of that category. The nearest marked
ancestor, the object itself first, decides which instance an object belongs to, so
a marked child of a marked parent is an instance of its own. ``coco_supercategory``
on the same object is optional. Unmarked objects render and occlude but are never
annotated. An instance whose marked object is hidden from render (``hide_render``,
or only in excluded / render-hidden collections) is not annotated
(:mod:`blender_coco.blender.run_warnings` says so when nothing renders it).

Category and supercategory names are stripped of surrounding whitespace (" box" and
"box " are the category "box"; :func:`mark_warnings` names the objects). A
``coco_supercategory`` that is not text is an error (:func:`check_marks`).

Objects are keyed and named by :func:`object_key` (``obj.name_full``): an object
linked from a library is ``"Thing [lib1.blend]"``, so two linked objects that share a
name stay two instances; a local object keeps its plain name.

Copies made by instancing (collection instances, geometry nodes, particles) are
each an instance of their own when the copied object or its instancer is marked:
:mod:`blender_coco.blender.instancing`.

The add-on edits these same properties, so scripted scenes need no UI.

Objects that ``[[spawn]]`` copies for one frame carry ``coco_spawned`` (:func:`is_spawned`):
they are marked like any other object, each copy its own instance, and removed
after the frame, so nothing needs to remember their settings.
"""

from __future__ import annotations

from blender_coco import srgb
from blender_coco.errors import UserError

CATEGORY_PROP = "coco_category"
SUPERCATEGORY_PROP = "coco_supercategory"
KEYPOINTS_PROP = "coco_keypoints"
STUFF_PROP = "coco_stuff"  # on a marked object: its category is stuff (floor, wall, grass)
BACKGROUND_PROP = "coco_background"  # on the scene: the stuff category of the world background
SPAWNED_PROP = "coco_spawned"  # on an object copied for one frame by [[spawn]] (removed after the frame)

MAX_INSTANCES = 32767  # Object.pass_index is 0..32767 and 0 is the background


def object_key(obj) -> str:
    """An object's identity, as every lookup keys it and every message and sidecar names it.

    ``obj.name_full``: the plain name for a local object (library overrides included),
    ``"Thing [lib1.blend]"`` for one linked from a library, so that ``Thing`` linked from
    two files stays two objects (object names are unique only within one file).
    """
    return obj.name_full


def category_of(obj) -> str | None:
    """The category marked on ``obj`` itself (stripped of surrounding whitespace), or None when it is not marked."""
    value = obj.get(CATEGORY_PROP)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def supercategory_of(obj) -> str | None:
    """The optional ``coco_supercategory`` of a marked object (stripped; None when unset, blank or not text)."""
    value = obj.get(SUPERCATEGORY_PROP)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def is_stuff(obj) -> bool:
    """True when the marked ``obj`` has ``coco_stuff`` set (True, 1, or "true"/"yes"/"1")."""
    value = obj.get(STUFF_PROP)
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "1")
    return bool(value)


def is_spawned(obj) -> bool:
    """True for an object that ``[[spawn]]`` made for the current frame only."""
    return bool(obj.get(SPAWNED_PROP, False))


def background_category(scene) -> str | None:
    """The stuff category given to the world background (scene property ``coco_background``), or None."""
    value = scene.get(BACKGROUND_PROP)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def instance_color(root) -> list[float] | None:
    """sRGB base colour (0..1) of the instance's first material, for captions; None if unknown.

    Reads the Principled BSDF's unlinked Base Color, else the material's viewport colour.
    """
    stack = [root]
    while stack:
        obj = stack.pop(0)
        for slot in getattr(obj, "material_slots", ()):
            mat = slot.material
            if mat is None:
                continue
            color = None
            if mat.use_nodes and mat.node_tree is not None:
                for node in mat.node_tree.nodes:
                    socket = node.inputs.get("Base Color") if node.type == "BSDF_PRINCIPLED" else None
                    if socket is not None and not socket.is_linked:
                        color = socket.default_value
                        break
                    if socket is not None:
                        return None  # textured: no single colour
            if color is None:
                color = mat.diffuse_color
            return [round(srgb.from_linear(v), 4) for v in tuple(color)[:3]]
        stack.extend(sorted(obj.children, key=object_key))
    return None


def mark(obj, category: str, supercategory: str | None = None, stuff: bool | None = None) -> None:
    """Mark ``obj`` (and its unmarked descendants) as one instance of ``category``.

    ``supercategory=None`` removes a previous supercategory, so the object ends up
    marked exactly as asked. ``stuff`` True sets ``coco_stuff``, False removes it,
    None leaves it as it is.
    """
    if not isinstance(category, str) or not category.strip():
        raise UserError(f"object {object_key(obj)!r}: category must be a non-empty name, got {category!r}")
    if supercategory is not None and (not isinstance(supercategory, str) or not supercategory.strip()):
        raise UserError(f"object {object_key(obj)!r}: supercategory must be a non-empty name or None, got {supercategory!r}")
    obj[CATEGORY_PROP] = category.strip()
    if supercategory is None:
        if SUPERCATEGORY_PROP in obj:
            del obj[SUPERCATEGORY_PROP]
    else:
        obj[SUPERCATEGORY_PROP] = supercategory.strip()
    if stuff:
        obj[STUFF_PROP] = True
    elif stuff is not None and STUFF_PROP in obj:
        del obj[STUFF_PROP]


def unmark(obj) -> None:
    """Remove ``coco_category``, ``coco_supercategory`` and ``coco_stuff`` from ``obj`` (``coco_keypoints`` stays)."""
    for prop in (CATEGORY_PROP, SUPERCATEGORY_PROP, STUFF_PROP):
        if prop in obj:
            del obj[prop]


def marked_roots(scene) -> list:
    """Every marked object of ``scene`` (each is one instance), sorted by :func:`object_key`."""
    return sorted((o for o in scene.objects if category_of(o) is not None), key=object_key)


def instance_of(obj):
    """The marked object whose instance ``obj`` belongs to (``obj`` itself first), or None."""
    while obj is not None:
        if category_of(obj) is not None:
            return obj
        obj = obj.parent
    return None


def category_counts(scene, objects=None) -> dict[str, int]:
    """Number of marked objects per category, by category name (of ``objects``; default
    :func:`marked_roots`)."""
    counts: dict[str, int] = {}
    for root in marked_roots(scene) if objects is None else objects:
        name = category_of(root)
        counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items()))


def check_marks(scene) -> None:
    """Raise a one-line :class:`UserError` for a malformed mark in ``scene``.

    Catches a ``coco_category`` that is not a non-empty string, a ``coco_supercategory``
    that is not a string, one category given two different supercategories, and one
    category that is stuff on one object and a thing on another.
    """
    supers: dict[str, tuple[str, str]] = {}
    kinds: dict[str, tuple[bool, str]] = {}
    for obj in sorted(scene.objects, key=object_key):
        if CATEGORY_PROP not in obj:
            continue
        name = object_key(obj)
        value = obj[CATEGORY_PROP]
        if not isinstance(value, str) or not value.strip():
            raise UserError(
                f"object {name!r}: {CATEGORY_PROP} must be a non-empty text (the category name), got {value!r}; "
                f"set it to a name such as 'box' or delete the property"
            )
        value = value.strip()
        raw_sup = obj.get(SUPERCATEGORY_PROP)
        if raw_sup is not None and not isinstance(raw_sup, str):
            raise UserError(
                f"object {name!r}: {SUPERCATEGORY_PROP} must be a text (the supercategory name), got {raw_sup!r}; "
                f"set it to a name such as 'vehicle' or delete the property"
            )
        stuff = is_stuff(obj)
        if value in kinds and kinds[value][0] != stuff:
            was_stuff, other = kinds[value]
            stuff_obj, thing_obj = (other, name) if was_stuff else (name, other)
            raise UserError(
                f"category {value!r} is stuff on object {stuff_obj!r} ({STUFF_PROP} set) but a thing on object "
                f"{thing_obj!r}; set {STUFF_PROP} on both or on neither"
            )
        kinds.setdefault(value, (stuff, name))
        sup = supercategory_of(obj)
        if sup is None:
            continue
        if value in supers and supers[value][0] != sup:
            other_sup, other = supers[value]
            raise UserError(
                f"category {value!r} has supercategory {other_sup!r} on object {other!r} but {sup!r} on "
                f"object {name!r}; set the same {SUPERCATEGORY_PROP} on both"
            )
        supers.setdefault(value, (sup, name))


def mark_warnings(scene) -> list[str]:
    """One message per category or supercategory name written with surrounding whitespace in ``scene``.

    Such names are stripped (" box" and "box " are the category "box"); the message names
    the objects so that the user can fix the property.
    """
    spaced: dict[tuple[str, str], list[str]] = {}
    for obj in scene.objects:
        for prop in (CATEGORY_PROP, SUPERCATEGORY_PROP):
            value = obj.get(prop)
            if isinstance(value, str) and value.strip() and value != value.strip():
                spaced.setdefault((prop, value.strip()), []).append(object_key(obj))
    out = []
    for (prop, value), names in sorted(spaced.items()):
        shown = ", ".join(repr(n) for n in sorted(names)[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        out.append(f"{prop} of object(s) {shown} has spaces around {value!r}; annotating them as {value!r}: "
                   f"remove the spaces from the property to silence this")
    return out


def rendered_objects(view_layer) -> set[str]:
    """Keys (:func:`object_key`) of the objects that ``view_layer`` renders: not ``hide_render``
    and in at least one collection that is neither excluded from the layer nor hidden from render."""
    names: set[str] = set()
    stack = [view_layer.layer_collection]
    while stack:
        lc = stack.pop()
        if lc.exclude or lc.collection.hide_render:
            continue
        names.update(object_key(o) for o in lc.collection.objects if not o.hide_render)
        stack.extend(lc.children)
    return names


def pass_indices(scene) -> dict[str, int]:
    """Object key (:func:`object_key`) -> pass index for every object of ``scene``.

    Marked objects get 1..n in name order; every other object gets the index of its
    instance (nearest marked ancestor), or 0 when it belongs to none. Raises
    :class:`UserError` beyond :data:`MAX_INSTANCES` instances.
    """
    roots = marked_roots(scene)
    if len(roots) > MAX_INSTANCES:
        raise UserError(
            f"scene {scene.name!r} has {len(roots)} marked objects but the object-index pass holds at most "
            f"{MAX_INSTANCES} instances; mark fewer objects (parts of one object can share a marked parent)"
        )
    index = {object_key(root): i for i, root in enumerate(roots, start=1)}
    out: dict[str, int] = {}
    for obj in scene.objects:
        root = instance_of(obj)
        out[object_key(obj)] = index.get(object_key(root), 0) if root is not None else 0
    return out

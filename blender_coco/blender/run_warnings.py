"""What a run does differently from the scene as the user set it up: one warning line each.

::

    engine_warning(scene) -> str | None              the scene's engine is not Cycles (we switch it)
    other_cameras(scene) -> list                     camera objects that will not render
    camera_warning(scene) -> str | None              one line naming them and the fix
    unrendered_marks(scene, view_layer, skip=()) -> list[str]
                                                     one line per marked object that renders nowhere

Each returns the message (the render job logs it with ``log.warning``; the add-on shows
the same lines in its report). Nothing here changes the scene. The denoiser's warning is
:func:`blender_coco.blender.device.fix_denoiser`'s, where the denoiser is chosen.

A marked object *renders nowhere* when it is hidden from render (``hide_render``), or
every collection holding it is excluded from the view layer, hidden from render, or
under such a collection, and no rendered instancer copies it: a visible collection
instance (nested ones included), an instancer's vertex/face instancing, a particle
system or a geometry-nodes modifier (Object Info / Collection Info inputs) enabled for
render. The usual asset-library set-up (an excluded collection shown through collection
instances) is therefore silent.
"""

from __future__ import annotations

from blender_coco.blender import marking
from blender_coco.blender.scene_info import group_nodes

ENGINE_NAMES = {"BLENDER_EEVEE": "Eevee", "BLENDER_EEVEE_NEXT": "Eevee", "BLENDER_WORKBENCH": "Workbench"}


def engine_warning(scene) -> str | None:
    """A line when ``scene`` is set to render with another engine than Cycles (the run switches to Cycles)."""
    engine = scene.render.engine
    if engine == "CYCLES":
        return None
    shown = ENGINE_NAMES.get(engine, engine)
    return (f"scene {scene.name!r} is set to render with {shown}; blender-coco renders with Cycles (its "
            f"object-index pass makes the masks), so lighting and materials may look different: set Render "
            f"Properties > Render Engine to Cycles to see and tune the look you will get")


def _bound_cameras(scene) -> list:
    """The cameras timeline markers bind (Blender switches the scene camera to them on every frame)."""
    return [m.camera for m in scene.timeline_markers if m.camera is not None]


def other_cameras(scene) -> list:
    """Camera objects of ``scene`` that the run does not render (sorted by
    :func:`~blender_coco.blender.marking.object_key`): every camera but the scene camera, or, when
    timeline markers bind cameras, every camera but those."""
    bound = _bound_cameras(scene)
    used = {c.as_pointer() for c in bound} or ({scene.camera.as_pointer()} if scene.camera is not None else set())
    return sorted((o for o in scene.objects if o.type == "CAMERA" and o.as_pointer() not in used),
                  key=marking.object_key)


def camera_warning(scene) -> str | None:
    """A line naming the cameras :func:`other_cameras` leaves out, or None."""
    others = other_cameras(scene)
    if not others or scene.camera is None:
        return None
    names = ", ".join(repr(marking.object_key(o)) for o in others[:5]) + (
        f" and {len(others) - 5} more" if len(others) > 5 else "")
    bound = sorted({marking.object_key(c) for c in _bound_cameras(scene)})
    used = (f"the cameras its timeline markers bind ({', '.join(repr(n) for n in bound)})" if bound
            else f"the scene camera {marking.object_key(scene.camera)!r}")
    return (f"scene {scene.name!r} has {len(others)} camera(s) that do not render ({names}); only {used} "
            f"renders: to render from several, list them with --cameras (add-on: Output > Cameras), or make "
            f"one the scene camera (Scene Properties > Camera)")


def _layer_states(view_layer) -> dict[int, str]:
    """Collection pointer -> why the view layer renders nothing of it ("" when it renders)."""
    states: dict[int, str] = {}
    stack = [(view_layer.layer_collection, "")]
    while stack:
        lc, why = stack.pop()
        coll = lc.collection
        if not why:
            if lc.exclude:
                why = f"its collection {coll.name_full!r} is excluded from view layer {view_layer.name!r}"
            elif coll.hide_render:
                why = f"its collection {coll.name_full!r} is hidden from render"
        states.setdefault(coll.as_pointer(), why)
        if not why:
            states[coll.as_pointer()] = ""
        stack.extend((child, why) for child in lc.children)
    return states


def _node_references(tree) -> list:
    """Objects and collections that Object Info / Collection Info nodes of ``tree`` (and its groups) name."""
    out = []
    for _, node in group_nodes(tree):
        for socket in node.inputs:
            value = getattr(socket, "default_value", None)
            if getattr(value, "bl_rna", None) is not None and value.bl_rna.identifier in ("Object", "Collection"):
                out.append(value)
    return out


def _copied_by(obj) -> list:
    """Objects that ``obj`` instances when it renders (collection, children, particles, geometry nodes)."""
    out: list = []

    def add(thing) -> None:
        if thing is None:
            return
        if thing.bl_rna.identifier == "Collection":
            out.extend(thing.all_objects)
        else:
            out.append(thing)

    if obj.instance_type == "COLLECTION":
        add(obj.instance_collection)
    elif obj.instance_type in ("VERTS", "FACES"):
        out.extend(obj.children)
    for mod in getattr(obj, "modifiers", ()):
        if not mod.show_render:
            continue
        if mod.type == "PARTICLE_SYSTEM":
            settings = mod.particle_system.settings
            if settings.render_type == "OBJECT":
                add(settings.instance_object)
            elif settings.render_type == "COLLECTION":
                add(settings.instance_collection)
        elif mod.type == "NODES":
            for key in (mod.keys() if hasattr(mod, "keys") else ()):  # the modifier's inputs
                value = mod[key]
                if getattr(value, "bl_rna", None) is not None and value.bl_rna.identifier in ("Object", "Collection"):
                    add(value)
            for thing in _node_references(mod.node_group):
                add(thing)
    return out


def instanced_objects(scene, rendered: set[str]) -> dict[str, object]:
    """{key: object} of the objects that rendered instancers of ``scene`` copy (through any depth of
    instancing)."""
    out: dict[str, object] = {}
    queue = [o for o in scene.objects if marking.object_key(o) in rendered]
    seen = {o.as_pointer() for o in queue}
    while queue:
        for copied in _copied_by(queue.pop()):
            if copied.hide_render or copied.as_pointer() in seen:
                continue
            seen.add(copied.as_pointer())
            out[marking.object_key(copied)] = copied
            queue.append(copied)
    return out


def unrendered_marks(scene, view_layer, skip=()) -> list[str]:
    """One line per marked object of ``scene`` that renders nowhere (see the module docstring).

    ``skip``: objects the run uses otherwise (e.g. ``[[spawn]]`` sources), never reported.
    """
    rendered = marking.rendered_objects(view_layer)
    skipped = {o.as_pointer() for o in skip}
    roots = [r for r in marking.marked_roots(scene)
             if marking.object_key(r) not in rendered and r.as_pointer() not in skipped]
    if not roots:
        return []
    copied = instanced_objects(scene, rendered)
    states = _layer_states(view_layer)
    out = []
    for root in roots:
        key = marking.object_key(root)
        if key in copied:
            continue
        if root.hide_render:
            why, fix = "it is hidden from render (hide_render)", "enable it for renders (Outliner camera icon)"
        else:
            reasons = [states.get(c.as_pointer()) for c in root.users_collection]
            reasons = [r for r in reasons if r] or [f"it is in no collection of view layer {view_layer.name!r}"]
            why, fix = reasons[0], "include and show the collection, or copy it with a visible collection instance"
        out.append(f"marked object {key!r} ({marking.CATEGORY_PROP} {marking.category_of(root)!r}) renders "
                   f"nowhere, so it is not annotated: {why}; {fix}, or unmark it")
    return out

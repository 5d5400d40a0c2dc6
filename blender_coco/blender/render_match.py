"""Make the viewport's evaluation show what the render shows, for the length of a run.

::

    RenderMatch(scene, view_layer, guard)
        .apply() -> [warning]     set the viewport settings to the render's (again each frame: the
                                  objects spawned for it, and visibility, which randomizers change)
    is_viewport_objects(objects, known=None) -> {object: [modifier name]}   geometry nodes reading Is Viewport
    surface_warnings(scene, objects) -> [warning]   marked objects Cycles displaces or dices at render time

Cycles renders from a depsgraph evaluated in render mode; the frame's geometry facts
(instanced copies, amodal silhouettes, keypoint poses) are read before the render from
the one Python can evaluate, the viewport's. Where a scene's viewport and render
settings differ, the two disagree and the annotations would silently describe other
geometry than the picture (measured, bpy 5.0 and Blender 3.4: a particle system at
10% viewport display lists 9 of the 100 copies the render draws; with Viewport Display
"None" or "Point" it lists none). So for the run the viewport settings take the render
values (all through :class:`~blender_coco.blender.guard.SettingsGuard`: put back when
the run ends, fails or is cancelled):

- modifiers: ``show_viewport`` := ``show_render``; Subdivision Surface and Multires
  ``levels`` := ``render_levels``; Screw ``steps`` := ``render_steps``; Ocean
  ``viewport_resolution`` := ``resolution``;
- particle systems: ``display_percentage`` := 100, viewport children := render children,
  ``display_step`` := ``render_step``; object/collection particles display as rendered;
- Simplify: viewport subdivision and child particles := their render values;
- curves, surfaces, text: ``resolution_u/v`` := ``render_resolution_u/v`` where set;
  metaballs: ``resolution`` := ``render_resolution``;
- instancers: ``show_instancer_for_viewport`` := ``show_instancer_for_render``;
- visibility: objects and collections that render but are hidden in the viewport (the
  monitor icon, the eye icon on an object or on a collection of the view layer) are shown.

What cannot be matched gets one warning line each: an object whose geometry nodes read
"Is Viewport" (the render takes the other branch), an object linked from a library
whose settings are read-only, and (when amodal masks are on) a marked object whose
surface Cycles displaces (material displacement) or dices (adaptive subdivision) at
render time, which no evaluated mesh shows. The objects considered are the scene's and those that
instancing copies into it (collection instances, particle instance objects and
collections).
"""

from __future__ import annotations

from blender_coco.blender import marking
from blender_coco.blender.scene_info import group_nodes

IS_VIEWPORT = "GeometryNodeIsViewport"
_CURVES = {"CURVE", "SURFACE", "FONT"}
_MODIFIER_LEVELS = {  # modifier type -> [(viewport attribute, render attribute)]
    "SUBSURF": [("levels", "render_levels")],
    "MULTIRES": [("levels", "render_levels")],
    "SCREW": [("steps", "render_steps")],
    "OCEAN": [("viewport_resolution", "resolution")],
}


def _uses_is_viewport(tree, known: dict) -> bool:
    if tree is None:
        return False
    key = tree.as_pointer()
    if key not in known:
        known[key] = any(node.bl_idname == IS_VIEWPORT for _, node in group_nodes(tree))
    return known[key]


def is_viewport_objects(objects, known: dict | None = None) -> dict:
    """Objects whose render-enabled geometry-nodes modifiers (nested groups included) contain an
    Is Viewport node -> those modifiers' names. ``known``: node group pointer -> answer, kept
    between calls (node groups do not change during a run)."""
    known = {} if known is None else known
    out: dict = {}
    for obj in objects:
        for mod in obj.modifiers:
            if mod.type == "NODES" and mod.show_render and _uses_is_viewport(mod.node_group, known):
                out.setdefault(obj, []).append(mod.name)
    return out


def _displacing_materials(obj) -> list[str]:
    """Names of ``obj``'s materials that displace the surface at render time (Displacement Only or Both,
    with the Material Output's Displacement input linked)."""
    out = []
    for slot in obj.material_slots:
        mat = slot.material
        if mat is None or not mat.use_nodes or mat.node_tree is None:
            continue
        settings = mat if hasattr(mat, "displacement_method") else getattr(mat, "cycles", None)  # 3.4: mat.cycles
        if getattr(settings, "displacement_method", "BUMP") not in {"DISPLACEMENT", "BOTH"}:
            continue
        if any(n.bl_idname == "ShaderNodeOutputMaterial" and n.inputs["Displacement"].is_linked
               for n in mat.node_tree.nodes):
            out.append(mat.name)
    return out


def _adaptive(obj, scene) -> bool:
    """Whether Cycles dices ``obj``'s surface (adaptive subdivision) instead of using its evaluated mesh."""
    if any(m.type == "SUBSURF" and m.show_render and getattr(m, "use_adaptive_subdivision", False)
           for m in obj.modifiers):  # Blender 5.0: on the modifier
        return True
    cycles = getattr(obj, "cycles", None)  # Blender < 5.0: an object setting of the experimental feature set
    return bool(getattr(cycles, "use_adaptive_subdivision", False)) and \
        getattr(getattr(scene, "cycles", None), "feature_set", "") == "EXPERIMENTAL" and \
        bool(obj.modifiers) and obj.modifiers[-1].type == "SUBSURF" and obj.modifiers[-1].show_render


def surface_warnings(scene, objects) -> list[str]:
    """One line per marked object whose rendered surface no evaluated mesh shows (adaptive subdivision,
    true displacement): its amodal silhouette follows the undiced, undisplaced mesh."""
    out = []
    for obj in objects:
        if obj.hide_render or obj.type not in {"MESH", "CURVE", "SURFACE", "META", "FONT"} \
                or marking.instance_of(obj) is None:
            continue
        why = [f"material {m!r} displaces it at render time" for m in _displacing_materials(obj)]
        if _adaptive(obj, scene):
            why.append("Cycles subdivides it adaptively")
        if why:
            out.append(f"object {marking.object_key(obj)!r}: {'; '.join(why)}, beyond the mesh blender-coco reads, so "
                       f"its amodal silhouette follows the mesh without it (its mask follows the picture): set the "
                       f"material's Displacement to Bump Only and adaptive subdivision off, or pass --no-amodal")
    return out


def _instanced(scene) -> tuple[list, list]:
    """(objects, collections) that instancing copies into ``scene`` from anywhere in the file."""
    collections: dict[int, object] = {}
    objects: dict[int, object] = {}

    def add_collection(coll) -> None:
        if coll is None or coll.as_pointer() in collections:
            return
        for c in (coll, *coll.children_recursive):
            collections[c.as_pointer()] = c
        for o in coll.all_objects:
            add_object(o)

    def add_object(obj) -> None:
        if obj is None or obj.as_pointer() in objects:
            return
        objects[obj.as_pointer()] = obj
        if obj.instance_type == "COLLECTION":
            add_collection(obj.instance_collection)
        for psys in obj.particle_systems:
            settings = psys.settings
            add_object(settings.instance_object)
            add_collection(settings.instance_collection)

    for obj in scene.objects:
        add_object(obj)
    return list(objects.values()), list(collections.values())


class RenderMatch:
    """The viewport settings of one run's scene set to the render's (see the module docstring)."""

    def __init__(self, scene, view_layer, guard, amodal: bool = True) -> None:
        self.scene = scene
        self.amodal = amodal
        self.view_layer = view_layer
        self.guard = guard
        self._eye_shown: set[int] = set()
        self._read_only: set[str] = set()
        self._trees: dict[int, bool] = {}  # node group -> reads Is Viewport
        self._matched: set[int] = set()  # objects whose own settings are matched

    def _set(self, owner, attr: str, value, obj=None, data: bool = False) -> None:
        """``owner.attr = value`` through the guard; directly on an object spawned for this frame (``obj``;
        not on its ``data``, which it may share with its asset)."""
        if getattr(owner, attr) == value:
            return
        try:
            if obj is not None and not data and marking.is_spawned(obj):  # made for this frame only
                setattr(owner, attr, value)
            else:
                self.guard.set(owner, attr, value)
        except (AttributeError, TypeError):  # linked from a library: read-only
            if obj is not None:
                self._read_only.add(marking.object_key(obj))

    def apply(self) -> list[str]:
        """Set every viewport setting that differs to its render value; returns the warnings."""
        scene, layer = self.scene, self.view_layer
        objects, collections = _instanced(scene)
        r = scene.render
        self._set(r, "simplify_subdivision", r.simplify_subdivision_render)
        self._set(r, "simplify_child_particles", r.simplify_child_particles_render)
        # an object's own settings once (the hooks do not change them); objects spawned for a frame each time
        fresh = [o for o in objects if o.as_pointer() not in self._matched or marking.is_spawned(o)]
        for obj in fresh:
            self._match_object(obj)
            if not marking.is_spawned(obj):
                self._matched.add(obj.as_pointer())
        # visibility (every frame: randomizers show collections for render): what renders must be in the viewport's depsgraph
        stack = [layer.layer_collection]
        while stack:
            lc = stack.pop()
            if lc.exclude or lc.collection.hide_render:
                continue
            self._set(lc, "hide_viewport", False)
            self._set(lc.collection, "hide_viewport", False)
            stack.extend(lc.children)
        for coll in collections:
            if not coll.hide_render:
                self._set(coll, "hide_viewport", False)
        rendered = marking.rendered_objects(layer)
        in_layer = {o.as_pointer() for o in layer.objects}
        for obj in objects:
            if obj.hide_render:
                continue
            self._set(obj, "hide_viewport", False, obj)
            if obj.as_pointer() in in_layer and marking.object_key(obj) in rendered and obj.hide_get(view_layer=layer):
                obj.hide_set(False, view_layer=layer)
                if not marking.is_spawned(obj) and obj.as_pointer() not in self._eye_shown:
                    self._eye_shown.add(obj.as_pointer())
                    self.guard.on_restore(lambda o=obj: o.hide_set(True, view_layer=layer))
        warnings = [_is_viewport_warning(obj, mods) for obj, mods in is_viewport_objects(fresh, self._trees).items()]
        if self.amodal:
            warnings.extend(surface_warnings(scene, fresh))
        for key in sorted(self._read_only):
            warnings.append(f"object {key!r} is linked from a library, so blender-coco cannot set its viewport "
                            f"settings to the render's; its annotations follow the viewport settings: make its "
                            f"viewport and render settings equal in the library (or make a library override)")
        return warnings

    def _match_object(self, obj) -> None:
        self._set(obj, "show_instancer_for_viewport", obj.show_instancer_for_render, obj)
        for mod in obj.modifiers:
            self._set(mod, "show_viewport", mod.show_render, obj)
            for viewport, render in _MODIFIER_LEVELS.get(mod.type, ()):
                self._set(mod, viewport, getattr(mod, render), obj)
        for psys in obj.particle_systems:
            s = psys.settings
            self._set(s, "display_percentage", 100, obj, data=True)
            children = "child_percent" if hasattr(s, "child_percent") else "child_nbr"  # Blender < 4.0: child_nbr
            self._set(s, children, s.rendered_child_count, obj, data=True)
            self._set(s, "display_step", s.render_step, obj, data=True)
            if s.render_type in {"OBJECT", "COLLECTION"}:
                self._set(s, "display_method", "RENDER", obj, data=True)
        data = obj.data
        if obj.type in _CURVES and data is not None:
            for axis in ("u", "v"):
                render = getattr(data, f"render_resolution_{axis}")
                if render > 0:
                    self._set(data, f"resolution_{axis}", render, obj, data=True)
        elif obj.type == "META" and data is not None:
            self._set(data, "resolution", data.render_resolution, obj, data=True)


def _is_viewport_warning(obj, modifiers: list[str]) -> str:
    names = ", ".join(repr(m) for m in modifiers)
    return (f"object {marking.object_key(obj)!r}: its geometry nodes (modifier {names}) read Is Viewport, so the "
            f"render builds other geometry than blender-coco reads for its copies, amodal masks and keypoints; "
            f"its annotations may not match the picture: make both branches give the same geometry while you "
            f"render the dataset (e.g. replace Is Viewport with a Boolean input of the modifier set to the render "
            f"branch)")


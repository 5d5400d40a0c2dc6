"""``[[objects]]``: pick, show, turn, scale and place a group's objects each frame.

:class:`ObjectsPart` resolves the group's top-level objects (``collection`` and/or
``objects``; an excluded asset collection is made renderable for the run), then per
frame picks ``count`` of them, shows each with probability ``visibility``, turns and
scales it and places it: its origin uniformly in ``region``, or standing on
``surface`` (ray cast onto its upward faces). Placed objects keep their bounding
spheres ``spacing`` apart from everything placed before them in the frame (rejection
sampling, ``max_tries`` draws, else the object is hidden for that frame).
``distractor`` groups lose their ``coco_category`` for the run.
"""

from __future__ import annotations

import logging
import math

import bpy
from mathutils import Euler, Matrix, Vector

from blender_coco.blender.marking import CATEGORY_PROP
from blender_coco.blender.randomizers import placement
from blender_coco.blender.randomizers.common import TRANSFORM, Frame, lift_action, reveal, roots, scene_object
from blender_coco.blender.randomizers.registry import Part, register
from blender_coco.blender.scene_info import evaluated_depsgraph
from blender_coco.errors import UserError
from blender_coco.randomize import ObjectsConfig

log = logging.getLogger(__name__)


@register("objects")
class ObjectsPart(Part):
    """One ``[[objects]]`` group: which of its objects show, turned, scaled and placed."""

    def __init__(self, cfg: ObjectsConfig) -> None:
        super().__init__(cfg)
        self.failed = 0  # objects hidden for want of a free place, over the run
        self.unmarked = []  # (object, its coco_category) lifted for the run (distractors)

    def start(self, scene, guard, images) -> None:
        cfg = self.cfg
        self.roots = roots(scene, cfg, cfg.name)
        if cfg.collection:
            reveal(scene, bpy.data.collections[cfg.collection], guard)
        self.surface = None
        if cfg.surface:
            self.surface = scene_object(scene, cfg.surface, f"{cfg.name}.surface")
            if self.surface.type != "MESH":
                raise UserError(f"{cfg.name}.surface: object {cfg.surface!r} is a {self.surface.type.lower()}, not a "
                                "mesh; name a mesh to stand objects on")
        self.trees = {}
        self.hidden = {}
        self.local = {}
        self.transforms = cfg.places or cfg.rotation is not None or cfg.scale is not None
        for root in self.roots:
            tree = [root] + sorted(root.children_recursive, key=lambda o: o.name_full)
            self.trees[root.name_full] = tree
            self.hidden[root.name_full] = [o.hide_render for o in tree]
            for o in tree:
                guard.remember(o, "hide_render")
            for attr in TRANSFORM:
                guard.remember(root, attr)
            _, basis_rot, _ = root.matrix_basis.decompose()
            self.local[root.name_full] = (tuple(root.location), tuple(basis_rot.to_euler("XYZ")), tuple(root.scale))
            if self.transforms:
                if lift_action(root, guard) is not None:
                    log.info("%s: object %r is animated; its action is lifted for the run so that the randomized "
                             "transform is what renders", cfg.name, root.name_full)
                guard.set(root, "rotation_mode", "XYZ")
            if cfg.distractor:
                for o in tree:
                    if CATEGORY_PROP in o:
                        self.unmarked.append((o, o[CATEGORY_PROP]))
                        del o[CATEGORY_PROP]
        dg = evaluated_depsgraph(scene)
        self.own = {}
        self.corners = {}
        for root in self.roots:
            mw = root.matrix_world.copy()
            loc, rot, scale = mw.decompose()
            self.own[root.name_full] = (loc, rot.to_euler("XYZ"), scale)
            self.corners[root.name_full] = placement.local_box(root, self.trees[root.name_full], dg)

    def _show(self, root, visible: bool) -> None:
        for o, hidden in zip(self.trees[root.name_full], self.hidden[root.name_full]):
            value = hidden if visible and o is not root else not visible
            if o.hide_render != value:
                o.hide_render = value

    def _reset(self, root) -> None:
        if self.transforms:
            root.location, root.rotation_euler, root.scale = self.local[root.name_full]

    def _set_transform(self, root, loc: Vector, euler: Euler, scale: Vector) -> None:
        if root.parent is None:
            root.location, root.rotation_euler, root.scale = loc, euler, scale
        else:
            root.matrix_world = Matrix.LocRotScale(loc, euler, scale)

    def _sphere(self, root, loc: Vector, euler: Euler, scale: Vector) -> tuple[Vector, float, list[Vector]]:
        return placement.sphere(self.corners[root.name_full], loc, euler, scale)

    def apply(self, scene, rng, frame: Frame) -> None:
        cfg = self.cfg
        chosen = list(self.roots)
        if cfg.count is not None:
            n = min(max(int(cfg.count.sample(rng)), 0), len(self.roots))
            chosen = rng.sample(self.roots, n)
        chosen_names = {o.name_full for o in chosen}
        visible = [r for r in self.roots if r.name_full in chosen_names and (cfg.visibility >= 1 or rng.random() < cfg.visibility)]
        shown = {r.name_full for r in visible}
        surface = placement.surface(self.surface, evaluated_depsgraph(scene)) if self.surface is not None else None
        placed = {}
        for root in visible:
            own_loc, own_rot, own_scale = self.own[root.name_full]
            euler = own_rot.copy()
            if cfg.rotation is not None:
                for axis, rng_axis in enumerate((cfg.rotation.x, cfg.rotation.y, cfg.rotation.z)):
                    if rng_axis is not None:
                        euler[axis] = math.radians(rng_axis.sample(rng))
            factor = cfg.scale.sample(rng) if cfg.scale is not None else 1.0
            scale = own_scale * factor
            result = None
            if not cfg.places:
                center, radius, _ = self._sphere(root, own_loc, euler, scale)
                result = (own_loc, center, radius)
            for _ in range(cfg.max_tries if cfg.places else 0):
                if surface is None:
                    loc = Vector([rng.uniform(a, b) for a, b in zip(cfg.region.min, cfg.region.max)])
                else:
                    loc = placement.on_surface(self.corners[root.name_full], euler, scale, rng, surface, cfg.region)
                    if loc is None:
                        continue
                center, radius, _ = self._sphere(root, loc, euler, scale)
                if placement.is_free(center, radius, frame, cfg.spacing,
                                     self.surface.name_full if self.surface is not None else None):
                    result = (loc, center, radius)
                    break
            if result is None:
                self.failed += 1
                shown.discard(root.name_full)
                (log.debug if self.failed > 1 else log.warning)(
                    "%s: no free place for %r after %d tries; it is hidden in such frames (widen the region or "
                    "surface, or lower count, scale or spacing)", cfg.name, root.name_full, cfg.max_tries)
                continue
            loc, center, radius = result
            frame.placed.append((center, radius, frozenset(o.name_full for o in self.trees[root.name_full])))
            placed[root.name_full] = (loc, euler, scale)
        for root in self.roots:
            visible_now = root.name_full in shown
            self._show(root, visible_now)
            if visible_now and self.transforms and root.name_full in placed:
                self._set_transform(root, *placed[root.name_full])
            else:
                self._reset(root)
        frame.values[self.name] = sorted(shown)

    def finish(self) -> None:
        for obj, value in self.unmarked:
            try:
                obj[CATEGORY_PROP] = value
            except ReferenceError:
                pass
        self.unmarked = []

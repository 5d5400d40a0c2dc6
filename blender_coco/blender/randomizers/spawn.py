"""``[[spawn]]``: copies of assets per frame, placed or dropped with physics, each its own instance.

:class:`SpawnPart` loads the group's assets once (:class:`~.assets.Library`: a
collection of the .blend, or a folder of .blend/.glb/.gltf/.obj/.fbx/.ply/.stl
files) and per frame:

1. draws ``count`` copies, each an asset (uniformly), a rotation (``rotation``,
   absolute degrees; an axis left out keeps the asset's own) and a ``scale``;
2. places them as ``[[objects]]`` does (standing on ``surface`` or in ``region``,
   bounding spheres ``spacing`` apart from everything placed before them), or, with
   ``physics``, drops them from ``physics.drop_height`` above the surface (spheres
   apart from each other) and lets :class:`~.physics.Physics` settle them onto the
   surface, the ``colliders`` and what the frame placed before (other groups'
   objects and copies); a copy still moving at ``max_time`` or intersecting another
   after settling is left out of the frame;
3. makes the copies (sharing the asset's meshes, linked to the collection
   ``coco_spawn.<group>``) named ``<group>.<asset>.<j>`` (the j-th copy of that asset
   in the frame), marks each as one instance of its category (unmarked for
   ``distractor``), and with ``material`` gives each its own material variants
   (:class:`~.variation.VariantPool`).

The j-th copy of an asset is the same object in every frame that has one (only its
pose and material values change, so Cycles' persistent data keeps it); copies a
frame does not need are removed. What a frame shows depends on its draws alone.

Copies carry ``coco_spawned`` (:func:`~blender_coco.blender.marking.is_spawned`):
the render run sets their pass indices without remembering them. ``finish`` removes
the copies, variants, the physics scene and everything loading created.
"""

from __future__ import annotations

import logging
import math

import bpy
from mathutils import Euler, Matrix, Vector

from blender_coco.blender.randomizers import placement
from blender_coco.blender.randomizers.assets import Library
from blender_coco.blender.randomizers.common import GEOMETRY, Frame, scene_object
from blender_coco.blender.randomizers.physics import Physics
from blender_coco.blender.randomizers.registry import Part, register
from blender_coco.blender.randomizers.variation import VariantPool
from blender_coco.blender.scene_info import evaluated_depsgraph
from blender_coco.errors import UserError
from blender_coco.randomize import SpawnConfig

log = logging.getLogger(__name__)

DROP_GAP = 0.005  # scene units between the bounding spheres of two dropped copies


def _mesh(scene, name: str, field: str):
    obj = scene_object(scene, name, field)
    if obj.type != "MESH":
        raise UserError(f"{field}: object {name!r} is a {obj.type.lower()}, not a mesh; name a mesh")
    return obj


@register("spawn")
class SpawnPart(Part):
    """One ``[[spawn]]`` group: its library, its copies of the current frame, physics and variants."""

    def __init__(self, cfg: SpawnConfig) -> None:
        super().__init__(cfg)
        self.library = None
        self.physics = None
        self.pool = None
        self.collection = None
        self.copies: dict[int, list[list]] = {}  # asset index -> its copies (object lists, root first)
        self.failed = 0  # copies left out for want of a free place, over the run
        self._obstacles: dict[tuple[str, int], object] = {}

    def start(self, scene, guard, images) -> None:
        cfg = self.cfg
        self.surface = _mesh(scene, cfg.surface, f"{cfg.name}.surface") if cfg.surface else None
        colliders = [_mesh(scene, n, f"{cfg.name}.physics.colliders") for n in cfg.physics.colliders] \
            if cfg.physics is not None else []
        self.fixed = {o.name for o in ([self.surface] if self.surface else []) + colliders}
        self.library = Library(cfg)
        self.library.load(scene, guard)
        self.assets = self.library.assets
        self.collection = bpy.data.collections.new(f"coco_spawn.{cfg.name}")
        scene.collection.children.link(self.collection)
        for layer in scene.view_layers:  # a view layer may exclude new collections by default: include it
            lc = layer.layer_collection.children.get(self.collection.name)
            if lc is not None and lc.exclude:
                lc.exclude = False
        if cfg.physics is not None:
            self.physics = Physics(cfg.physics, cfg.name)
            dg = evaluated_depsgraph(scene)
            for obj in ([self.surface] if self.surface else []) + colliders:
                self.physics.add_collider(obj, dg)
            ldg = self.library.scene.view_layers[0].depsgraph
            for asset in self.assets:
                asset.hull = self.physics.hull(f"{cfg.name}: asset {asset.name!r}", asset.points(ldg))
        if cfg.material is not None:
            self.pool = VariantPool(cfg.material, images, f"{cfg.name}.material")

    # -- a frame -----------------------------------------------------------------

    def _clear(self) -> None:
        for pool in self.copies.values():
            for objects in pool:
                self.library.remove(objects)
        self.copies = {}

    def _pose(self, asset, rng) -> tuple[Euler, Vector]:
        cfg = self.cfg
        euler = asset.own_rot.copy()
        if cfg.rotation is not None:
            for axis, rng_axis in enumerate((cfg.rotation.x, cfg.rotation.y, cfg.rotation.z)):
                if rng_axis is not None:
                    euler[axis] = math.radians(rng_axis.sample(rng))
        factor = cfg.scale.sample(rng) if cfg.scale is not None else 1.0
        return euler, asset.own_scale * factor

    def _free(self, center: Vector, radius: float, frame: Frame, drops, spacing: float) -> bool:
        for other, r, names in frame.placed:
            if names & self.fixed:
                continue
            if (center - other).length < radius + r + spacing:
                return False
        return all((center - c).length >= radius + r + DROP_GAP for c, r in drops)

    def _place(self, asset, euler, scale, rng, surf, frame: Frame):
        """Where the copy stands (no physics): an origin, or None when no free place was found."""
        cfg = self.cfg
        for _ in range(cfg.max_tries):
            if surf is None:
                loc = Vector([rng.uniform(a, b) for a, b in zip(cfg.region.min, cfg.region.max)])
            else:
                loc = placement.on_surface(asset.corners, euler, scale, rng, surf, cfg.region)
                if loc is None:
                    continue
            center, radius, _ = placement.sphere(asset.corners, loc, euler, scale)
            if self._free(center, radius, frame, (), cfg.spacing):
                return loc
        return None

    def _drop(self, asset, euler, scale, rng, surf, frame: Frame, drops) -> Vector:
        """Where the copy starts falling: above the surface (or region), clear of the others."""
        cfg = self.cfg
        _, _, pts = placement.sphere(asset.corners, Vector((0.0, 0.0, 0.0)), euler, scale)
        bottom = min(p.z for p in pts)
        if surf is not None:
            x0, x1, y0, y1 = placement.xy_range(pts, surf, cfg.region)
            base = surf.hi.z
        else:
            (x0, y0, base), (x1, y1, _) = cfg.region.min, cfg.region.max
        loc = None
        for _ in range(cfg.max_tries):
            h = cfg.physics.drop_height.sample(rng)
            loc = Vector((rng.uniform(x0, x1), rng.uniform(y0, y1), base + h - bottom))
            center, radius, _ = placement.sphere(asset.corners, loc, euler, scale)
            if self._free(center, radius, frame, drops, cfg.spacing):
                drops.append((center, radius))
                return loc
        # no room at the drop heights: start above everything dropped so far (a pile forms)
        center, radius, _ = placement.sphere(asset.corners, loc, euler, scale)
        top = max([c.z + r for c, r in drops] + [o.z + r for o, r, names in frame.placed if not names & self.fixed]
                  + [center.z - radius])
        loc = loc + Vector((0.0, 0.0, top + DROP_GAP - (center.z - radius)))
        drops.append((center + Vector((0.0, 0.0, top + DROP_GAP - (center.z - radius))), radius))
        return loc

    def _obstacles_of(self, scene, frame: Frame, dg) -> list:
        """Hulls (cached per object and mesh) of the meshes the frame placed before, at their poses."""
        out = []
        for _, _, names in frame.placed:
            if names & self.fixed:
                continue
            for name in sorted(names):
                obj = scene.objects.get(name)
                if obj is None or obj.type not in GEOMETRY or obj.hide_render or obj.data is None:
                    continue
                key = (name, obj.data.as_pointer())
                hull = self._obstacles.get(key)
                if hull is None:
                    ev = obj.evaluated_get(dg)
                    mesh = ev.to_mesh()
                    pts = [v.co.copy() for v in mesh.vertices] if mesh is not None else []
                    ev.to_mesh_clear()
                    if len(pts) < 4:
                        continue
                    try:
                        hull = self.physics.hull(f"{self.cfg.name}: obstacle {name!r}", pts)
                    except UserError:
                        continue  # flat: nothing to collide with
                    self._obstacles[key] = hull
                out.append((hull, obj.evaluated_get(dg).matrix_world.copy()))
        return out

    def apply(self, scene, rng, frame: Frame) -> None:
        cfg = self.cfg
        if self.pool is not None:
            self.pool.begin_frame()
        n = int(cfg.count.sample(rng))
        dg = evaluated_depsgraph(scene)
        surf = placement.surface(self.surface, dg) if self.surface is not None else None
        if surf is not None and self.physics is None and self.surface.hide_render:
            surf = "hidden"  # hidden this frame (e.g. by [[objects]]): nothing can stand on it
        plans = []  # (asset, matrix or None)
        drops = []
        for _ in range(n):
            asset = rng.choice(self.assets)
            euler, scale = self._pose(asset, rng)
            if self.physics is not None:
                loc = self._drop(asset, euler, scale, rng, surf, frame, drops)
            elif surf == "hidden":
                loc = None
            else:
                loc = self._place(asset, euler, scale, rng, surf, frame)
                if loc is not None:
                    center, radius, _ = placement.sphere(asset.corners, loc, euler, scale)
                    frame.placed.append((center, radius, frozenset()))  # names follow once the copy exists
            plans.append([asset, None if loc is None else Matrix.LocRotScale(loc, euler, scale)])
        if self.physics is not None:
            bodies = [(a.hull, m) for a, m in plans]
            rest = self.physics.settle(bodies, self._obstacles_of(scene, frame, dg), dg)
            for plan, m in zip(plans, rest):
                plan[1] = m
        else:
            del frame.placed[len(frame.placed) - sum(1 for _, m in plans if m is not None):]
        made = []
        used: dict[int, int] = {}  # asset index -> copies of it so far in this frame
        for asset, matrix in plans:
            if matrix is None:
                self.failed += 1
                if self.physics is None:
                    (log.debug if self.failed > 1 else log.warning)(
                        "%s: no free place for a copy of %r after %d tries; such copies are left out (widen the "
                        "region or surface, or lower count, scale or spacing)", cfg.name, asset.name, cfg.max_tries)
                continue
            j = used.get(asset.index, 0)
            used[asset.index] = j + 1
            pool = self.copies.setdefault(asset.index, [])
            if j == len(pool):  # the j-th copy of an asset is the same object every frame that has one
                pool.append(self.library.copy(asset, f"{cfg.name}.{asset.name}.{j:03d}"[:63], self.collection))
            objects = pool[j]
            objects[0].matrix_world = matrix
            made.append((asset, objects))
            loc, rot, scale = matrix.decompose()
            center, radius, _ = placement.sphere(asset.corners, loc, rot, scale)
            frame.placed.append((center, radius, frozenset(o.name for o in objects)))
        for index, pool in self.copies.items():  # copies this frame does not need
            keep = used.get(index, 0)
            for objects in pool[keep:]:
                self.library.remove(objects)
            del pool[keep:]
        if self.pool is not None:
            for asset, objects in made:
                self.pool.vary(objects, self.pool.draw(rng), frame)
        frame.values[self.name] = [[objects[0].name, asset.name] for asset, objects in made]

    def detail(self) -> str:
        """Simulation time per frame so far, for the progress log ('' without physics)."""
        if self.physics is None or not self.physics.frames:
            return ""
        return f"{self.name} physics {self.physics.seconds / self.physics.frames:.2f} s/frame"

    def finish(self) -> None:
        if self.library is not None:
            self._clear()
        if self.pool is not None:
            self.pool.finish()
            self.pool = None
        if self.physics is not None:
            dropped, frames = self.physics.dropped, self.physics.frames
            self.physics.finish()
            self.physics = None
            if dropped:
                log.info("%s: %d cop(ies) over %d frame(s) did not come to rest or intersected after settling and "
                         "were left out", self.cfg.name, dropped, frames)
        self._obstacles = {}
        if self.collection is not None:
            try:
                bpy.data.collections.remove(self.collection)
            except ReferenceError:
                pass
            self.collection = None
        if self.library is not None:
            self.library.finish()
            self.library = None

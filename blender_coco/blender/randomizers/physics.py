"""Rigid-body settling for ``[[spawn]]``: drop bodies onto colliders and read where they rest.

:class:`Physics` owns a private scene (``coco_physics.<group>``) with Blender's
rigid-body world, so the simulation never steps the rendered scene's frames or
animation and never touches a rigid-body world the user has. Per frame
:meth:`Physics.settle` gets the bodies to drop (a :class:`Hull` and a start matrix
each) and the obstacles (hulls at fixed matrices: what the frame placed before),
simulates until nothing moves (checked every :data:`CHECK_EVERY` steps) or
``max_time`` runs out, and returns each body's resting matrix, or None for a body
left out: still moving fast at the end (falling off the world), or whose hull
intersects a body kept before it, an obstacle or a collider (BVH trees). When bodies
are left out the rest settle again from where they lie (:data:`ROUNDS`), so nothing
rests on a body that is gone.

Collision shapes: every body and obstacle is a convex hull (:func:`hull`, at most
:data:`MAX_HULL_VERTS` vertices, computed once per asset and shared by every copy),
simulated slightly inflated (by :attr:`Hull.inflate`, at most 2 mm) so that the
render meshes inside it rest a hair apart instead of touching; the ``surface`` and
``colliders`` are passive meshes (exact, concave allowed) sharing a copy of their
evaluated mesh, following their objects every frame (a hidden one holds nothing).
Bodies are damped (Bullet has no rolling resistance). The world steps ``substeps``
times per 1/24 s with 20 solver iterations and starts afresh every frame, so a
frame's poses depend on its draws alone. Stock Blender's Python has no numpy:
mathutils and bmesh only.
"""

from __future__ import annotations

import logging
import time

import bmesh
import bpy
from mathutils import Matrix, Vector
from mathutils.bvhtree import BVHTree

from blender_coco.errors import UserError

log = logging.getLogger(__name__)

#: Hull vertices above this are decimated (Bullet's hull tests are linear in the vertex count).
MAX_HULL_VERTS = 512
FPS = 24
CHECK_EVERY = 4  # simulation frames between rest checks
REST_MOVE = 5e-4  # scene units a body may move between two checks (1/6 s) and count as resting
REST_TURN = 2e-3  # rotation (matrix entries) likewise
SLOW_MOVE = 0.01  # at max_time, a body moving more than this per check is falling: it is left out
SLOW_TURN = 0.1
ROUNDS = 3  # settling rounds: after bodies are left out, the others settle again
MARGIN = 5e-4  # Bullet collision margin of every shape
LINEAR_DAMPING = 0.1  # fraction of velocity lost per second (Blender's defaults: 0.04, 0.1)
ANGULAR_DAMPING = 0.9


class Hull:
    """A convex hull in its object's frame: ``verts``/``faces`` (the exact hull, for overlap
    checks) and ``mesh``, the same hull pushed out by ``inflate`` (the simulated shape)."""

    def __init__(self, verts: list[Vector], faces: list[tuple[int, ...]], mesh, inflate: float) -> None:
        self.verts, self.faces, self.mesh, self.inflate = verts, faces, mesh, inflate

    def bvh(self, matrix: Matrix) -> BVHTree:
        return BVHTree.FromPolygons([matrix @ v for v in self.verts], self.faces)

    def lowest(self, matrix: Matrix) -> float:
        return min((matrix @ v).z for v in self.verts)


def _hull_bmesh(points: list[Vector]):
    bm = bmesh.new()
    for p in points:
        bm.verts.new(p)
    result = bmesh.ops.convex_hull(bm, input=list(bm.verts), use_existing_faces=False)
    drop = set(result["geom_interior"]) | set(result["geom_unused"])
    bmesh.ops.delete(bm, geom=[v for v in bm.verts if v in drop or not v.link_faces], context="VERTS")
    return bm


def hull(name: str, points: list[Vector], scene) -> Hull:
    """The convex hull of ``points`` (an asset's vertices in its root's frame), decimated to
    :data:`MAX_HULL_VERTS` when larger (in ``scene``, a scene no one renders)."""
    if len(points) < 4:
        raise UserError(f"{name}: too few vertices ({len(points)}) for a collision shape; physics needs a solid mesh")
    bm = _hull_bmesh(points)
    if len(bm.verts) > MAX_HULL_VERTS:  # decimate with Blender's modifier, then take the hull again
        mesh = bpy.data.meshes.new("coco_hull_tmp")
        bm.to_mesh(mesh)
        bm.free()
        obj = bpy.data.objects.new("coco_hull_tmp", mesh)
        scene.collection.objects.link(obj)
        mod = obj.modifiers.new("decimate", "DECIMATE")
        mod.ratio = MAX_HULL_VERTS / max(len(mesh.vertices), 1) * 0.9
        scene.view_layers[0].update()  # makes and evaluates the scene's depsgraph
        ev = obj.evaluated_get(scene.view_layers[0].depsgraph)
        pts = [v.co.copy() for v in ev.data.vertices]
        bpy.data.objects.remove(obj)
        bpy.data.meshes.remove(mesh)
        bm = _hull_bmesh(pts)
    bm.verts.ensure_lookup_table()
    bm.normal_update()
    lo = Vector([min(v.co[i] for v in bm.verts) for i in range(3)])
    hi = Vector([max(v.co[i] for v in bm.verts) for i in range(3)])
    if min(hi - lo) <= 1e-9:
        bm.free()
        raise UserError(f"{name}: the mesh is flat (no volume), so it has no convex collision shape; give it "
                        "thickness or turn physics off for it")
    verts = [v.co.copy() for v in bm.verts]
    index = {v: i for i, v in enumerate(bm.verts)}
    faces = [tuple(index[v] for v in f.verts) for f in bm.faces]
    inflate = max(1e-5, min(0.002, 0.01 * (hi - lo).length))
    for v in bm.verts:
        v.co += v.normal * inflate
    mesh = bpy.data.meshes.new(f"coco_hull.{name}")
    bm.to_mesh(mesh)
    bm.free()
    return Hull(verts, faces, mesh, inflate)


class Physics:
    """A rigid-body world in a scene of its own, for one ``[[spawn]]`` group."""

    def __init__(self, cfg, name: str) -> None:
        self.cfg = cfg
        self.name = name
        self.seconds = 0.0  # simulation time over the run (wall clock)
        self.frames = 0
        self.dropped = 0
        self.scene = bpy.data.scenes.new(f"coco_physics.{name}")
        self.scene.render.fps, self.scene.render.fps_base = FPS, 1.0
        self._meshes = []
        self.colliders = []  # (our object, the source object, a BVH cache key, BVH)
        override = getattr(bpy.context, "temp_override", None)
        if override is None:
            raise UserError(f"{name}.physics needs Blender 3.2 or newer (bpy.context.temp_override); "
                            f"this is {bpy.app.version_string}")
        with override(scene=self.scene):
            bpy.ops.rigidbody.world_add()
        rbw = self.world = self.scene.rigidbody_world
        if rbw is None:
            raise UserError(f"{name}.physics: this Blender ({bpy.app.version_string}) could not create a "
                            "rigid-body world; turn physics off")
        self.coll = bpy.data.collections.new(f"coco_physics.{name}")
        self.scene.collection.children.link(self.coll)
        rbw.collection = self.coll
        rbw.substeps_per_frame = cfg.substeps
        rbw.solver_iterations = 20
        rbw.time_scale = 1.0
        self.steps = max(CHECK_EVERY, int(round(cfg.max_time * FPS)))
        rbw.point_cache.frame_start = 1
        rbw.point_cache.frame_end = self.steps + 1
        self.scene.frame_start, self.scene.frame_end = 1, self.steps + 1
        self._temp = []

    # -- shapes ------------------------------------------------------------------

    def hull(self, name: str, points: list[Vector]) -> Hull:
        h = hull(name, points, self.scene)
        self._meshes.append(h.mesh)
        return h

    def add_collider(self, obj, dg) -> None:
        """``obj`` (a mesh of the rendered scene) as a passive mesh collider, following it every frame."""
        ev = obj.evaluated_get(dg)
        mesh = bpy.data.meshes.new_from_object(ev)
        mesh.name = f"coco_collider.{obj.name}"
        self._meshes.append(mesh)
        copy = bpy.data.objects.new(mesh.name, mesh)
        self.coll.objects.link(copy)
        self.colliders.append([copy, obj, None, None])

    # -- a frame -----------------------------------------------------------------

    def _body(self, name: str, mesh, matrix: Matrix):
        obj = bpy.data.objects.new(name, mesh)
        obj.matrix_world = matrix
        self.coll.objects.link(obj)
        self._temp.append(obj)
        return obj

    def _setup(self, obj, active: bool, shape: str) -> None:
        rb = obj.rigid_body
        rb.type = "ACTIVE" if active else "PASSIVE"
        rb.collision_shape = shape
        rb.use_margin = True
        rb.collision_margin = MARGIN
        rb.friction = self.cfg.friction
        rb.restitution = self.cfg.bounciness
        rb.use_deactivation = False
        if active:
            rb.mass = 1.0
            # Bullet has no rolling resistance: without damping a ball or a can on its side rolls for
            # ever; these values let such bodies stop within about a second of landing
            rb.linear_damping = LINEAR_DAMPING
            rb.angular_damping = ANGULAR_DAMPING

    def settle(self, bodies: list[tuple[Hull, Matrix]], obstacles: list[tuple[Hull, Matrix]], dg) -> list:
        """Drop ``bodies`` (hull, start matrix) among ``obstacles`` and the colliders; the resting
        matrix of each body, or None for one dropped (still moving, or intersecting)."""
        t0 = time.perf_counter()
        try:
            return self._settle(bodies, obstacles, dg)
        finally:
            self._clear()
            self.seconds += time.perf_counter() - t0
            self.frames += 1

    def _settle(self, bodies, obstacles, dg) -> list:
        for entry in self.colliders:  # follow the rendered scene: where each collider is, whether it renders
            copy, source = entry[0], entry[1]
            mw = source.evaluated_get(dg).matrix_world.copy()
            if copy.matrix_world != mw:
                copy.matrix_world = mw
            linked = self.coll in copy.users_collection
            if source.hide_render and linked:  # hidden this frame (e.g. by [[objects]]): nothing lands on it
                self.coll.objects.unlink(copy)
            elif not source.hide_render and not linked:
                self.coll.objects.link(copy)
        if not bodies:
            return []
        for k, (h, m) in enumerate(obstacles):
            self._setup(self._body(f"coco_obstacle.{k:04d}", h.mesh, m), False, "CONVEX_HULL")
        poses = [m for _, m in bodies]
        alive = list(range(len(bodies)))
        for round_ in range(ROUNDS):
            moved, simulated = self._simulate([(bodies[k][0], poses[k]) for k in alive])
            trees = []
            drop = set()
            for k, (m, fast) in zip(alive, moved):
                poses[k] = m
                tree = bodies[k][0].bvh(m)
                if fast or any(tree.overlap(other) for other in trees) or self._hits_fixed(tree, obstacles, dg):
                    drop.add(k)
                else:
                    trees.append(tree)
            log.debug("%s: round %d: %d bodies, %.2f s simulated, %d left out (still moving or intersecting)",
                      self.name, round_, len(alive), simulated, len(drop))
            alive = [k for k in alive if k not in drop]
            if not drop or not alive:
                break  # else: what rested on a body left out falls again, so settle the rest once more
        self.dropped += len(bodies) - len(alive)
        kept = set(alive)
        return [poses[k] if k in kept else None for k in range(len(bodies))]

    def _simulate(self, bodies) -> tuple[list, float]:
        """Simulate ``bodies`` from rest until none moves or ``max_time``; each body's last
        matrix and whether it still moves fast then, and the simulated seconds."""
        active = [self._body(f"coco_body.{k:04d}", h.mesh, m) for k, (h, m) in enumerate(bodies)]
        rbw = self.world
        rbw.collection = self.coll  # gives new objects their rigid-body settings
        for entry in self.colliders:
            if entry[0].rigid_body is not None:
                self._setup(entry[0], False, "MESH")
        for obj in active:
            self._setup(obj, True, "CONVEX_HULL")
        rbw.point_cache.frame_end = self.steps + 1  # any change resets the cache: every run starts afresh
        scene = self.scene
        scene.frame_set(1)
        pdg = scene.view_layers[0].depsgraph
        before = [o.evaluated_get(pdg).matrix_world.copy() for o in active]
        resting = False
        fast = [True] * len(active)
        frame = 1
        while frame <= self.steps and not resting:
            frame += 1
            scene.frame_set(frame)
            if (frame - 1) % CHECK_EVERY and frame <= self.steps:
                continue
            now = [o.evaluated_get(pdg).matrix_world.copy() for o in active]
            resting = not any(_moved(a, b, REST_MOVE, REST_TURN) for a, b in zip(before, now))
            fast = [_moved(a, b, SLOW_MOVE, SLOW_TURN) for a, b in zip(before, now)]
            before = now
        for obj in active:
            self._temp.remove(obj)
            bpy.data.objects.remove(obj)
        return list(zip(before, fast)), (frame - 1) / FPS

    def _hits_fixed(self, tree: BVHTree, obstacles, dg) -> bool:
        for h, m in obstacles:
            if tree.overlap(h.bvh(m)):
                return True
        for entry in self.colliders:
            copy, source, key, bvh = entry
            if source.hide_render:
                continue
            mw = copy.matrix_world
            now = tuple(tuple(row) for row in mw)
            if key != now:
                mesh = copy.data
                bvh = BVHTree.FromPolygons([mw @ v.co for v in mesh.vertices], [tuple(p.vertices) for p in mesh.polygons])
                entry[2], entry[3] = now, bvh
            if tree.overlap(bvh):
                return True
        return False

    def _clear(self) -> None:
        for obj in self._temp:
            bpy.data.objects.remove(obj)
        self._temp = []

    def finish(self) -> None:
        """Remove the scene, its world, objects and meshes."""
        self._clear()
        for entry in self.colliders:
            try:
                bpy.data.objects.remove(entry[0])
            except ReferenceError:
                pass
        self.colliders = []
        for coll in (self.coll,):
            try:
                bpy.data.collections.remove(coll)
            except ReferenceError:
                pass
        try:
            bpy.data.scenes.remove(self.scene)
        except ReferenceError:
            pass
        for mesh in self._meshes:
            try:
                bpy.data.meshes.remove(mesh)
            except ReferenceError:
                pass
        self._meshes = []


def _moved(a: Matrix, b: Matrix, move: float, turn: float) -> bool:
    if (a.translation - b.translation).length > move:
        return True
    return any(abs(a[i][j] - b[i][j]) > turn for i in range(3) for j in range(3))

"""Apply a randomization config to a scene, one frame at a time (the bpy side).

:class:`Randomizer` is a :class:`~blender_coco.blender.hooks.FrameHook` built from a
validated :class:`~blender_coco.randomize_config.RandomizeConfig`. ``start`` resolves
every name the config uses (collections, objects, materials, actions: an unknown one
is a one-line error naming the field) and remembers every value it will change;
``before_frame(scene, i, seed)`` sets every randomized value of frame ``i`` from
``frame_rng(seed, i, part)`` alone, writing all of them each frame, so a frame never
depends on the frames rendered before it; ``finish`` puts every value back and
removes what it created (lights, the world copy, shader nodes, loaded images).

Memory stays flat: lights are a pool made once, and a loaded image is removed as
soon as a frame no longer uses it. Stock Blender's Python has no numpy: only the
standard library, bpy and mathutils are used here.
"""

from __future__ import annotations

import colorsys
import json
import logging
import math
import os

import bpy
from mathutils import Euler, Matrix, Quaternion, Vector

from blender_coco import randomize_config as rc
from blender_coco import srgb
from blender_coco.blender.marking import CATEGORY_PROP
from blender_coco.blender.hooks import FrameHook
from blender_coco.blender.scene_info import evaluated_depsgraph, scene_camera
from blender_coco.errors import UserError

log = logging.getLogger(__name__)

_GEOMETRY = {"MESH", "CURVE", "SURFACE", "FONT", "META", "VOLUME", "POINTCLOUD", "CURVES", "GPENCIL", "GREASEPENCIL"}
# rotation_mode last: restoring goes in reverse, and setting the mode converts the rotation values
_TRANSFORM = ("location", "rotation_euler", "rotation_quaternion", "rotation_axis_angle", "scale", "rotation_mode")


# -- small helpers ---------------------------------------------------------------


class _Saved:
    """Values to put back at the end: each (owner, attribute) once, copied when it is a vector."""

    def __init__(self) -> None:
        self._items: list[tuple[object, str, object]] = []
        self._keys: set[tuple[int, str]] = set()

    def save(self, owner, attr: str) -> None:
        key = (owner.as_pointer(), attr)
        if key in self._keys:
            return
        self._keys.add(key)
        value = getattr(owner, attr)
        if value is not None and not isinstance(value, (str, bytes, int, float)) and hasattr(value, "__len__") \
                and not isinstance(value, bpy.types.ID):
            value = tuple(value)
        self._items.append((owner, attr, value))

    def set(self, owner, attr: str, value) -> None:
        self.save(owner, attr)
        setattr(owner, attr, value)

    def restore(self) -> None:
        items, self._items, self._keys = self._items, [], set()
        for owner, attr, value in reversed(items):
            try:
                setattr(owner, attr, value)
            except (ReferenceError, AttributeError, TypeError, ValueError) as exc:
                log.debug("could not restore %s.%s: %s", owner, attr, exc)


class _Images:
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


class _Frame:
    """What the parts of one frame share: placed bounding spheres, images in use, chosen values."""

    def __init__(self) -> None:
        self.placed: list[tuple[Vector, float, frozenset]] = []
        self.images: set[str] = set()
        self.values: dict[str, object] = {}


def hsv_to_linear(h: float, s: float, v: float) -> tuple[float, float, float]:
    """HSV of the sRGB colour (value may exceed 1 for bright backgrounds) -> scene-linear RGB."""
    scale = max(v, 1.0)
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(v, 1.0))
    return tuple(srgb.to_linear(c) * scale for c in (r, g, b))


def linear_to_hsv(rgb) -> tuple[float, float, float]:
    return colorsys.rgb_to_hsv(*(srgb.from_linear(float(c)) for c in tuple(rgb)[:3]))


def jitter_color(rgb, hue: float, sat: float, val: float) -> tuple[float, float, float]:
    """Shift the hue by ``hue`` turns and scale saturation and value (in sRGB HSV)."""
    h, s, v = linear_to_hsv(rgb)
    r, g, b = colorsys.hsv_to_rgb((h + hue) % 1.0, min(max(s * sat, 0.0), 1.0), min(max(v * val, 0.0), 1.0))
    return (srgb.to_linear(r), srgb.to_linear(g), srgb.to_linear(b))


def temperature_rgb(kelvin: float) -> tuple[float, float, float]:
    """Scene-linear RGB of a black body at ``kelvin`` (Tanner Helland's fit, normalised)."""
    t = kelvin / 100.0
    if t <= 66:
        r = 255.0
        g = 99.4708025861 * math.log(t) - 161.1195681661
        b = 0.0 if t <= 19 else 138.5177312231 * math.log(t - 10) - 305.0447927307
    else:
        r = 329.698727446 * (t - 60) ** -0.1332047592
        g = 288.1221695283 * (t - 60) ** -0.0755148492
        b = 255.0
    rgb = [min(max(c, 0.0), 255.0) / 255.0 for c in (r, g, b)]
    return tuple(srgb.to_linear(c) for c in rgb)


def _direction(azimuth_deg: float, elevation_deg: float) -> Vector:
    """Unit vector from a target to a viewer: azimuth 0 = -Y side, 90 = +X side, elevation up."""
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    return Vector((math.sin(az) * math.cos(el), -math.cos(az) * math.cos(el), math.sin(el)))


def _collection_in_scene(scene, name: str, field: str):
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


def _scene_object(scene, name: str, field: str):
    obj = scene.objects.get(name)
    if obj is None:
        raise UserError(f"{field}: no object {name!r} in scene {scene.name!r}; fix the name")
    return obj


def _roots(scene, group, field_prefix: str) -> list:
    """Top-level objects of ``group.collection`` plus ``group.objects``, sorted by name."""
    roots = {}
    if group.collection:
        coll = _collection_in_scene(scene, group.collection, f"{field_prefix}.collection")
        members = {o.name for o in coll.all_objects}
        for o in coll.all_objects:
            if o.parent is None or o.parent.name not in members:
                roots[o.name] = o
        if not members:
            raise UserError(f"{field_prefix}.collection: collection {group.collection!r} holds no objects; "
                            f"add objects to it or remove the group")
    for name in group.objects:
        roots[name] = _scene_object(scene, name, f"{field_prefix}.objects")
    return [roots[n] for n in sorted(roots)]


def _layer_path(layer_collection, coll):
    if layer_collection.collection.as_pointer() == coll.as_pointer():
        return [layer_collection]
    for child in layer_collection.children:
        path = _layer_path(child, coll)
        if path:
            return [layer_collection] + path
    return []


def _reveal(scene, coll, saved: _Saved) -> None:
    """Make ``coll`` renderable for the run (an asset collection is often excluded or hidden)."""
    for layer in scene.view_layers:
        for lc in _layer_path(layer.layer_collection, coll)[1:]:
            if lc.exclude:
                saved.set(lc, "exclude", False)
            if lc.collection.hide_render:
                saved.set(lc.collection, "hide_render", False)


def _lift_action(obj, saved: _Saved):
    """Unassign ``obj``'s own action for the run (it would win over randomized values); returns it."""
    ad = obj.animation_data
    if ad is None or ad.action is None:
        return None
    action = ad.action
    saved.set(ad, "action", None)
    return action


# -- parts -----------------------------------------------------------------------


class _Part:
    name = "part"

    def start(self, scene, saved: _Saved, images: _Images) -> None:
        pass

    def apply(self, scene, rng, frame: _Frame) -> None:
        pass

    def finish(self) -> None:
        pass


class _Objects(_Part):
    def __init__(self, cfg: rc.ObjectsConfig) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.failed = 0

    def start(self, scene, saved, images) -> None:
        cfg = self.cfg
        self.roots = _roots(scene, cfg, cfg.name)
        if cfg.collection:
            _reveal(scene, bpy.data.collections[cfg.collection], saved)
        self.surface = None
        if cfg.surface:
            self.surface = _scene_object(scene, cfg.surface, f"{cfg.name}.surface")
            if self.surface.type != "MESH":
                raise UserError(f"{cfg.name}.surface: object {cfg.surface!r} is a {self.surface.type.lower()}, not a "
                                "mesh; name a mesh to stand objects on")
        self.trees = {}
        self.hidden = {}
        self.unmarked = []
        self.local = {}
        self.transforms = cfg.places or cfg.rotation is not None or cfg.scale is not None
        for root in self.roots:
            tree = [root] + sorted(root.children_recursive, key=lambda o: o.name)
            self.trees[root.name] = tree
            self.hidden[root.name] = [o.hide_render for o in tree]
            for o in tree:
                saved.save(o, "hide_render")
            for attr in _TRANSFORM:
                saved.save(root, attr)
            _, basis_rot, _ = root.matrix_basis.decompose()
            self.local[root.name] = (tuple(root.location), tuple(basis_rot.to_euler("XYZ")), tuple(root.scale))
            if self.transforms:
                if _lift_action(root, saved) is not None:
                    log.info("%s: object %r is animated; its action is lifted for the run so that the randomized "
                             "transform is what renders", cfg.name, root.name)
                saved.set(root, "rotation_mode", "XYZ")
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
            self.own[root.name] = (loc, rot.to_euler("XYZ"), scale)
            self.corners[root.name] = self._local_box(root, self.trees[root.name], dg)

    @staticmethod
    def _local_box(root, tree, dg) -> list[Vector]:
        """Corners of the tree's bounding box in the root's frame (its own loc/rot/scale removed)."""
        inv = root.matrix_world.inverted_safe()
        pts = []
        for o in tree:
            if o.type in _GEOMETRY:
                ev = o.evaluated_get(dg)
                m = inv @ ev.matrix_world
                pts.extend(m @ Vector(c) for c in ev.bound_box)
        if not pts:
            pts = [Vector((0.0, 0.0, 0.0))]
        lo = [min(p[i] for p in pts) for i in range(3)]
        hi = [max(p[i] for p in pts) for i in range(3)]
        return [Vector((x, y, z)) for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]

    def _show(self, root, visible: bool) -> None:
        for o, hidden in zip(self.trees[root.name], self.hidden[root.name]):
            value = hidden if visible and o is not root else not visible
            if o.hide_render != value:
                o.hide_render = value

    def _reset(self, root) -> None:
        if self.transforms:
            root.location, root.rotation_euler, root.scale = self.local[root.name]

    def _set_transform(self, root, loc: Vector, euler: Euler, scale: Vector) -> None:
        if root.parent is None:
            root.location, root.rotation_euler, root.scale = loc, euler, scale
        else:
            root.matrix_world = Matrix.LocRotScale(loc, euler, scale)

    def _sphere(self, root, loc: Vector, euler: Euler, scale: Vector) -> tuple[Vector, float, list[Vector]]:
        m = Matrix.LocRotScale(loc, euler, scale)
        pts = [m @ c for c in self.corners[root.name]]
        lo = Vector([min(p[i] for p in pts) for i in range(3)])
        hi = Vector([max(p[i] for p in pts) for i in range(3)])
        center = (lo + hi) / 2
        return center, max((p - center).length for p in pts), pts

    def _free(self, center: Vector, radius: float, frame: _Frame, ignore: str | None) -> bool:
        for other, r, names in frame.placed:
            if ignore is not None and ignore in names:
                continue
            if (center - other).length < radius + r + self.cfg.spacing:
                return False
        return True

    def _surface_frame(self, dg):
        ev = self.surface.evaluated_get(dg)
        mw = ev.matrix_world.copy()
        pts = [mw @ Vector(c) for c in ev.bound_box]
        lo = Vector([min(p[i] for p in pts) for i in range(3)])
        hi = Vector([max(p[i] for p in pts) for i in range(3)])
        return ev, mw, mw.inverted_safe(), lo, hi

    def apply(self, scene, rng, frame: _Frame) -> None:
        cfg = self.cfg
        chosen = list(self.roots)
        if cfg.count is not None:
            n = min(max(int(cfg.count.sample(rng)), 0), len(self.roots))
            chosen = rng.sample(self.roots, n)
        chosen_names = {o.name for o in chosen}
        visible = [r for r in self.roots if r.name in chosen_names and (cfg.visibility >= 1 or rng.random() < cfg.visibility)]
        shown = {r.name for r in visible}
        surface = self._surface_frame(evaluated_depsgraph(scene)) if self.surface is not None else None
        placed = {}
        for root in visible:
            own_loc, own_rot, own_scale = self.own[root.name]
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
                    loc = self._on_surface(root, euler, scale, rng, surface)
                    if loc is None:
                        continue
                center, radius, _ = self._sphere(root, loc, euler, scale)
                if self._free(center, radius, frame, self.surface.name if self.surface is not None else None):
                    result = (loc, center, radius)
                    break
            if result is None:
                self.failed += 1
                shown.discard(root.name)
                (log.debug if self.failed > 1 else log.warning)(
                    "%s: no free place for %r after %d tries; it is hidden in such frames (widen the region or "
                    "surface, or lower count, scale or spacing)", cfg.name, root.name, cfg.max_tries)
                continue
            loc, center, radius = result
            frame.placed.append((center, radius, frozenset(o.name for o in self.trees[root.name])))
            placed[root.name] = (loc, euler, scale)
        for root in self.roots:
            visible_now = root.name in shown
            self._show(root, visible_now)
            if visible_now and self.transforms and root.name in placed:
                self._set_transform(root, *placed[root.name])
            else:
                self._reset(root)
        frame.values[self.name] = sorted(shown)

    def _on_surface(self, root, euler, scale, rng, surface):
        ev, mw, inv, lo, hi = surface
        _, _, pts = self._sphere(root, Vector((0.0, 0.0, 0.0)), euler, scale)
        reach = max((Vector((p.x, p.y)).length for p in pts), default=0.0)
        x0, x1 = lo.x + reach, hi.x - reach
        y0, y1 = lo.y + reach, hi.y - reach
        region = self.cfg.region
        if region is not None:  # only where the region lies over the surface
            x0, x1 = max(x0, region.min[0]), min(x1, region.max[0])
            y0, y1 = max(y0, region.min[1]), min(y1, region.max[1])
        if x0 > x1:  # wider than the room left: centre it
            x0 = x1 = (x0 + x1) / 2
        if y0 > y1:
            y0 = y1 = (y0 + y1) / 2
        x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
        origin = inv @ Vector((x, y, hi.z + 1.0))
        direction = (inv.to_3x3() @ Vector((0.0, 0.0, -1.0))).normalized()
        ok, hit, normal, _ = ev.ray_cast(origin, direction)
        if not ok:
            return None
        world_normal = (inv.to_3x3().transposed() @ normal).normalized()
        if world_normal.z < 0.7:  # not an upward face
            return None
        hit_w = mw @ hit
        bottom = min(p.z for p in pts)
        return Vector((hit_w.x, hit_w.y, hit_w.z - bottom))

    def finish(self) -> None:
        for obj, value in self.unmarked:
            try:
                obj[CATEGORY_PROP] = value
            except ReferenceError:
                pass
        self.unmarked = []


class _Materials(_Part):
    def __init__(self, cfg: rc.MaterialsConfig) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.entries = []
        self.created = []

    def start(self, scene, saved, images) -> None:
        cfg = self.cfg
        self.images = images
        mats = {}
        for name in cfg.materials:
            mat = bpy.data.materials.get(name)
            if mat is None:
                known = ", ".join(sorted(m.name for m in bpy.data.materials)[:20]) or "none"
                raise UserError(f"{cfg.name}.materials: no material {name!r} in this file (materials: {known}); fix the name")
            mats[mat.name] = mat
        objects = []
        if cfg.collection or cfg.objects:
            for root in _roots(scene, cfg, cfg.name):
                objects.extend([root, *root.children_recursive])
        elif not cfg.materials:
            objects = list(scene.objects)
        for obj in objects:
            for slot in getattr(obj, "material_slots", ()):
                if slot.material is not None:
                    mats[slot.material.name] = slot.material
        if not mats:
            raise UserError(f"{cfg.name}: the objects it names have no materials; give them materials or name "
                            "materials = [...]")
        self.files = rc.image_files(cfg.textures) if cfg.textures else []
        for name in sorted(mats):
            mat = mats[name]
            entry = {"mat": mat, "bsdfs": [], "tex": None}
            for attr in ("diffuse_color", "roughness", "metallic"):
                saved.save(mat, attr)
            entry["diffuse"] = tuple(mat.diffuse_color)
            tree = mat.node_tree
            if tree is not None:
                for node in tree.nodes:
                    if node.type != "BSDF_PRINCIPLED":
                        continue
                    base = node.inputs["Base Color"]
                    for key in ("Base Color", "Roughness", "Metallic"):
                        saved.save(node.inputs[key], "default_value")
                    link = base.links[0].from_socket if base.is_linked else None
                    entry["bsdfs"].append((node, tuple(base.default_value), link))
                if self.files and entry["bsdfs"]:
                    coord = tree.nodes.new("ShaderNodeTexCoord")
                    tex = tree.nodes.new("ShaderNodeTexImage")
                    tex.projection = "BOX"
                    tex.projection_blend = 0.25
                    tree.links.new(coord.outputs["Generated"], tex.inputs["Vector"])
                    entry["tex"] = tex
                    self.created.append((tree, [coord, tex]))
            self.entries.append(entry)

    def apply(self, scene, rng, frame: _Frame) -> None:
        cfg = self.cfg
        for entry in self.entries:
            hue = cfg.hue.sample(rng) if cfg.hue is not None else 0.0
            sat = cfg.saturation.sample(rng) if cfg.saturation is not None else 1.0
            val = cfg.value.sample(rng) if cfg.value is not None else 1.0
            rough = cfg.roughness.sample(rng) if cfg.roughness is not None else None
            metal = cfg.metallic.sample(rng) if cfg.metallic is not None else None
            texture = None
            if self.files and (cfg.texture_probability >= 1 or rng.random() < cfg.texture_probability):
                texture = rng.choice(self.files)
            mat = entry["mat"]
            jittered = cfg.hue is not None or cfg.saturation is not None or cfg.value is not None
            if jittered:
                mat.diffuse_color = (*jitter_color(entry["diffuse"], hue, sat, val), entry["diffuse"][3])
            if rough is not None:
                mat.roughness = rough
            if metal is not None:
                mat.metallic = metal
            tex = entry["tex"]
            if tex is not None:
                if texture is not None:
                    tex.image = self.images.get(texture, f"{cfg.name}.textures")
                    frame.images.add(os.path.abspath(texture))
                else:
                    tex.image = None
            for node, base_color, link in entry["bsdfs"]:
                socket = node.inputs["Base Color"]
                if jittered:
                    socket.default_value = (*jitter_color(base_color, hue, sat, val), base_color[3])
                if rough is not None:
                    node.inputs["Roughness"].default_value = rough
                if metal is not None:
                    node.inputs["Metallic"].default_value = metal
                if tex is not None:
                    tree = mat.node_tree
                    if texture is not None:
                        tree.links.new(tex.outputs["Color"], socket)
                    else:
                        _relink(tree, socket, link)
            frame.values.setdefault(self.name, {})[mat.name] = [round(hue, 4), round(sat, 4), round(val, 4), texture]

    def finish(self) -> None:
        for entry in self.entries:
            if entry["tex"] is None:
                continue
            tree = entry["mat"].node_tree
            for node, _, link in entry["bsdfs"]:
                try:
                    _relink(tree, node.inputs["Base Color"], link)
                except ReferenceError:
                    pass
        for tree, nodes in self.created:
            for node in nodes:
                try:
                    tree.nodes.remove(node)
                except (ReferenceError, RuntimeError):
                    pass
        self.created = []


def _relink(tree, socket, from_socket) -> None:
    """Give ``socket`` back its original input (``from_socket`` or none)."""
    current = socket.links[0].from_socket if socket.is_linked else None
    if from_socket is None:
        for link in list(socket.links):
            tree.links.remove(link)
    elif current is None or current.as_pointer() != from_socket.as_pointer():
        tree.links.new(from_socket, socket)


class _Armatures(_Part):
    def __init__(self, cfg: rc.ArmaturesConfig) -> None:
        self.cfg = cfg
        self.name = cfg.name

    def start(self, scene, saved, images) -> None:
        cfg = self.cfg
        if cfg.collection:
            roots = _roots(scene, cfg, cfg.name)
            arms = sorted({o.name: o for r in roots for o in [r, *r.children_recursive] if o.type == "ARMATURE"}.items())
            arms = [o for _, o in arms]
            if not arms:
                raise UserError(f"{cfg.name}.collection: collection {cfg.collection!r} holds no armature; "
                                "name a collection with rigged objects")
        else:
            arms = []
            for name in cfg.objects:
                obj = _scene_object(scene, name, f"{cfg.name}.objects")
                if obj.type != "ARMATURE":
                    raise UserError(f"{cfg.name}.objects: object {name!r} is a {obj.type.lower()}, not an armature; "
                                    "name the armature (the rig), not its mesh")
                arms.append(obj)
        self.actions = []
        for name in cfg.actions:
            action = bpy.data.actions.get(name)
            if action is None:
                known = ", ".join(sorted(a.name for a in bpy.data.actions)[:20]) or "none"
                raise UserError(f"{cfg.name}.actions: no action {name!r} in this file (actions: {known}); fix the name")
            self.actions.append(action)
        self.arms = []
        for arm in arms:
            for bone in cfg.bones:
                if bone not in arm.pose.bones:
                    raise UserError(f"{cfg.name}.bones: armature {arm.name!r} has no bone {bone!r}; fix the name")
            own_action = _lift_action(arm, saved)
            bones = [arm.pose.bones[b] for b in cfg.bones] if cfg.bones else list(arm.pose.bones)
            own = []
            for pb in arm.pose.bones:
                for attr in _TRANSFORM:
                    saved.save(pb, attr)
                own.append((pb, {attr: _copy(getattr(pb, attr)) for attr in _TRANSFORM}))
            self.arms.append((arm, own_action, bones, own))

    def apply(self, scene, rng, frame: _Frame) -> None:
        cfg = self.cfg
        for arm, own_action, bones, own in self.arms:
            for pb, values in own:
                if pb.rotation_mode != values["rotation_mode"]:
                    pb.rotation_mode = values["rotation_mode"]
                for attr, value in values.items():
                    if attr != "rotation_mode":
                        setattr(pb, attr, value)
            if self.actions:
                action = rng.choice(self.actions)
                start, end = action.frame_range
                t = cfg.action_frame.sample(rng) if cfg.action_frame is not None else rng.uniform(start, end)
                arm.pose.apply_pose_from_action(action, evaluation_time=t)
                frame.values.setdefault(self.name, {})[arm.name] = [action.name, round(t, 4)]
            elif own_action is not None:  # keep the armature's own animation, with the jitter on top
                arm.pose.apply_pose_from_action(own_action, evaluation_time=scene.frame_current)
            if cfg.rotation is None:
                continue
            axes = (cfg.rotation.x, cfg.rotation.y, cfg.rotation.z)
            for pb in bones:
                angles = []
                for i, r in enumerate(axes):
                    a = math.radians(r.sample(rng)) if r is not None else 0.0
                    axis = "xyz"[i]
                    if getattr(pb, f"use_ik_limit_{axis}", False):
                        a = min(max(a, getattr(pb, f"ik_min_{axis}")), getattr(pb, f"ik_max_{axis}"))
                    angles.append(a)
                q = Euler(angles, "XYZ").to_quaternion()
                mode = pb.rotation_mode
                if mode == "QUATERNION":
                    pb.rotation_quaternion = pb.rotation_quaternion @ q
                elif mode == "AXIS_ANGLE":
                    a = pb.rotation_axis_angle
                    r = Quaternion(Vector(a[1:]), a[0]) @ q
                    axis, angle = r.to_axis_angle()
                    pb.rotation_axis_angle = (angle, *axis)
                else:
                    e = pb.rotation_euler
                    pb.rotation_euler = (e.to_quaternion() @ q).to_euler(mode, e)


def _copy(value):
    return tuple(value) if hasattr(value, "__len__") and not isinstance(value, str) else value


class _Lights(_Part):
    name = "lights"

    def __init__(self, cfg: rc.LightsConfig) -> None:
        self.cfg = cfg
        self.pool = []

    def start(self, scene, saved, images) -> None:
        cfg = self.cfg
        own = [o for o in scene.objects if o.type == "LIGHT"]
        for k in range(int(cfg.count.upper)):
            data = bpy.data.lights.new(f"coco_random_light.{k:02d}", "POINT")
            obj = bpy.data.objects.new(data.name, data)
            scene.collection.objects.link(obj)
            obj.hide_render = True
            self.pool.append((obj, data.name))
        if cfg.replace:
            for o in own:
                saved.set(o, "hide_render", True)

    def apply(self, scene, rng, frame: _Frame) -> None:
        cfg = self.cfg
        n = int(cfg.count.sample(rng))
        target = Vector(cfg.target)
        chosen = []
        for k, (obj, data_name) in enumerate(self.pool):
            if k >= n:
                obj.hide_render = True
                continue
            kind = rng.choice(cfg.types)
            energy = (cfg.sun_strength if kind == "SUN" else cfg.energy).sample(rng)
            color = temperature_rgb(cfg.temperature.sample(rng)) if cfg.temperature is not None else (1.0, 1.0, 1.0)
            direction = _direction(cfg.azimuth.sample(rng), cfg.elevation.sample(rng))
            distance = cfg.distance.sample(rng)
            size = cfg.size.sample(rng)
            data = obj.data
            if data.type != kind:
                data.type = kind
                data = bpy.data.lights[data_name]  # the Python type follows the light type
            data.energy = energy
            data.color = color
            if kind in ("POINT", "SPOT"):
                data.shadow_soft_size = size
            elif kind == "AREA":
                data.size = max(size, 1e-4)
            obj.location = target + direction * distance
            obj.rotation_mode = "QUATERNION"
            obj.rotation_quaternion = (-direction).to_track_quat("-Z", "Y")
            obj.hide_render = False
            chosen.append([kind, round(energy, 3), [round(v, 3) for v in obj.location]])
        frame.values[self.name] = chosen

    def finish(self) -> None:
        for obj, data_name in self.pool:
            try:
                data = obj.data
                bpy.data.objects.remove(obj, do_unlink=True)
                bpy.data.lights.remove(data)
            except ReferenceError:
                pass
        self.pool = []


class _World(_Part):
    name = "world"

    def __init__(self, cfg: rc.WorldConfig) -> None:
        self.cfg = cfg
        self.world = None

    def start(self, scene, saved, images) -> None:
        cfg = self.cfg
        self.images = images
        original = scene.world
        world = original.copy() if original is not None else bpy.data.worlds.new("World")
        world.name = "coco_random_world"
        self.world = world
        if world.node_tree is None:
            world.use_nodes = True
        tree = world.node_tree
        out = next((n for n in tree.nodes if n.type == "OUTPUT_WORLD" and n.is_active_output), None) \
            or next((n for n in tree.nodes if n.type == "OUTPUT_WORLD"), None) or tree.nodes.new("ShaderNodeOutputWorld")
        surface = out.inputs["Surface"]
        bg = surface.links[0].from_node if surface.is_linked else None
        if bg is None or bg.type != "BACKGROUND":
            bg = tree.nodes.new("ShaderNodeBackground")
            tree.links.new(bg.outputs["Background"], surface)
        self.bg = bg
        color = bg.inputs["Color"]
        self.link = color.links[0].from_socket if color.is_linked else None
        own = tuple(color.default_value)[:3] if not color.is_linked else tuple(world.color)
        self.own_hsv = linear_to_hsv(own)
        self.env = None
        self.files = rc.image_files(cfg.images) if cfg.images else []
        if self.files:
            coord = tree.nodes.new("ShaderNodeTexCoord")
            self.mapping = tree.nodes.new("ShaderNodeMapping")
            self.env = tree.nodes.new("ShaderNodeTexEnvironment")
            tree.links.new(coord.outputs["Generated"], self.mapping.inputs["Vector"])
            tree.links.new(self.mapping.outputs["Vector"], self.env.inputs["Vector"])
            settings = getattr(world, "cycles", None)
            if getattr(settings, "sampling_method", None) == "AUTOMATIC":
                # Cycles' automatic importance map of an environment image costs ~1 s per new image on
                # 2 CPU cores (measured, 64x48); a manual 1024 map (Blender's default size) ~0.05 s
                settings.sampling_method = "MANUAL"
                settings.sample_map_resolution = 1024
        saved.set(scene, "world", world)

    def apply(self, scene, rng, frame: _Frame) -> None:
        cfg = self.cfg
        image = None
        if self.files and (cfg.image_probability >= 1 or rng.random() < cfg.image_probability):
            image = rng.choice(self.files)
        rotation = cfg.rotation.sample(rng) if cfg.rotation is not None else 0.0
        strength = cfg.strength.sample(rng) if cfg.strength is not None else None
        h0, s0, v0 = self.own_hsv
        h = cfg.hue.sample(rng) if cfg.hue is not None else h0
        s = cfg.saturation.sample(rng) if cfg.saturation is not None else s0
        v = cfg.value.sample(rng) if cfg.value is not None else v0
        tree = self.world.node_tree
        color = self.bg.inputs["Color"]
        if image is not None:
            self.env.image = self.images.get(image, "world.images")
            frame.images.add(os.path.abspath(image))
            self.mapping.inputs["Rotation"].default_value = (0.0, 0.0, math.radians(rotation))
            tree.links.new(self.env.outputs["Color"], color)
        else:
            if self.env is not None:
                self.env.image = None
            if cfg.colors:
                rgb = hsv_to_linear(h, s, v)
                _relink(tree, color, None)
                color.default_value = (*rgb, 1.0)
                self.world.color = rgb
            else:
                _relink(tree, color, self.link)
        if strength is not None:
            self.bg.inputs["Strength"].default_value = strength
        frame.values[self.name] = {"image": image, "hsv": [round(h, 4), round(s, 4), round(v, 4)],
                                   "strength": strength}

    def finish(self) -> None:
        if self.world is not None:
            try:
                bpy.data.worlds.remove(self.world)
            except ReferenceError:
                pass
            self.world = None


class _Camera(_Part):
    name = "camera"

    def __init__(self, cfg: rc.CameraConfig) -> None:
        self.cfg = cfg

    def start(self, scene, saved, images) -> None:
        cfg = self.cfg
        cam = self.cam = scene_camera(scene)
        self.target_obj = _scene_object(scene, cfg.target_object, "camera.target_object") if cfg.target_object else None
        for attr in _TRANSFORM:
            saved.save(cam, attr)
        self.lens = cfg.focal_length is not None and cam.data.type == "PERSP"
        if cfg.focal_length is not None and not self.lens:
            log.warning("camera.focal_length: camera %r is %s, not perspective; focal length left alone",
                        cam.name, cam.data.type)
        if self.lens:
            saved.save(cam.data, "lens")
        if cfg.aims:
            if _lift_action(cam, saved) is not None:
                log.info("camera %r is animated; its action is lifted for the run", cam.name)
            for con in cam.constraints:
                if not con.mute:
                    saved.set(con, "mute", True)
                    log.info("camera constraint %r is muted for the run (the randomizer aims the camera)", con.name)
        loc, _, scale = cam.matrix_world.decompose()
        self.own_loc, self.scale = loc, scale
        if cfg.aims:
            offset = loc - self._target(scene)
            d = max(offset.length, 1e-9)
            self.own = (d, math.degrees(math.atan2(offset.x, -offset.y)), math.degrees(math.asin(max(-1.0, min(1.0, offset.z / d)))))

    def _target(self, scene) -> Vector:
        if self.target_obj is None:
            return Vector(self.cfg.target)
        return self.target_obj.evaluated_get(evaluated_depsgraph(scene)).matrix_world.translation.copy()

    def apply(self, scene, rng, frame: _Frame) -> None:
        cfg = self.cfg
        values = {}
        if cfg.aims:
            d0, az0, el0 = self.own
            d = cfg.distance.sample(rng) if cfg.distance is not None else d0
            az = cfg.azimuth.sample(rng) if cfg.azimuth is not None else az0
            el = cfg.elevation.sample(rng) if cfg.elevation is not None else el0
            j = cfg.look_at_jitter
            jitter = Vector([rng.uniform(-j, j) for _ in range(3)]) if j > 0 else Vector((0.0, 0.0, 0.0))
            roll = cfg.roll.sample(rng) if cfg.roll is not None else 0.0
            target = self._target(scene)
            pos = target + _direction(az, el) * d if cfg.orbits else self.own_loc
            rot = (target + jitter - pos).to_track_quat("-Z", "Y")
            if roll:
                rot = rot @ Quaternion((0.0, 0.0, 1.0), math.radians(roll))
            self.cam.matrix_world = Matrix.LocRotScale(pos, rot, self.scale)
            values.update(distance=round(d, 4), azimuth=round(az, 4), elevation=round(el, 4), roll=round(roll, 4))
        if cfg.focal_length is not None:
            lens = cfg.focal_length.sample(rng)
            if self.lens:
                self.cam.data.lens = lens
            values["focal_length"] = round(lens, 4)
        frame.values[self.name] = values


# -- the hook --------------------------------------------------------------------


class Randomizer(FrameHook):
    """The frame hook that applies a :class:`~blender_coco.randomize_config.RandomizeConfig`.

    After ``before_frame``, :attr:`values` holds what that frame drew (for tests and
    debugging); the sidecar gets the config itself (``"randomize"``).
    """

    def __init__(self, config: rc.RandomizeConfig) -> None:
        self.config = config
        self._json = config.to_json()
        self.parts: list[_Part] = []
        self.values: dict = {}
        self._saved = _Saved()
        self._images = _Images()

    def _make_parts(self) -> list[_Part]:
        c = self.config
        parts: list[_Part] = [_Objects(g) for g in c.objects]
        parts += [_Armatures(g) for g in c.armatures]
        parts += [_Materials(g) for g in c.materials]
        if c.lights is not None:
            parts.append(_Lights(c.lights))
        if c.world is not None:
            parts.append(_World(c.world))
        if c.camera is not None:
            parts.append(_Camera(c.camera))
        return parts

    def start(self, scene) -> None:
        self.parts = []
        try:
            for part in self._make_parts():
                self.parts.append(part)
                part.start(scene, self._saved, self._images)
        except BaseException:
            self.finish(scene)
            raise

    def before_frame(self, scene, index: int, seed: int) -> None:
        frame = _Frame()
        for part in self.parts:
            part.apply(scene, rc.frame_rng(seed, index, part.name), frame)
        self._images.release(frame.images)
        self.values = frame.values

    def run_record(self, scene, seed: int) -> dict:
        return {"randomize": self._json}

    def finish(self, scene) -> None:
        self._saved.restore()
        for part in reversed(self.parts):
            try:
                part.finish()
            except Exception as exc:  # restoring must go on
                log.warning("randomizer %s failed to clean up: %s", part.name, exc)
        self.parts = []
        self._images.release(set())


def scene_config(scene, python: str | None = None) -> rc.RandomizeConfig | None:
    """The scene's own randomization (custom property ``coco_randomize``: JSON text, or
    the path of a TOML/JSON file, ``//`` relative to the .blend), or None."""
    value = scene.get(rc.SCENE_PROP)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    source = f"scene {scene.name!r} property {rc.SCENE_PROP}"
    if not isinstance(value, str):
        raise UserError(f"{source} must be JSON text or the path of a TOML file, got {value!r}")
    text = value.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"{source} is not valid JSON ({exc.msg} at column {exc.colno}); fix or delete it") from None
        return rc.from_dict(data, source=source, base_dir=os.path.dirname(bpy.data.filepath) or None)
    return rc.load(bpy.path.abspath(text), python=python)


def for_run(randomize: str | None, scene, python: str | None = None) -> Randomizer | None:
    """The randomizer of a run: ``randomize`` (a config file), else the scene's own
    (``coco_randomize``), None with neither or when ``randomize`` is ``"off"``."""
    if randomize == rc.OFF:
        return None
    config = rc.load(randomize, python=python) if randomize else scene_config(scene, python)
    if config is None or config.empty:
        return None
    return Randomizer(config)

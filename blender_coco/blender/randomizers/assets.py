"""Asset libraries for ``[[spawn]]``: load each asset once, copy it per frame, remove the copies.

:class:`Library` holds a group's assets in a private scene (``coco_assets.<group>``,
never rendered), so that their evaluated meshes and boxes are at hand:

- ``collection = "Props"``: the collection's top-level objects (with their
  descendants) are the assets; the collection is linked into the private scene too.
- ``assets = "folder/"``: every file of :func:`~blender_coco.randomize.asset_files`
  is loaded once when the run starts, with Blender's own importers
  (:data:`IMPORTERS`: glTF, OBJ, FBX, PLY, STL; a Blender without one says so in one
  line) or by appending a .blend's objects. A .blend gives one asset per marked
  object (``coco_category``, with its descendants; a marked descendant stays an
  instance of its own), or, with nothing marked, one per top-level object. Any
  other file gives one asset: its only top-level object, or an empty holding them all.

:meth:`Library.copy` makes a copy of an asset's object tree that shares every
mesh (and other data) with the asset; :meth:`Library.remove` deletes it again.
:meth:`Library.finish` removes the private scene and every datablock the loading
created (compared with what existed before), so a run leaves nothing behind.
"""

from __future__ import annotations

import logging
import os

import bpy
from mathutils import Matrix

from blender_coco.blender.marking import CATEGORY_PROP, SPAWNED_PROP, SUPERCATEGORY_PROP, category_of
from blender_coco.blender.randomizers.common import GEOMETRY
from blender_coco.blender.randomizers.placement import local_box
from blender_coco.errors import UserError
from blender_coco.randomize import STEM, asset_files

log = logging.getLogger(__name__)

#: File extension -> Blender's import operators for it, newest first (``module.name`` under ``bpy.ops``).
IMPORTERS = {
    ".glb": ("import_scene.gltf",),
    ".gltf": ("import_scene.gltf",),
    ".obj": ("wm.obj_import", "import_scene.obj"),
    ".fbx": ("import_scene.fbx",),
    ".ply": ("wm.ply_import", "import_mesh.ply"),
    ".stl": ("wm.stl_import", "import_mesh.stl"),
}
#: The kinds of datablocks an import may create (all removed when the run ends).
ID_KINDS = ("objects", "meshes", "materials", "node_groups", "images", "textures", "cameras", "lights", "curves",
            "lattices", "metaballs", "fonts", "armatures", "actions", "particles", "collections", "worlds",
            "grease_pencils", "hair_curves", "pointclouds", "volumes", "libraries")
_COLLECTION_INSTANCE_HINT = ("make it real in its .blend (Object > Apply > Make Instances Real): every copy of a "
                             "collection instance would share one pass index")


def importer(ext: str):
    """The first import operator this Blender has for ``ext``, or None."""
    for path in IMPORTERS.get(ext, ()):
        module, name = path.split(".")
        op = getattr(getattr(bpy.ops, module), name)
        try:
            op.get_rna_type()
        except (KeyError, AttributeError):
            continue
        return op
    return None


def _ids() -> dict[str, set[int]]:
    return {kind: {i.as_pointer() for i in getattr(bpy.data, kind)} for kind in ID_KINDS if hasattr(bpy.data, kind)}


def _tree(root) -> list:
    """``root`` and its descendants, parents before children, siblings by name."""
    out, queue = [], [root]
    while queue:
        obj = queue.pop(0)
        out.append(obj)
        queue.extend(sorted(obj.children, key=lambda o: o.name))
    return out


class Asset:
    """One asset: its ``root`` object and ``tree``, the ``category`` its copies get
    (None: unmarked), its ``name`` (for messages and copy names), its ``stem`` (what
    ``{stem}`` becomes: the file's stem, or the object's name) and, once measured
    (:meth:`measure`), its own rotation and scale, the ``corners`` of its box in the
    root's frame and, for physics, its :class:`~.physics.Hull`."""

    def __init__(self, name: str, root, source: str, stem: str | None = None) -> None:
        self.name, self.root, self.source = name, root, source
        self.stem = stem if stem is not None else name  # what "{stem}" in a category becomes
        self.index = 0  # place in the library
        self.tree = _tree(root)
        self.category: str | None = None
        self.supercategory: str | None = None
        self.matrix = Matrix.Identity(4)
        self.corners = []
        self.hull = None
        self.own_hidden = [o.hide_render for o in self.tree]

    def measure(self, dg) -> None:
        """Read the root's evaluated matrix and the box of the tree's evaluated geometry."""
        self.matrix = self.root.evaluated_get(dg).matrix_world.copy()
        _, rot, scale = self.matrix.decompose()
        self.own_rot, self.own_scale = rot.to_euler("XYZ"), scale
        self.corners = local_box(self.root, self.tree, dg, self.matrix)

    def points(self, dg) -> list:
        """Every vertex of the tree's evaluated meshes in the root's frame."""
        inv = self.matrix.inverted_safe()
        pts = []
        for o in self.tree:
            if o.type not in GEOMETRY:
                continue
            ev = o.evaluated_get(dg)
            m = inv @ ev.matrix_world
            try:
                mesh = ev.to_mesh()
            except RuntimeError:
                continue
            if mesh is not None:
                pts.extend(m @ v.co for v in mesh.vertices)
            ev.to_mesh_clear()
        return pts


class Library:
    """The assets of one ``[[spawn]]`` group (see the module docstring)."""

    def __init__(self, cfg) -> None:
        self.cfg = cfg
        self.before = _ids()
        self.created: dict[str, set[int]] = {}
        self.scene = bpy.data.scenes.new(f"coco_assets.{cfg.name}")
        self.holder = bpy.data.collections.new(f"coco_assets.{cfg.name}")
        self.scene.collection.children.link(self.holder)
        self.assets: list[Asset] = []
        self.linked = None
        self.hidden = []  # originals hidden for the run: (object, was hidden)

    # -- loading -----------------------------------------------------------------

    def load(self, scene, guard) -> None:
        cfg = self.cfg
        if cfg.collection:
            self._from_collection(scene, guard)
        else:
            for path in asset_files(cfg.assets):
                self._from_file(path)
        after = _ids()
        self.created = {kind: after[kind] - self.before.get(kind, set()) for kind in after}
        seen: dict[str, int] = {}
        for index, asset in enumerate(self.assets):  # unique names (two folders may hold a mug.glb each)
            asset.index = index
            seen[asset.name] = seen.get(asset.name, 0) + 1
            if seen[asset.name] > 1:
                asset.name = f"{asset.name}#{seen[asset.name]}"
        layer = self.scene.view_layers[0]
        layer.update()  # makes and evaluates the scene's depsgraph
        dg = layer.depsgraph
        for asset in self.assets:
            asset.measure(dg)
            self._categorize(asset)
        log.info("%s: %d asset(s) from %s", cfg.name, len(self.assets), cfg.collection or cfg.assets)

    def _from_collection(self, scene, guard) -> None:
        cfg = self.cfg
        coll = bpy.data.collections.get(cfg.collection)
        if coll is None:
            names = ", ".join(sorted(c.name for c in bpy.data.collections if not c.name.startswith("coco_"))) or "none"
            raise UserError(f"{cfg.name}.collection: no collection {cfg.collection!r} in this file "
                            f"(collections: {names}); fix the name")
        members = {o.name for o in coll.all_objects}
        tops = sorted((o for o in coll.all_objects if o.parent is None or o.parent.name not in members),
                      key=lambda o: o.name)
        if not tops:
            raise UserError(f"{cfg.name}.collection: collection {cfg.collection!r} holds no objects; add the assets "
                            "to copy to it")
        self.scene.collection.children.link(coll)
        self.linked = coll
        rendered = {o.name for o in scene.objects}
        for top in tops:
            asset = Asset(top.name, top, f"collection {cfg.collection!r}")
            self.assets.append(asset)
            if top.name in rendered:  # the originals are the library: they do not render themselves
                for o in asset.tree:
                    if not o.hide_render:
                        guard.set(o, "hide_render", True)

    def _from_file(self, path: str) -> None:
        cfg = self.cfg
        stem, ext = os.path.splitext(os.path.basename(path))
        ext = ext.lower()
        where = f"{cfg.name}.assets: {path}"
        before = {o.as_pointer() for o in bpy.data.objects}
        if ext == ".blend":
            try:
                with bpy.data.libraries.load(path, link=False) as (src, dst):
                    dst.objects = list(src.objects)
            except (OSError, RuntimeError) as exc:
                raise UserError(f"{where}: cannot read the .blend ({' '.join(str(exc).split())}); fix or remove the "
                                "file") from None
            new = [o for o in bpy.data.objects if o.as_pointer() not in before]
            for o in new:
                self.holder.objects.link(o)
        else:
            op = importer(ext)
            if op is None:
                raise UserError(f"{where}: this Blender ({bpy.app.version_string}) has no importer for {ext} files "
                                f"(bpy.ops.{' or bpy.ops.'.join(IMPORTERS[ext])}); convert the file to .glb or .obj "
                                "or enable the importer add-on")
            layer = self.scene.view_layers[0]
            layer.active_layer_collection = layer.layer_collection.children[self.holder.name]
            try:
                with bpy.context.temp_override(scene=self.scene, view_layer=layer, collection=self.holder):
                    result = op(filepath=path)
            except RuntimeError as exc:  # the last line says why (an add-on's traceback comes before it)
                lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
                raise UserError(f"{where}: Blender {bpy.app.version_string} cannot import it "
                                f"({lines[-1] if lines else 'no reason given'}); fix or convert the file") from None
            if "FINISHED" not in result:
                raise UserError(f"{where}: Blender's importer gave up on it ({', '.join(result)}); fix or remove the file")
            new = [o for o in bpy.data.objects if o.as_pointer() not in before]
            for o in new:  # an importer may link to the scene's own collection: keep them together
                if self.holder not in o.users_collection:
                    self.holder.objects.link(o)
                for c in list(o.users_collection):
                    if c != self.holder:
                        c.objects.unlink(o)
        self._assets_of_file(path, stem, ext, new)

    def _assets_of_file(self, path: str, stem: str, ext: str, new: list) -> None:
        cfg = self.cfg
        where = f"{cfg.name}.assets: {path}"
        drop = [o for o in new if o.type in ("CAMERA", "LIGHT", "LIGHT_PROBE", "SPEAKER")]
        for o in drop:
            new.remove(o)
            bpy.data.objects.remove(o)
        if not any(o.type in GEOMETRY for o in new):
            raise UserError(f"{where}: the file holds no mesh to copy; fix or remove the file")
        names = {o.name for o in new}
        tops = sorted((o for o in new if o.parent is None or o.parent.name not in names), key=lambda o: o.name)
        if ext == ".blend":
            marked = [o for o in new if category_of(o) is not None]
            roots = [o for o in marked if not any(category_of(a) is not None for a in _ancestors(o))]
            for root in sorted(roots or tops, key=lambda o: o.name):
                self.assets.append(Asset(stem if len(roots or tops) == 1 else root.name, root, path, stem))
            return
        if len(tops) == 1:
            root = tops[0]
        else:
            root = bpy.data.objects.new(f"coco_asset.{stem}", None)
            self.holder.objects.link(root)
            for o in tops:
                mw = o.matrix_world.copy()
                o.parent = root
                o.matrix_parent_inverse = Matrix.Identity(4)
                o.matrix_world = mw
        self.assets.append(Asset(stem, root, path))

    def _categorize(self, asset: Asset) -> None:
        cfg = self.cfg
        for o in asset.tree:
            if o.instance_type == "COLLECTION" and o.instance_collection is not None:
                raise UserError(f"{cfg.name}: asset {asset.name!r} ({asset.source}) holds the collection instance "
                                f"{o.name!r}; {_COLLECTION_INSTANCE_HINT}")
        if cfg.distractor:
            return
        if cfg.category is not None:
            asset.category = cfg.category.replace(STEM, asset.stem)
            asset.supercategory = cfg.supercategory
        else:
            asset.category = category_of(asset.root)
            asset.supercategory = asset.root.get(SUPERCATEGORY_PROP) if asset.category else None
        if asset.category is None:
            raise UserError(f"{cfg.name}: asset {asset.name!r} ({asset.source}) has no {CATEGORY_PROP}; set "
                            f"category = \"name\" (or \"{STEM}\" for the file name) on the group, mark the "
                            "object in its .blend, or set distractor = true")

    # -- copies ------------------------------------------------------------------

    def copy(self, asset: Asset, name: str, collection):
        """A copy of ``asset``'s tree named ``name`` (children ``name:child``), linked to
        ``collection``, sharing the asset's data; returns its objects, root first."""
        copies = {}
        for o in asset.tree:
            c = o.copy()
            c.name = name if o is asset.root else f"{name}:{o.name}"[:63]
            c[SPAWNED_PROP] = True
            copies[o.name] = c
        for o, hidden in zip(asset.tree, asset.own_hidden):
            c = copies[o.name]
            if o.parent is not None and o.parent.name in copies:
                c.parent = copies[o.parent.name]
            _remap(c, copies)
            c.hide_render = hidden
            if CATEGORY_PROP in c and (self.cfg.distractor or o is asset.root):
                del c[CATEGORY_PROP]
            if SUPERCATEGORY_PROP in c and (self.cfg.distractor or o is asset.root):
                del c[SUPERCATEGORY_PROP]
            collection.objects.link(c)
        root = copies[asset.root.name]
        root.parent = None
        if root.animation_data is not None:
            root.animation_data_clear()  # its own animation would win over the pose given here
        if asset.category is not None:
            root[CATEGORY_PROP] = asset.category
            if asset.supercategory:
                root[SUPERCATEGORY_PROP] = asset.supercategory
        return [copies[o.name] for o in asset.tree]

    @staticmethod
    def remove(objects) -> None:
        for obj in objects:
            try:
                bpy.data.objects.remove(obj)
            except ReferenceError:
                pass

    # -- end ---------------------------------------------------------------------

    def finish(self) -> None:
        if self.linked is not None:
            try:
                self.scene.collection.children.unlink(self.linked)
            except (ReferenceError, RuntimeError):
                pass
        try:
            bpy.data.scenes.remove(self.scene)
        except ReferenceError:
            pass
        if not self.created:  # loading stopped half-way (a bad file): all it made is new since then
            now = _ids()
            self.created = {kind: now[kind] - self.before.get(kind, set()) for kind in now}
        for kind in ID_KINDS:  # what loading created; objects first: they use the rest
            data = getattr(bpy.data, kind, None)
            if data is None:
                continue
            made = self.created.get(kind, set())
            for item in [i for i in data if i.as_pointer() in made]:
                try:
                    data.remove(item)
                except (ReferenceError, RuntimeError):
                    pass
        self.assets = []
        self.created = {}


def _ancestors(obj):
    obj = obj.parent
    while obj is not None:
        yield obj
        obj = obj.parent


def _remap(copy, copies: dict) -> None:
    """Point the copy's modifiers and constraints at the copies of objects of its own tree."""
    for owner in list(copy.modifiers) + list(copy.constraints):
        for prop in owner.bl_rna.properties:
            if prop.type == "POINTER" and getattr(prop, "fixed_type", None) is not None \
                    and prop.fixed_type.identifier == "Object" and not prop.is_readonly:
                target = getattr(owner, prop.identifier)
                if target is not None and target.name in copies:
                    setattr(owner, prop.identifier, copies[target.name])

"""Realized geometry-node instances: one annotation per copy, although Realize Instances made one mesh.

::

    prepare(objects, guard) -> Realizing            once per run: tag the copies before each Realize Instances
        .warnings                                    what still cannot be split (one line each)
        .objects                                     the objects whose realized copies are told apart
    frame_pieces(realizing, scene, view_layer, indices, first_label, where) -> Pieces
        .instances   [CopyInstance] one per annotated copy (instancer, source, instance_index)
        .copies      {Cryptomatte name: [(id uint32, label, x, y)]}: extends the coverage table
        .labels      {object key: {piece: label}}: which triangles draw which label (amodal masks)
        .gate        objects that must write the instance-id AOV (nonzero pass index)
    merge(copies, pieces)                            add them to the frame's instancing.Copies
    PIECE, PIECE_ID, OWN_ID                          the attribute names (the AOV reads PIECE_ID), own id

Why (measured on Blender 5.0 and 3.4, docs/records.md "Realized instances"): a Store
Named Attribute node on the instance domain, put before a Realize Instances node's
Geometry input, is carried by the realize onto every point of each copy. For the run,
each such node gets two: ``blender_coco_piece`` = instance index + 1 (0: geometry that
never was an instance) and ``blender_coco_id`` = Random Value (0.25..1) of the index;
two more right after it move both to the faces (a Merge by Distance welding touching
copies keeps face tags apart, not point tags), and the end of the modifier's tree gives
the mesh's own faces ``blender_coco_id`` = OWN_ID. The instance-id AOV writes
``blender_coco_id`` where it is nonzero instead of Object Info > Random
(:mod:`blender_coco.blender.coverage_passes`), so the Cryptomatte name of the realized object, like a geometry-nodes instancer's, is split per copy by the coverage
table's ``copies`` (records/coverage.py, unchanged). Nothing reads the attributes in the
surface shading, so the RGB is the same. Which object each copy copies is read from a
probe evaluation with the tagged Realize Instances nodes muted (the instances' order is
the instance index on 3.x; each instance's tag through ``GeometrySet`` on 4.3+), once per
frame, and the nodes are put back at once; user nodes after the realize are left as
they are. The nodes come out when the run ends.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

import bpy

from blender_coco.blender import marking
from blender_coco.blender.instancing import MAX_LABELS, CopyInstance, copy_path, gn_source
from blender_coco.blender.scene_info import evaluated_depsgraph, group_nodes
from blender_coco.errors import UserError

PIECE = "blender_coco_piece"
PIECE_ID = "blender_coco_id"
_LABEL = "blender-coco realized copy (removed after the run)"
_SEED = 7919
_RUN = 1 << 16  # each tagged Realize Instances node's tags: RUN * its number + instance index + 1
#: the id of a realizing object's own geometry (never an instance); a copy's id lies in [0.25, 1)
OWN_ID = 0.125


@dataclass
class Realizing:
    objects: list = field(default_factory=list)  # objects whose realized copies carry PIECE
    nodes: list = field(default_factory=list)  # (tree, node name): tagged Realize Instances nodes, stores after them
    runs: dict = field(default_factory=dict)  # object key -> numbers of its tagged Realize Instances nodes
    warnings: list[str] = field(default_factory=list)


@dataclass
class Pieces:
    instances: list = field(default_factory=list)
    copies: dict = field(default_factory=dict)
    labels: dict = field(default_factory=dict)
    gate: list = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _realize_nodes(tree) -> list:
    """(tree, Realize Instances node) in ``tree`` and its nested groups (each tree once)."""
    return [(t, node) for t, node in group_nodes(tree) if node.bl_idname == "GeometryNodeRealizeInstances"]


def _value_input(node, kind: str = "VALUE", name: str | None = None):
    """The enabled input of ``kind`` (and ``name``): 3.4 has one socket per data type, 5.0 one."""
    for socket in node.inputs:
        if socket.type == kind and socket.enabled and (name is None or socket.name == name):
            return socket
    raise RuntimeError(f"no {kind} input {name or ''} on node {node.bl_idname}")


def _store(tree, name: str, value_socket, domain: str = "INSTANCE"):
    store = tree.nodes.new("GeometryNodeStoreNamedAttribute")
    store.data_type, store.domain = "FLOAT", domain
    store.inputs["Name"].default_value = name
    tree.links.new(value_socket, _value_input(store))
    return store


def _tag(tree, realize, number: int):
    """Put the two Store Named Attribute nodes before ``realize``'s Geometry input and two after it
    (the names of these, which the probe mutes with the realize); None when the input is unlinked.
    ``number`` keeps the tags of each tagged node apart (``blender_coco_piece`` = RUN * number +
    index + 1, the id's seed).
    Copies a Selection or Depth leaves unrealized keep the tags on the instance domain,
    which the shader's Attribute node does not read there (measured on 5.0: they write their
    Object Info > Random as before)."""
    geometry = realize.inputs[0]
    if not geometry.is_linked:
        return None
    upstream = geometry.links[0].from_socket
    index = tree.nodes.new("GeometryNodeInputIndex")
    plus = tree.nodes.new("ShaderNodeMath")
    plus.operation = "ADD"
    plus.inputs[1].default_value = float(_RUN * number + 1)
    tree.links.new(index.outputs[0], plus.inputs[0])
    rand = tree.nodes.new("FunctionNodeRandomValue")
    rand.data_type = "FLOAT"
    _value_input(rand, name="Min").default_value = 0.25
    _value_input(rand, name="Max").default_value = 1.0
    _value_input(rand, "INT", "Seed").default_value = _SEED + number
    tree.links.new(index.outputs[0], _value_input(rand, "INT", "ID"))
    first, second = _store(tree, PIECE, plus.outputs[0]), _store(tree, PIECE_ID, _float_output(rand))
    tree.links.new(upstream, first.inputs[0])
    tree.links.new(first.outputs[0], second.inputs[0])
    tree.links.new(second.outputs[0], geometry)
    made = [index, plus, rand, first, second]
    # right after the realize, move both tags from the points to the faces: a face keeps its own
    # tag through what follows (Merge by Distance welds points of touching copies: measured)
    after = []
    if realize.outputs[0].is_linked:
        for name in (PIECE, PIECE_ID):
            read = tree.nodes.new("GeometryNodeInputNamedAttribute")
            read.data_type = "FLOAT"
            read.inputs["Name"].default_value = name
            store = _store(tree, name, _float_output(read), "FACE")
            made += [read, store]
            after.append(store.name)
        first_after, last_after = made[-3], made[-1]
        _relink(tree, realize.outputs[0], last_after.outputs[0])
        tree.links.new(realize.outputs[0], first_after.inputs[0])
        tree.links.new(first_after.outputs[0], last_after.inputs[0])
    for node in made:
        node.label = _LABEL
        node.location = (realize.location[0] - 300, realize.location[1] - 300)
    return after


def _relink(tree, old, new) -> None:
    """Let ``new`` feed every socket ``old`` feeds, in ``old``'s place: a multi-input socket (Join
    Geometry) keeps its inputs' order, so the joined geometry's order is unchanged."""
    for link in list(old.links):
        socket = link.to_socket
        if not getattr(socket, "is_multi_input", False):
            tree.links.new(new, socket)
            continue
        froms = [l.from_socket for l in sorted(socket.links, key=_sort_id)]
        for other in list(socket.links):
            tree.links.remove(other)
        for src in froms:
            tree.links.new(new if src == old else src, socket)


def _sort_id(link) -> int:
    return getattr(link, "multi_input_sort_id", 0)


def _float_output(node):
    return next(s for s in node.outputs if s.type == "VALUE" and s.enabled)


def _tag_output(tree) -> bool:
    """At the end of the modifier's tree, give the mesh geometry that never was an instance the id
    OWN_ID (``max(id, OWN_ID)``: a copy's id is at least 0.25), so that it writes a known AOV value.

    Only the mesh component is tagged (Separate Components, then Join Geometry): on 5.0 a Store
    Named Attribute also writes into the geometry of what is still an instance (measured)."""
    out = next((n for n in tree.nodes if n.bl_idname == "NodeGroupOutput" and n.is_active_output), None)
    geometry = next((s for s in out.inputs if s.type == "GEOMETRY"), None) if out is not None else None
    if geometry is None or not geometry.is_linked:
        return False
    upstream = geometry.links[0].from_socket
    split = tree.nodes.new("GeometryNodeSeparateComponents")
    join = tree.nodes.new("GeometryNodeJoinGeometry")
    read = tree.nodes.new("GeometryNodeInputNamedAttribute")
    read.data_type = "FLOAT"
    read.inputs["Name"].default_value = PIECE_ID
    floor = tree.nodes.new("ShaderNodeMath")
    floor.operation = "MAXIMUM"
    floor.inputs[1].default_value = OWN_ID
    tree.links.new(_float_output(read), floor.inputs[0])
    store = _store(tree, PIECE_ID, floor.outputs[0], "FACE")
    tree.links.new(upstream, split.inputs[0])
    tree.links.new(split.outputs["Mesh"], store.inputs[0])
    tree.links.new(store.outputs[0], join.inputs[0])
    for socket in split.outputs:
        if socket.name != "Mesh" and socket.type == "GEOMETRY" and socket.enabled:
            tree.links.new(socket, join.inputs[0])
    tree.links.new(join.outputs[0], geometry)
    for node in (split, join, read, floor, store):
        node.label = _LABEL
        node.location = (out.location[0] - 300, out.location[1] - 300)
    return True


def _untag(trees) -> None:
    """Take the tagging nodes out and link what fed each chain of them to what it fed."""
    for tree in trees:
        tagged = [n for n in tree.nodes if n.label == _LABEL]
        for head in tagged:
            if head.bl_idname not in ("GeometryNodeStoreNamedAttribute", "GeometryNodeSeparateComponents") \
                    or not head.inputs[0].is_linked:
                continue
            src = head.inputs[0].links[0].from_socket
            if src.node.label == _LABEL:
                continue
            last = head
            while True:
                nxt = [link.to_node for out in last.outputs for link in out.links if link.to_node.label == _LABEL
                       and link.to_node.bl_idname in ("GeometryNodeStoreNamedAttribute", "GeometryNodeJoinGeometry")]
                if not nxt:
                    break
                last = nxt[0]
            _relink(tree, last.outputs[0], src)
        for node in tagged:
            tree.nodes.remove(node)


def _realizing_trees(tree):
    """(realizes instances, objects referenced by Object/Collection Info) of a node tree and its groups."""
    realizes, sources = False, []
    for _, node in group_nodes(tree):
        if node.bl_idname == "GeometryNodeRealizeInstances":
            realizes = True
        elif node.bl_idname == "GeometryNodeObjectInfo" and node.inputs[0].default_value is not None:
            sources.append(node.inputs[0].default_value)
        elif node.bl_idname == "GeometryNodeCollectionInfo" and node.inputs[0].default_value is not None:
            sources.extend(node.inputs[0].default_value.all_objects)
    return realizes, sources


def _modifier_objects(mod) -> list:
    """Objects and collections' objects given to a geometry-nodes modifier as inputs."""
    out = []
    for key in mod.keys():
        try:
            value = mod[key]
        except KeyError:
            continue
        if isinstance(value, bpy.types.Object):
            out.append(value)
        elif isinstance(value, bpy.types.Collection):
            out.extend(value.all_objects)
    return out


def _cannot_split(obj, why: str) -> list[str]:
    """One message per geometry-nodes modifier of ``obj`` that realizes copies which may be annotated."""
    out = []
    for mod in obj.modifiers:
        if mod.type != "NODES" or mod.node_group is None:
            continue
        realizes, sources = _realizing_trees(mod.node_group)
        marked = sorted({o.name for o in sources + _modifier_objects(mod) if marking.instance_of(o) is not None})
        if realizes and (marked or marking.instance_of(obj) is not None):
            what = f"copies of marked {', '.join(repr(n) for n in marked)}" if marked else "its copies"
            out.append(f"object {obj.name!r} realizes instances in geometry nodes ({mod.name!r}) and {why}: {what} "
                       f"are one mesh, annotated as one instance of {obj.name!r} or not at all; remove the Realize "
                       f"Instances node to annotate each copy")
    return out


def _maybe_annotated(obj) -> bool:
    """The object realizes instances in geometry nodes and is marked or copies something marked."""
    for mod in obj.modifiers:
        if mod.type != "NODES" or mod.node_group is None:
            continue
        realizes, sources = _realizing_trees(mod.node_group)
        if realizes and (marking.instance_of(obj) is not None
                         or any(marking.instance_of(o) is not None for o in sources + _modifier_objects(mod))
                         or _linked_info(mod.node_group)):
            return True
    return False


def _linked_info(tree) -> bool:
    """Whether an Object Info or Collection Info node in ``tree`` or its groups gets its object from
    a link (a group input, a switch): which objects it copies is known only when evaluated."""
    return any(node.bl_idname in ("GeometryNodeObjectInfo", "GeometryNodeCollectionInfo") and node.inputs[0].is_linked
               for _, node in group_nodes(tree))


def prepare(objects, guard) -> Realizing:
    """Tag the Realize Instances nodes of the rendered ``objects`` whose copies may be annotated
    (the object is marked, or its nodes reference a marked object or take objects as inputs)."""
    out = Realizing()
    trees: dict[int, object] = {}
    done: set[tuple] = set()
    numbers: dict[tuple, int] = {}
    for obj in sorted(objects, key=lambda o: o.name):
        if not _maybe_annotated(obj):
            continue
        if obj.type != "MESH":
            out.warnings.extend(_cannot_split(obj, f"is a {obj.type.lower()} object (only meshes are split)"))
            continue
        tagged = False
        for mod in obj.modifiers:
            if mod.type != "NODES" or mod.node_group is None:
                continue
            top = mod.node_group
            here = False
            for tree, realize in _realize_nodes(top):
                key = (tree.as_pointer(), realize.name)
                if key not in done:
                    after = _tag(tree, realize, len(numbers))
                    if after is None:
                        continue
                    done.add(key)
                    numbers[key] = len(numbers)
                    trees[tree.as_pointer()] = tree
                    out.nodes.extend((tree, name) for name in (realize.name, *after))
                out.runs.setdefault(marking.object_key(obj), []).append(numbers[key])
                tagged = here = True
            if here and ("out", top.as_pointer()) not in done and _tag_output(top):
                done.add(("out", top.as_pointer()))
                trees[top.as_pointer()] = top
        if tagged:
            out.objects.append(obj)
        else:
            out.warnings.extend(_cannot_split(obj, "no Realize Instances node has its Geometry input linked"))
    if trees:
        guard.on_restore(lambda: _untag(list(trees.values())))
    return out


def _probe(realizing: Realizing, scene, view_layer) -> tuple[dict[str, dict[int, list]], list[str]]:
    """({object key: {copy tag: [source objects]}}, warnings) with the tagged realize nodes muted."""
    muted = []
    found: dict[str, dict[int, list]] = {}
    warnings: list[str] = []
    keys = {marking.object_key(o) for o in realizing.objects}
    meshes: dict = {}
    try:
        for tree, name in realizing.nodes:
            node = tree.nodes.get(name)
            if node is not None and not node.mute:
                node.mute = True
                muted.append(node)
        depsgraph = evaluated_depsgraph(scene, view_layer)
        if hasattr(bpy.types, "GeometrySet"):  # 4.3+: each instance's tag and reference, in any order
            for obj in realizing.objects:
                found[marking.object_key(obj)], twice = _tagged_references(obj.evaluated_get(depsgraph))
                if twice:
                    warnings.append(f"object {obj.name!r}: a node group with Realize Instances runs more than once in "
                                    f"its geometry nodes, so copies from different runs share tags and are annotated "
                                    f"together; realize once, after joining the runs' instances")
            return found, warnings
        single = {k: v[0] for k, v in realizing.runs.items() if len(set(v)) == 1}
        for key in sorted(keys - set(single)):
            warnings.append(f"object {key!r} has several Realize Instances nodes: before Blender 4.3 its realized copies "
                            f"cannot be traced to the objects they copy, so only its own mark applies to them "
                            f"(Blender 4.3 or newer traces them)")
        for inst in depsgraph.object_instances:  # 3.x: the instances' order is the instance index
            if not inst.is_instance or inst.parent is None:
                continue
            top = marking.object_key(inst.parent.original)
            if top not in keys:
                continue
            pid = copy_path(inst)[1]
            obj = inst.object
            if obj.original == inst.parent.original:  # a geometry-nodes copy: the source's mesh
                source = gn_source(obj, meshes)
            else:
                source = obj.original
            if top in single:
                found.setdefault(top, {}).setdefault(_RUN * single[top] + pid[-1] + 1, []).append(source)
    finally:
        for node in muted:
            node.mute = False
    return found, warnings


def _tagged_references(obj_eval) -> tuple[dict[int, list], bool]:
    """({copy tag: [source objects]}, whether a tag is on two instances) of an evaluated object's
    instances (Blender 4.3+: their ``blender_coco_piece`` attribute and reference, read through
    ``GeometrySet``)."""
    geometry = bpy.types.GeometrySet.from_evaluated_object(obj_eval)
    cloud = geometry.instances_pointcloud()
    if cloud is None:
        return {}, False
    refs = geometry.instance_references()
    tag, which = cloud.attributes.get(PIECE), cloud.attributes.get(".reference_index")
    if tag is None or which is None:
        return {}, False
    n = len(tag.data)
    tags, ref_index = [0.0] * n, [0] * n
    tag.data.foreach_get("value", tags)
    which.data.foreach_get("value", ref_index)
    sources = []
    for ref in refs:
        if isinstance(ref, bpy.types.Object):
            sources.append([ref.original])
        elif isinstance(ref, bpy.types.Collection):
            sources.append(sorted(ref.original.all_objects, key=lambda o: o.name))
        else:  # a geometry set: Object Info names it after its object
            obj = bpy.data.objects.get(getattr(ref, "name", "") or "")
            sources.append([obj] if obj is not None else [])
    out: dict[int, list] = {}
    twice = False
    for k, r in zip(tags, ref_index):
        if k > 0 and 0 <= r < len(sources):
            twice = twice or int(round(k)) in out
            out.setdefault(int(round(k)), []).extend(sources[r])
    return out, twice


def _face_sums(piece_attr, id_attr, polygons, n: int) -> dict[int, list]:
    """{piece: [id, sum x, sum y, sum z, faces]} over the faces of each tagged copy."""
    if importlib.util.find_spec("numpy") is not None:  # a realized scatter of detailed copies: millions of faces
        import numpy as np

        pieces, ids, co = np.empty(n, np.float32), np.empty(n, np.float32), np.empty(3 * n, np.float64)
        piece_attr.data.foreach_get("value", pieces)
        id_attr.data.foreach_get("value", ids)
        polygons.foreach_get("center", co)
        k = np.rint(pieces).astype(np.int64)
        sel = np.flatnonzero(k > 0)
        if sel.size == 0:
            return {}
        keys, first, inv = np.unique(k[sel], return_index=True, return_inverse=True)
        xyz = co.reshape(-1, 3)[sel]
        counts = np.bincount(inv)
        sx, sy, sz = (np.bincount(inv, weights=xyz[:, j]) for j in range(3))
        return {int(key): [float(ids[sel[f]]), float(x), float(y), float(z), int(c)]
                for key, f, x, y, z, c in zip(keys, first, sx, sy, sz, counts)}
    pieces, ids, co = [0.0] * n, [0.0] * n, [0.0] * (3 * n)
    piece_attr.data.foreach_get("value", pieces)
    id_attr.data.foreach_get("value", ids)
    polygons.foreach_get("center", co)
    sums: dict[int, list] = {}
    for i, p in enumerate(pieces):
        k = int(round(p))
        if k <= 0:
            continue
        s = sums.get(k)
        if s is None:
            s = sums[k] = [ids[i], 0.0, 0.0, 0.0, 0]
        s[1] += co[3 * i]
        s[2] += co[3 * i + 1]
        s[3] += co[3 * i + 2]
        s[4] += 1
    return sums


def _mesh_pieces(obj_eval, where):
    """{piece: (id float, x, y)} of an evaluated realized mesh (x, y: the pixel of the mean of its
    faces' centres); None when no face carries a copy's tag."""
    from mathutils import Vector

    mesh = obj_eval.data
    attrs = getattr(mesh, "attributes", None)
    piece_attr = attrs.get(PIECE) if attrs is not None else None
    id_attr = attrs.get(PIECE_ID) if attrs is not None else None
    if piece_attr is None or id_attr is None or piece_attr.domain != "FACE" or id_attr.domain != "FACE":
        return None
    n = len(mesh.polygons)
    sums = _face_sums(piece_attr, id_attr, mesh.polygons, n)
    if not sums and n:
        return None  # tags lost on the way (e.g. Convex Hull keeps the attribute, all 0)
    m = obj_eval.matrix_world
    out = {}
    for k, (value, x, y, z, count) in sums.items():
        px, py = where(m @ Vector((x / count, y / count, z / count)))
        out[k] = (value, px, py)
    return out


def frame_pieces(realizing: Realizing, scene, view_layer, indices: dict, first_label: int, where) -> Pieces:
    """Label each realized copy of this frame by the marking contract (nearest mark first: the
    copied object's mark, else the realizing object's), from ``first_label`` on."""
    out = Pieces()
    if not realizing.objects:
        return out
    depsgraph = evaluated_depsgraph(scene, view_layer)
    meshes = {}
    for obj in realizing.objects:
        found = _mesh_pieces(obj.evaluated_get(depsgraph), where)
        if found is None:
            out.warnings.extend(_cannot_split(obj, f"the copies' tags ({PIECE!r}) do not reach its evaluated mesh (a node "
                                                   f"after Realize Instances drops or resets attributes, e.g. Convex Hull)"))
        elif found:
            meshes[marking.object_key(obj)] = (obj, found)
    if not meshes:
        return out
    sources, warnings = _probe(realizing, scene, view_layer)
    out.warnings.extend(warnings)
    evaluated_depsgraph(scene, view_layer)  # the frame as it renders again
    label = first_label
    for key, (obj, found) in sorted(meshes.items()):
        own = marking.instance_of(obj)
        of_object = sources.get(key, {})
        labels = {}
        # the object's own geometry (never an instance) writes OWN_ID: its own label
        x, y = where(obj.evaluated_get(depsgraph).matrix_world.translation)
        rows = [(_as_uint32(OWN_ID), indices.get(key, 0), round(x, 1), round(y, 1))]
        for k in sorted(found):
            value, x, y = found[k]
            srcs = of_object.get(k, [])
            source = next((s for s in srcs if s is not None and marking.instance_of(s) is not None),
                          next((s for s in srcs if s is not None), None))
            owner = marking.instance_of(source) if source is not None else None
            owner = owner or own
            this = 0
            if owner is not None:
                this = label
                label += 1
                if this > MAX_LABELS:
                    raise UserError(f"this frame has more than {MAX_LABELS} instances (object {obj.name!r} and others); "
                                    f"blender-coco labels at most {MAX_LABELS} per frame: scatter fewer copies")
                out.instances.append(CopyInstance(
                    label=this, category=marking.category_of(owner), object=marking.object_key(owner),
                    instancer=key, source=None if source is None else marking.object_key(source), index=(k - 1) % _RUN,
                    supercategory=marking.supercategory_of(owner)))
                labels[k] = this
            rows.append((_as_uint32(value), this, round(x, 1), round(y, 1)))
        if labels:
            out.copies[obj.name] = rows
            out.labels[key] = labels
            out.gate.append(obj)
    return out


def merge(copies, pieces: Pieces) -> None:
    """Add a frame's realized copies to its :class:`~blender_coco.blender.instancing.Copies`."""
    from dataclasses import replace

    copies.instances.extend(pieces.instances)
    copies.gate.extend(pieces.gate)
    copies.warnings.extend(pieces.warnings)
    if pieces.copies:
        table = dict(copies.coverage.copies)
        for name, rows in pieces.copies.items():
            table[name] = tuple(sorted(set(table.get(name, ())) | set(rows)))
        copies.coverage = replace(copies.coverage, copies=table)


def _as_uint32(value: float) -> int:
    """The id as the coverage table stores it: round(value * 2**32) (value < 1)."""
    return min(int(round(value * 2.0 ** 32)), 2 ** 32 - 1)

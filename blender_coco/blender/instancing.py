"""Every copy an instance: label the copies that instancing makes, per frame.

::

    frame_copies(depsgraph, indices, first_label, where=None) -> Copies
        .instances   [CopyInstance(label, category, object, instancer, source, index, supercategory)]
        .coverage    Coverage: Cryptomatte name -> label, and per-copy random ids (records.coverage)
        .gate        objects whose pass index must be nonzero so their copies write the AOV
        .warnings    copies told apart by position only (their source has no material)
        .labels      {(top instancer key, persistent_id path): label}: which copy drew which label
        .ambiguous   {Cryptomatte name: [object keys]}: annotated objects whose name another shares
                     (linked from two libraries); Cryptomatte cannot tell them apart
        .poses       {label: (matrix_world, {bone: (head, tail)})}: copies of a marked keypoint armature
                     (blender/copy_keypoints.py projects them)
    copy_path(depsgraph_instance) -> key of .labels
    gn_source(instancer, cache) -> the object a geometry-nodes copy copies (marked first)

Collection instances, geometry-node instances and particles appear in
``depsgraph.object_instances``: each copy with its top-level instancer (``parent``), a
``persistent_id`` path (deepest index first) and a ``random_id``. Measured on Blender
5.0 and 3.4: a collection or particle copy carries its source object as ``object``; a
geometry-nodes copy carries the instancer as ``object`` and the source's mesh as
``object.data``; Cryptomatte hashes ``object.name`` for every copy.

The marking contract (docs/records.md "Instances"), nearest mark first:

1. the copied object or its parent inside the instanced collection is marked: each
   copy of that marked object is an instance of its category (a collection copy and
   its children together);
2. else an instancer on the way down (a collection instance inside an instanced
   collection) is marked: each of its copies is one instance;
3. else the top instancer (or its nearest marked ancestor) is marked: an empty that
   instances a collection is ONE instance (the marked object's own label); a
   geometry-nodes or particle instancer makes each point or particle an instance of
   its category.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import bpy

from blender_coco.blender import marking
from blender_coco.errors import UserError
from blender_coco.records.coverage import Coverage

MAX_LABELS = 65535  # the label mask is uint16; 0 is the background
_END = 2 ** 31 - 1  # persistent_id entries past the path


@dataclass(frozen=True)
class CopyInstance:
    label: int
    category: str
    object: str  # the marked object whose copy this is (or the marked instancer)
    instancer: str
    source: str | None
    index: int
    supercategory: str | None = None
    color: tuple | None = None


@dataclass
class Copies:
    instances: list[CopyInstance] = field(default_factory=list)
    coverage: Coverage = field(default_factory=Coverage)
    gate: list = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: (top instancer's object_key, persistent_id path) -> label of every labelled copy (amodal masks)
    labels: dict[tuple, int] = field(default_factory=dict)
    #: Cryptomatte names that two rendered objects share (linked from two libraries), one of them annotated
    ambiguous: dict[str, list[str]] = field(default_factory=dict)
    #: label -> (world matrix, evaluated pose {bone: (head, tail)}) of each copied marked keypoint armature
    poses: dict[int, tuple] = field(default_factory=dict)


def _path(inst) -> tuple:
    return tuple(v for v in inst.persistent_id if v != _END)


def copy_path(inst) -> tuple:
    """A depsgraph copy's key in :attr:`Copies.labels`: its top instancer and persistent_id path."""
    return (marking.object_key(inst.parent.original), _path(inst))


def gn_source(obj, cache: dict):
    """The object a geometry-nodes copy ``obj`` (the instancer, carrying the source's mesh) copies:
    the marked user of that mesh first, else its first user by name, else None. ``cache``: a dict
    kept for one frame (mesh name -> its users; a copy's mesh is a temporary copy bearing the
    source mesh's name)."""
    if obj.data is None:
        return None
    by_mesh = cache.get("by_mesh")
    if by_mesh is None:
        by_mesh = cache["by_mesh"] = {}
        for user in sorted(bpy.data.objects, key=lambda o: o.name):
            if user.data is not None:
                by_mesh.setdefault(user.data.name, []).append(user)
    candidates = by_mesh.get(obj.data.name, [])
    marked = [o for o in candidates if marking.instance_of(o) is not None]
    return (marked or candidates or [None])[0]


def frame_copies(depsgraph, indices: dict[str, int], first_label: int, where=None, objects=()) -> Copies:
    """Label every copy in ``depsgraph`` (see the module docstring).

    ``indices``: object name -> label of the real objects (marking.pass_indices);
    copies that form new instances get labels from ``first_label`` on. ``where(point)``
    gives a world point's pixel position (x, y): each copy's origin is recorded, to
    tell apart copies whose random ids are equal in float32. ``objects``: the real objects
    the frame renders; they are listed by name even when the (viewport) depsgraph leaves
    them out (hidden in the viewport only, yet rendered).
    """
    meshes: dict = {}
    rows = []  # (crypto name, random, top instancer, pid, source object, gn, particle, origin pixel, pose)
    bones: dict[int, dict] = {}  # evaluated armature -> its pose, read once per frame
    path_objects: dict[tuple, object] = {}
    real: dict[str, int] = {}
    out = Copies()
    seen: dict[str, dict[str, int]] = {}  # Cryptomatte name -> {object key: label} of real objects

    def add_real(original) -> None:
        label = indices.get(marking.object_key(original), 0)
        keys = seen.setdefault(original.name, {})
        keys[marking.object_key(original)] = label
        if len(keys) > 1 and any(keys.values()):
            out.ambiguous[original.name] = sorted(keys)
        if label or original.name not in real:
            real[original.name] = label

    for obj in objects:
        add_real(obj)
    for inst in depsgraph.object_instances:
        obj = inst.object
        if not inst.is_instance:
            add_real(obj.original)
            continue
        top = inst.parent.original
        pid = _path(inst)
        gn = obj.original == top
        particle = inst.particle_system is not None
        source = obj.original
        if gn:
            source = gn_source(obj, meshes)
        else:
            path_objects[(top.name, pid)] = source
        xy = where(inst.matrix_world.translation) if where is not None else (0.0, 0.0)
        pose = None
        if not gn and obj.type == "ARMATURE" and marking.KEYPOINTS_PROP in source:
            if obj.as_pointer() not in bones:
                bones[obj.as_pointer()] = {b.name: (b.head.copy(), b.tail.copy()) for b in obj.pose.bones}
            pose = (inst.matrix_world.copy(), bones[obj.as_pointer()])
        rows.append((obj.name, inst.random_id & 0xFFFFFFFF, top, pid, source, gn, particle, xy, pose))

    keys: dict[tuple, int] = {}
    label_of_name: dict[str, set] = {}
    copies: dict[str, list] = {}
    gate_names: dict[str, dict] = {}
    source_names: dict[str, dict] = {}
    for name, random, top, pid, source, gn, particle, xy, pose in rows:
        label, key, info = 0, None, None
        marked = marking.instance_of(source) if source is not None else None
        if marked is not None:
            tail = pid if particle else pid[1:]
            key = (top.name, marked.name, tail)
            info = (marked, tail[0] if tail else 0)
        else:
            for k in range(1, len(pid)):
                via = path_objects.get((top.name, pid[k:]))
                up = marking.instance_of(via) if via is not None else None
                if up is not None:
                    key = (top.name, up.name, pid[k + 1:])
                    info = (up, pid[k])
                    break
            else:
                root = marking.instance_of(top)
                if root is not None:
                    if top.instance_type == "COLLECTION" and not gn and not particle:
                        label = indices.get(marking.object_key(root), 0)
                    else:
                        key = (top.name, None, pid if particle else pid[-1:])
                        info = (root, pid[0] if particle else pid[-1])
        if key is not None:
            label = keys.get(key)
            if label is None:
                label = keys[key] = first_label + len(keys)
                if label > MAX_LABELS:
                    raise UserError(f"this frame has more than {MAX_LABELS} instances (instancer {top.name!r} and "
                                    f"others); blender-coco labels at most {MAX_LABELS} per frame: scatter fewer copies")
                owner, index = info
                out.instances.append(CopyInstance(
                    label=label, category=marking.category_of(owner), object=marking.object_key(owner),
                    instancer=marking.object_key(top), source=None if source is None else marking.object_key(source),
                    index=int(index),
                    supercategory=marking.supercategory_of(owner)))
        if label:
            out.labels[(marking.object_key(top), pid)] = label
            if pose is not None and key is not None and info[0] == source:
                out.poses[label] = pose
        label_of_name.setdefault(name, set()).add(label)
        copies.setdefault(name, []).append((random, label, round(xy[0], 1), round(xy[1], 1)))
        gates = gate_names.setdefault(name, {})
        for obj in (source, top if gn or particle else None):  # Object Info's index: a geometry-nodes copy
            if obj is not None:                                # reads its instancer's (measured on 5.0)
                gates[obj.as_pointer()] = obj
        if source is not None:
            source_names.setdefault(name, {})[source.as_pointer()] = source
    names: dict[str, int] = {}
    groups: dict[str, tuple] = {}
    for name, labels in label_of_name.items():
        if name in real:
            labels = labels | {real[name]}
        if len(labels) == 1:
            (only,) = labels
            if only:
                names[name] = only
        else:
            groups[name] = tuple(sorted(set(copies[name])))
            if real.get(name):
                names[name] = real[name]
            out.gate.extend(gate_names.get(name, {}).values())
            for obj in source_names.get(name, {}).values():
                mats = [s.material for s in obj.material_slots if s.material is not None and s.material.node_tree is not None]
                if obj.type == "MESH" and not mats:
                    out.warnings.append(
                        f"object {obj.name!r} has no material, so its copies write no instance id and are told apart "
                        f"by position only (edges between copies may be off); give it a material for exact masks")
                elif mats and all(m.library is not None for m in mats):  # coverage_passes cannot edit them
                    out.warnings.append(
                        f"the materials of object {marking.object_key(obj)!r} are linked from a library, so its copies "
                        f"write no instance id and are told apart by position only (edges between copies may be off); "
                        f"make its material local (or a library override) for exact masks")
    for name, label in real.items():
        if label and name not in label_of_name:
            names[name] = label
    out.coverage = Coverage(names=names, copies=groups)
    return out


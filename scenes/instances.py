"""Scenes built the way Blender users build them with instancing, and their truth.

Run inside Blender (module or binary, 3.4 to 5.0)::

    build(scene, kind)      kind in KINDS; an orthographic top view, 128x96, 8 samples
    make_real(scene, kind)  the truth: every copy a real object with its own pass index
                            (grouped as the marking contract says), instancers removed
    motion(scene) / focus(scene)   one object moving under motion blur / out of focus
    render_truth(scene, path)      render one centre sample per pixel and save it as a
                                   multilayer EXR (its object-index pass is the truth)

Every copy is an axis-aligned 2x2 square seen from above: 16x16 pixels whose edges
lie on pixel boundaries. Materials colour each copy by Object Info > Random, so a
changed per-copy look would show in the RGB.
"""

from __future__ import annotations

import bpy

KINDS = ("geometry_nodes", "particles", "nested", "asset_library")
POINTS = [(-5.0, -3.0), (-1.0, -3.0), (3.0, -3.0), (-5.0, 1.0), (-1.0, 1.0), (3.0, 1.0)]


def _base(scene) -> None:
    r = scene.render
    r.engine = "CYCLES"
    r.resolution_x, r.resolution_y, r.resolution_percentage = 128, 96, 100
    scene.cycles.samples = 8
    scene.cycles.use_denoising = False
    scene.cycles.device = "CPU"
    cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    cam.data.type = "ORTHO"
    cam.data.ortho_scale = 16.0  # 128 px over 16 units: 8 px per unit
    cam.location = (0.0, 0.0, 20.0)
    scene.collection.objects.link(cam)
    scene.camera = cam
    world = bpy.data.worlds.new("World")
    world.color = (0.05, 0.05, 0.05)
    scene.world = world


def _material() -> bpy.types.Material:
    mat = bpy.data.materials.new("PerCopy")
    mat.use_nodes = True
    tree = mat.node_tree
    info = tree.nodes.new("ShaderNodeObjectInfo")
    ramp = tree.nodes.new("ShaderNodeValToRGB")
    ramp.color_ramp.elements[0].color = (1.0, 0.1, 0.0, 1.0)
    ramp.color_ramp.elements[1].color = (0.0, 0.3, 1.0, 1.0)
    tree.links.new(info.outputs["Random"], ramp.inputs["Fac"])
    emit = tree.nodes.new("ShaderNodeEmission")
    tree.links.new(ramp.outputs["Color"], emit.inputs["Color"])
    tree.links.new(emit.outputs["Emission"], tree.nodes["Material Output"].inputs["Surface"])
    return mat


def _square(name: str, collection, size: float = 2.0, height: float = 0.0, hair: bool = False):
    h = size / 2
    mesh = bpy.data.meshes.new(name)
    corners = [(-h, -h), (h, -h), (h, h), (-h, h)]
    if hair:  # hair instances turn local X to world Y, local Z to world X (measured): lie in local XZ
        verts = [(y, height, x) for x, y in corners]
    else:
        verts = [(x, y, height) for x, y in corners]
    mesh.from_pydata(verts, [], [(0, 1, 2, 3)])
    obj = bpy.data.objects.new(name, mesh)
    collection.objects.link(obj)
    return obj


def _library(scene, name: str):
    """A collection linked to the scene and excluded from the view layer (an asset library)."""
    coll = bpy.data.collections.new(name)
    scene.collection.children.link(coll)
    for layer in scene.view_layers:
        layer.layer_collection.children[name].exclude = True
    return coll


def _node_group():
    group = bpy.data.node_groups.new("Scatter", "GeometryNodeTree")
    if hasattr(group, "interface"):
        group.interface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
        group.interface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    else:
        group.inputs.new("NodeSocketGeometry", "Geometry")
        group.outputs.new("NodeSocketGeometry", "Geometry")
    return group


def build(scene, kind: str) -> None:
    """The scene of ``kind`` (KINDS); 6 visible copies in each."""
    _base(scene)
    mat = _material()
    if kind == "geometry_nodes":  # a marked source in a library, scattered by geometry nodes
        lib = _library(scene, "Assets")
        src = _square("Tile", lib)
        src.data.materials.append(mat)
        src["coco_category"] = "tile"
        pts = bpy.data.meshes.new("points")
        pts.from_pydata([(x, y, 0.0) for x, y in POINTS], [], [])
        scatter = bpy.data.objects.new("Scatter", pts)
        scene.collection.objects.link(scatter)
        group = _node_group()
        gin, gout = group.nodes.new("NodeGroupInput"), group.nodes.new("NodeGroupOutput")
        iop = group.nodes.new("GeometryNodeInstanceOnPoints")
        info = group.nodes.new("GeometryNodeObjectInfo")
        info.inputs["Object"].default_value = src
        group.links.new(gin.outputs[0], iop.inputs["Points"])
        group.links.new(info.outputs["Geometry"], iop.inputs["Instance"])
        group.links.new(iop.outputs["Instances"], gout.inputs[0])
        scatter.modifiers.new("Scatter", "NODES").node_group = group
    elif kind == "particles":  # a marked emitter: each particle an instance of its category
        lib = _library(scene, "Assets")
        src = _square("Pebble", lib, hair=True)
        src.data.materials.append(mat)
        emitter = _square("Emitter", scene.collection, size=1.0, height=-1.0)
        emitter.data.vertices.foreach_set("co", [c for x, y in POINTS[:4] for c in (x, y, -1.0)])
        emitter.data.update()
        emitter["coco_category"] = "pebble"
        emitter.show_instancer_for_render = False
        psys = emitter.modifiers.new("Pebbles", "PARTICLE_SYSTEM").particle_system
        settings = psys.settings
        settings.type = "HAIR"
        settings.count = 4
        settings.emit_from = "VERT"
        settings.use_emit_random = False
        settings.hair_length = 1.0
        settings.render_type = "OBJECT"
        settings.instance_object = src
        settings.particle_size = 1.0
        settings.use_rotation_instance = False
        settings.use_rotations = False
    elif kind in ("nested", "asset_library"):
        lib = _library(scene, "Assets")
        crate = _square("Crate", lib, size=2.0)
        crate.data.materials.append(mat)
        crate["coco_category"] = "crate"
        lid = _square("Lid", lib, size=1.0, height=0.5)  # a child: part of each crate
        lid.parent = crate
        lid.data.materials.append(mat)
        if kind == "asset_library":
            for i, (x, y) in enumerate(POINTS):
                empty = bpy.data.objects.new(f"Crate.{i}", None)
                empty.instance_type = "COLLECTION"
                empty.instance_collection = lib
                empty.location = (x, y, 0.0)
                scene.collection.objects.link(empty)
        else:  # a pair of crates instanced three times
            pair = bpy.data.collections.new("Pair")
            for i, x in enumerate((0.0, 4.0)):
                inner = bpy.data.objects.new(f"Inner.{i}", None)
                inner.instance_type = "COLLECTION"
                inner.instance_collection = lib
                inner.location = (x, 0.0, 0.0)
                pair.objects.link(inner)
            for i, y in enumerate((-4.0, 0.0, 4.0)):
                outer = bpy.data.objects.new(f"Pair.{i}", None)
                outer.instance_type = "COLLECTION"
                outer.instance_collection = pair
                outer.location = (-3.0, y - 1.0, 0.0)
                scene.collection.objects.link(outer)
    else:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def make_real(scene, kind: str) -> int:
    """Turn the copies into real objects, each group with its own pass index; returns the group count.

    Groups follow the marking contract: a crate and its lid together, every other copy
    alone. Instancers and libraries are removed, only the index pass is meant to be read.
    """
    depsgraph = bpy.context.evaluated_depsgraph_get()
    made = []
    for inst in depsgraph.object_instances:
        if not inst.is_instance or inst.object.data is None:
            continue
        pid = tuple(v for v in inst.persistent_id if v != 2 ** 31 - 1)
        mesh = bpy.data.meshes.get(inst.object.data.name)
        group = (inst.parent.name, pid[1:]) if kind in ("nested", "asset_library") else (inst.parent.name, pid)
        made.append((mesh, inst.matrix_world.copy(), group))
    for obj in list(scene.objects):
        if obj.type == "EMPTY" or obj.name in ("Scatter", "Emitter"):
            bpy.data.objects.remove(obj)
    groups = {}
    for i, (mesh, matrix, group) in enumerate(made):
        obj = bpy.data.objects.new(f"real.{i}", mesh)
        obj.matrix_world = matrix
        obj.pass_index = groups.setdefault(group, len(groups) + 1)
        scene.collection.objects.link(obj)
    scene.view_layers[0].use_pass_object_index = True
    return len(groups)


def single(scene, kind: str) -> None:
    """One object alone on a plain background: ``motion`` (a square crossing the frame under
    motion blur, shutter 0.5), ``focus`` (a square far out of the focal plane) or
    ``transparent`` (a still square, 30% opaque: columns 48..80, rows 32..64)."""
    _base(scene)
    scene.cycles.samples = 16
    mat = _material()
    obj = _square("Thing", scene.collection, size=4.0)
    obj.data.materials.append(mat)
    obj["coco_category"] = "thing"
    if kind == "motion":
        scene.render.use_motion_blur = True
        scene.render.motion_blur_shutter = 0.5
        scene.frame_set(1)
        obj.location = (-3.0, 0.0, 0.0)
        obj.keyframe_insert("location", frame=1)
        obj.location = (3.0, 0.0, 0.0)
        obj.keyframe_insert("location", frame=2)
        scene.frame_start = scene.frame_end = 1
        scene.frame_set(1)
    elif kind == "focus":
        cam = scene.camera.data
        cam.type = "PERSP"
        cam.lens = 50.0
        scene.camera.location = (0.0, 0.0, 30.0)
        cam.dof.use_dof = True
        cam.dof.focus_distance = 10.0
        cam.dof.aperture_fstop = 0.5
        obj.scale = (2.0, 2.0, 1.0)
    elif kind == "transparent":
        tree = mat.node_tree
        mix = tree.nodes.new("ShaderNodeMixShader")
        mix.inputs["Fac"].default_value = 0.7
        emit = tree.nodes["Emission"]
        tree.links.new(emit.outputs["Emission"], mix.inputs[1])
        tree.links.new(tree.nodes.new("ShaderNodeBsdfTransparent").outputs[0], mix.inputs[2])
        tree.links.new(mix.outputs[0], tree.nodes["Material Output"].inputs["Surface"])
    else:
        raise ValueError(f"kind must be motion, focus or transparent, got {kind!r}")


#: where Set Position moves the realized mesh (``realized(after=True)``), and the square its
#: geometry nodes join to it (never an instance: the scatter object's own geometry)
AFTER_OFFSET = (0.5, 0.5, 0.0)
BASE = (6.0, 4.5)


def two_sources(scene) -> None:
    """Make the :func:`build` ``geometry_nodes`` scatter pick, per point, one child of the Assets
    collection (Collection Info, Separate Children; Pick Instance = index % 2): the marked Tile
    or an unmarked 2x1 Plate (the Plate comes first by name)."""
    lib = bpy.data.collections["Assets"]
    plate = _square("Plate", lib)
    plate.data.vertices.foreach_set("co", [c for x, y in ((-1, -0.5), (1, -0.5), (1, 0.5), (-1, 0.5)) for c in (x, y, 0.0)])
    plate.data.update()
    plate.data.materials.append(bpy.data.materials["PerCopy"])
    group = bpy.data.node_groups["Scatter"]
    iop = group.nodes["Instance on Points"]
    info = group.nodes.new("GeometryNodeCollectionInfo")
    info.inputs["Collection"].default_value = lib
    info.inputs["Separate Children"].default_value = True
    info.inputs["Reset Children"].default_value = True
    group.links.new(info.outputs[0], iop.inputs["Instance"])
    iop.inputs["Pick Instance"].default_value = True
    index = group.nodes.new("GeometryNodeInputIndex")
    mod = group.nodes.new("ShaderNodeMath")
    mod.operation = "MODULO"
    mod.inputs[1].default_value = 2.0
    group.links.new(index.outputs[0], mod.inputs[0])
    group.links.new(mod.outputs[0], iop.inputs["Instance Index"])


#: scatter points whose copies touch (2x2 squares 2 apart, in two rows of three)
TOUCHING = [(-5.0, -3.0), (-3.0, -3.0), (-1.0, -3.0), (-5.0, -1.0), (-3.0, -1.0), (-1.0, -1.0)]


def touching(scene) -> None:
    """Move the scatter's points to TOUCHING: neighbouring copies share edges."""
    pts = bpy.data.objects["Scatter"].data
    pts.clear_geometry()
    pts.from_pydata([(x, y, 0.0) for x, y in TOUCHING], [], [])


def realized(scene, after: bool = False, marked: str = "source", mixed: bool = False, weld: bool = False) -> None:
    """The geometry-nodes scatter of :func:`build` with Realize Instances: six copies in one mesh.

    Each copy is coloured by an instance attribute ``tint`` (Random Value per instance,
    stored before the realize and read by the material's Attribute node), since Object
    Info > Random is one value for a realized mesh. ``marked``: ``"source"`` (the Tile)
    or ``"scatter"`` (the scatter object, the Tile unmarked). ``mixed``: :func:`two_sources`. ``after``: a Set Position
    after the realize moves the mesh by AFTER_OFFSET, and a 1x1 square at BASE (the
    scatter's own geometry) is joined to it.
    """
    build(scene, "geometry_nodes")
    if mixed:
        two_sources(scene)
    tile, scatter = bpy.data.objects["Tile"], bpy.data.objects["Scatter"]
    if marked == "scatter":
        del tile["coco_category"]
        scatter["coco_category"] = "pattern"
    tree = bpy.data.materials["PerCopy"].node_tree
    attr = tree.nodes.new("ShaderNodeAttribute")
    attr.attribute_type, attr.attribute_name = "GEOMETRY", "tint"
    ramp = next(n for n in tree.nodes if n.bl_idname == "ShaderNodeValToRGB")
    tree.links.new(attr.outputs["Fac"], ramp.inputs["Fac"])
    group = bpy.data.node_groups["Scatter"]
    nodes, links = group.nodes, group.links
    iop = nodes["Instance on Points"]
    out = next(n for n in nodes if n.bl_idname == "NodeGroupOutput")
    tint = nodes.new("GeometryNodeStoreNamedAttribute")
    tint.data_type, tint.domain = "FLOAT", "INSTANCE"
    tint.inputs["Name"].default_value = "tint"
    rand = nodes.new("FunctionNodeRandomValue")
    rand.data_type = "FLOAT"
    links.new(next(s for s in rand.outputs if s.type == "VALUE" and s.enabled),
              next(s for s in tint.inputs if s.type == "VALUE" and s.enabled))
    realize = nodes.new("GeometryNodeRealizeInstances")
    links.new(iop.outputs["Instances"], tint.inputs[0])
    links.new(tint.outputs[0], realize.inputs[0])
    last = realize.outputs[0]
    if after:
        move = nodes.new("GeometryNodeSetPosition")
        links.new(last, move.inputs["Geometry"])
        move.inputs["Offset"].default_value = AFTER_OFFSET
        quad = nodes.new("GeometryNodeMeshGrid")
        quad.inputs["Size X"].default_value = quad.inputs["Size Y"].default_value = 1.0
        quad.inputs["Vertices X"].default_value = quad.inputs["Vertices Y"].default_value = 2
        place = nodes.new("GeometryNodeTransform")
        place.inputs["Translation"].default_value = (*BASE, 0.0)
        links.new(quad.outputs["Mesh"], place.inputs["Geometry"])
        material = nodes.new("GeometryNodeSetMaterial")
        material.inputs["Material"].default_value = bpy.data.materials["PerCopy"]
        links.new(place.outputs["Geometry"], material.inputs["Geometry"])
        join = nodes.new("GeometryNodeJoinGeometry")
        links.new(material.outputs["Geometry"], join.inputs[0])
        links.new(move.outputs["Geometry"], join.inputs[0])
        last = join.outputs[0]
    if weld:
        touching(scene)
        merge = nodes.new("GeometryNodeMergeByDistance")
        links.new(last, merge.inputs["Geometry"])
        last = merge.outputs[0]
    links.new(last, out.inputs[0])


def two_scatters(scene, realize: bool) -> None:
    """The :func:`build` ``geometry_nodes`` scatter joined with a second one (three Tiles on a line at
    y = 5), each realized by its own Realize Instances node when ``realize``."""
    build(scene, "geometry_nodes")
    group = bpy.data.node_groups["Scatter"]
    nodes, links = group.nodes, group.links
    iop = nodes["Instance on Points"]
    out = next(n for n in nodes if n.bl_idname == "NodeGroupOutput")
    info = next(n for n in nodes if n.bl_idname == "GeometryNodeObjectInfo")
    line = nodes.new("GeometryNodeMeshLine")
    line.inputs["Count"].default_value = 3
    line.inputs["Start Location"].default_value = (-5.0, 5.0, 0.0)
    line.inputs["Offset"].default_value = (4.0, 0.0, 0.0)
    second = nodes.new("GeometryNodeInstanceOnPoints")
    links.new(line.outputs[0], second.inputs["Points"])
    links.new(info.outputs["Geometry"], second.inputs["Instance"])
    join = nodes.new("GeometryNodeJoinGeometry")
    for scatter in (iop, second):
        last = scatter.outputs[0]
        if realize:
            node = nodes.new("GeometryNodeRealizeInstances")
            links.new(last, node.inputs[0])
            last = node.outputs[0]
        links.new(last, join.inputs[0])
    links.new(join.outputs[0], out.inputs[0])


def make_real_realized(scene, after: bool = False, base_index: int = 0) -> int:
    """The truth of :func:`realized`: the unrealized scatter's copies made real objects (each its own
    pass index), moved as Set Position moves them, and the joined square a plain object (pass index
    ``base_index``)."""
    count = make_real(scene, "geometry_nodes")
    if after:
        for obj in scene.objects:
            if obj.name.startswith("real."):
                obj.location = tuple(a + b for a, b in zip(obj.location, AFTER_OFFSET))
        base = _square("Base", scene.collection, size=1.0)
        base.location = (*BASE, 0.0)
        base.pass_index = base_index
    return count


def render_truth(scene, path: str) -> None:
    """Render ``scene`` with one sample at each pixel's centre and save a 32-bit multilayer EXR:
    its object-index pass, read with ``tests/pixels.index_pass``, is a truth our masks never touch."""
    scene.cycles.samples = 1
    scene.cycles.filter_width = 0.01
    bpy.ops.render.render()
    ims = scene.render.image_settings
    if "media_type" in ims.bl_rna.properties:  # 5.0
        ims.media_type = "MULTI_LAYER_IMAGE"
    ims.file_format, ims.color_depth, ims.exr_codec = "OPEN_EXR_MULTILAYER", "32", "ZIP"
    bpy.data.images["Render Result"].save_render(filepath=path, scene=scene)

"""The render passes behind majority-coverage masks: Cryptomatte objects and the instance-id AOV.

::

    enable(scene, view_layer, guard)     once per run: the passes (restored by ``guard``)
    add_aov_nodes()                      before each frame: every editable material writes the AOV

The Cryptomatte object layer stores, per pixel, the coverage of each object name over
every sample (motion blur, depth of field and transparency included). The AOV
``coco_id`` holds Object Info > Random (a realized copy's ``blender_coco_id`` attribute
where it has one: :mod:`blender_coco.blender.realized`), gated to objects with a
nonzero pass index (annotated objects and the sources of annotated copies), so that a copy's random id can
be read back where its name's coverage is known (:mod:`blender_coco.records.coverage`).
The nodes only feed an AOV output: the material's surface, and so the RGB, is
unchanged. They are removed again when the run ends; linked (read-only) materials are
left alone, and their copies fall back to the nearest identified pixel.
"""

from __future__ import annotations

import bpy

from blender_coco.blender.realized import PIECE_ID

AOV_NAME = "coco_id"
CRYPTO_DEPTH = 4  # ranks (names) kept per pixel; coverage beyond them counts as unannotated
_LABEL = "blender-coco instance id (removed after the run)"


def enable(scene, view_layer, guard) -> None:
    """Turn on the Cryptomatte object layer and the ``coco_id`` AOV on ``view_layer``."""
    guard.set(view_layer, "use_pass_cryptomatte_object", True)
    guard.set(view_layer, "pass_cryptomatte_depth", CRYPTO_DEPTH)
    if "use_pass_cryptomatte_accurate" in view_layer.bl_rna.properties:  # 2.9x-3.x: accurate mode
        guard.set(view_layer, "use_pass_cryptomatte_accurate", True)
    if view_layer.aovs.get(AOV_NAME) is None:
        aov = view_layer.aovs.add()
        aov.name = AOV_NAME
        aov.type = "VALUE"
        layer_name = view_layer.name

        def remove() -> None:
            layer = scene.view_layers.get(layer_name)
            found = layer.aovs.get(AOV_NAME) if layer is not None else None
            if found is not None:
                layer.aovs.remove(found)

        guard.on_restore(remove)
    guard.on_restore(remove_aov_nodes)


def add_aov_nodes() -> None:
    """Give every editable node material the AOV output (once; :func:`remove_aov_nodes` takes it out)."""
    for mat in bpy.data.materials:
        tree = mat.node_tree
        if tree is None or mat.library is not None or any(n.label == _LABEL for n in tree.nodes):
            continue
        info = tree.nodes.new("ShaderNodeObjectInfo")
        piece = tree.nodes.new("ShaderNodeAttribute")  # a realized copy's id (blender/realized.py), else 0
        piece.attribute_type, piece.attribute_name = "GEOMETRY", PIECE_ID
        nodes = [info, piece, *(_math(tree, op) for op in ("GREATER_THAN", "MULTIPLY", "SUBTRACT", "MULTIPLY",
                                                             "ADD", "GREATER_THAN", "MULTIPLY"))]
        _, _, is_piece, piece_part, other, random_part, either, gate, product = nodes
        is_piece.inputs[1].default_value = 0.0
        other.inputs[0].default_value = 1.0
        gate.inputs[1].default_value = 0.5
        out = tree.nodes.new("ShaderNodeOutputAOV")
        if hasattr(out, "aov_name"):
            out.aov_name = AOV_NAME
        else:  # Blender 3.x: the AOV's name is the node's name
            out.name = AOV_NAME
        for node in (*nodes, out):
            node.label = _LABEL
            node.location = (-2000, -2000)
        link = tree.links.new
        # AOV = (piece id if piece id > 0 else Random) * (Object Index > 0.5); exact: x * 1 + 0 = x
        link(piece.outputs["Fac"], is_piece.inputs[0])
        link(piece.outputs["Fac"], piece_part.inputs[0])
        link(is_piece.outputs[0], piece_part.inputs[1])
        link(is_piece.outputs[0], other.inputs[1])
        link(info.outputs["Random"], random_part.inputs[0])
        link(other.outputs[0], random_part.inputs[1])
        link(piece_part.outputs[0], either.inputs[0])
        link(random_part.outputs[0], either.inputs[1])
        link(info.outputs["Object Index"], gate.inputs[0])
        link(either.outputs[0], product.inputs[0])
        link(gate.outputs[0], product.inputs[1])
        link(product.outputs[0], out.inputs["Value"])


def _math(tree, operation: str):
    node = tree.nodes.new("ShaderNodeMath")
    node.operation = operation
    return node


def remove_aov_nodes() -> None:
    """Take out every node :func:`add_aov_nodes` added."""
    for mat in bpy.data.materials:
        tree = mat.node_tree
        if tree is None or mat.library is not None:
            continue
        for node in [n for n in tree.nodes if n.label == _LABEL]:
            tree.nodes.remove(node)

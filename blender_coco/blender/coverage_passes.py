"""The render passes behind majority-coverage masks: Cryptomatte objects and the instance-id AOV.

::

    enable(scene, view_layer, guard)     once per run: the passes (restored by ``guard``)
    add_aov_nodes()                      before each frame: every editable material writes the AOV

The Cryptomatte object layer stores, per pixel, the coverage of each object name over
every sample (motion blur, depth of field and transparency included). The AOV
``coco_id`` holds Object Info > Random, gated to objects with a nonzero pass index
(annotated objects and the sources of annotated copies), so that a copy's random id can
be read back where its name's coverage is known (:mod:`blender_coco.records.coverage`).
The nodes only feed an AOV output: the material's surface, and so the RGB, is
unchanged. They are removed again when the run ends; linked (read-only) materials are
left alone, and their copies fall back to the nearest identified pixel.
"""

from __future__ import annotations

import bpy

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
        gate = tree.nodes.new("ShaderNodeMath")
        gate.operation = "GREATER_THAN"
        gate.inputs[1].default_value = 0.5
        product = tree.nodes.new("ShaderNodeMath")
        product.operation = "MULTIPLY"
        out = tree.nodes.new("ShaderNodeOutputAOV")
        if hasattr(out, "aov_name"):
            out.aov_name = AOV_NAME
        else:  # Blender 3.x: the AOV's name is the node's name
            out.name = AOV_NAME
        for node in (info, gate, product, out):
            node.label = _LABEL
            node.location = (-2000, -2000)
        tree.links.new(info.outputs["Object Index"], gate.inputs[0])
        tree.links.new(info.outputs["Random"], product.inputs[0])
        tree.links.new(gate.outputs[0], product.inputs[1])
        tree.links.new(product.outputs[0], out.inputs["Value"])


def remove_aov_nodes() -> None:
    """Take out every node :func:`add_aov_nodes` added."""
    for mat in bpy.data.materials:
        tree = mat.node_tree
        if tree is None or mat.library is not None:
            continue
        for node in [n for n in tree.nodes if n.label == _LABEL]:
            tree.nodes.remove(node)

"""``[[materials]]``: jitter colours, roughness and metallic, or texture materials from a folder.

:class:`MaterialsPart` collects the group's materials (``materials`` by name, those on
``objects`` / in ``collection``, or every material of the scene's objects) and per
frame shifts each Principled BSDF's base colour (``hue``/``saturation``/``value``, of
its own colour), sets ``roughness`` and ``metallic``, and with ``textures`` links a
box-projected image from that folder into the base colour with probability
``texture_probability``. ``finish`` removes the nodes it added and restores the links.
"""

from __future__ import annotations

import os

import bpy

from blender_coco.blender.randomizers.colors import jitter_color
from blender_coco.blender.randomizers.common import Frame, relink, roots
from blender_coco.blender.randomizers.registry import Part, register
from blender_coco.blender.randomizers.variation import draw_values
from blender_coco.errors import UserError
from blender_coco.randomize import MaterialsConfig, image_files


@register("materials")
class MaterialsPart(Part):
    """One ``[[materials]]`` group: its materials' colours, roughness, metallic and textures."""

    def __init__(self, cfg: MaterialsConfig) -> None:
        super().__init__(cfg)
        self.entries = []
        self.created = []

    def start(self, scene, guard, images) -> None:
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
            for root in roots(scene, cfg, cfg.name):
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
        self.files = image_files(cfg.variation.textures) if cfg.variation.textures else []
        for name in sorted(mats):
            mat = mats[name]
            entry = {"mat": mat, "bsdfs": [], "tex": None}
            for attr in ("diffuse_color", "roughness", "metallic"):
                guard.remember(mat, attr)
            entry["diffuse"] = tuple(mat.diffuse_color)
            tree = mat.node_tree
            if tree is not None:
                for node in tree.nodes:
                    if node.type != "BSDF_PRINCIPLED":
                        continue
                    base = node.inputs["Base Color"]
                    for key in ("Base Color", "Roughness", "Metallic"):
                        guard.remember(node.inputs[key], "default_value")
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

    def apply(self, scene, rng, frame: Frame) -> None:
        cfg = self.cfg
        jittered = cfg.variation.colors
        for entry in self.entries:
            hue, sat, val, rough, metal, texture = draw_values(cfg.variation, self.files, rng)
            mat = entry["mat"]
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
                        relink(tree, socket, link)
            frame.values.setdefault(self.name, {})[mat.name] = [round(hue, 4), round(sat, 4), round(val, 4), texture]

    def finish(self) -> None:
        for entry in self.entries:
            if entry["tex"] is None:
                continue
            tree = entry["mat"].node_tree
            for node, _, link in entry["bsdfs"]:
                try:
                    relink(tree, node.inputs["Base Color"], link)
                except ReferenceError:
                    pass
        for tree, nodes in self.created:
            for node in nodes:
                try:
                    tree.nodes.remove(node)
                except (ReferenceError, RuntimeError):
                    pass
        self.created = []

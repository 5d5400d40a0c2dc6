"""Per-copy material variation: every copy gets materials of its own, the user's stay untouched.

Copies share their mesh (and so the mesh's material slots) with the asset, so a
colour set on the shared material would change every copy at once. Instead each
copy's slots are switched to object-linked slots holding a *variant*: a copy of the
slot's material from a :class:`VariantPool`. A frame takes variants in order (the
n-th use of a material in the frame gets its n-th variant), so the pool grows to the
most copies of one material any frame needs and is reused after that: memory stays
flat and Cycles keeps compiled shaders of variants whose values did not change.
Every use rewrites every value a variant can vary from the source material's values
as they were when the run started (a ``[[materials]]`` group may vary the source
itself frame by frame, after this part), so a frame never depends on the frames
before it: shards, ``--resume`` and Ray tasks render the same pixels. The source materials are never edited;
:meth:`VariantPool.finish` removes the variants.

Measured against a fresh material copy per copy and frame, and against one shared
material reading per-object colours from an Attribute node: see docs/benchmarks.md
(``benchmarks/material_variation.py``).
"""

from __future__ import annotations

import os

import bpy

from blender_coco.blender.randomizers.colors import jitter_color
from blender_coco.blender.randomizers.common import relink
from blender_coco.randomize import image_files


def draw_values(cfg, files, rng) -> tuple:
    """One draw of a material variation ``cfg`` (a ``[[materials]]`` group or a spawn's ``material``):
    (hue, saturation, value, roughness, metallic, texture path from ``files`` or None), in this order."""
    hue = cfg.hue.sample(rng) if cfg.hue is not None else 0.0
    sat = cfg.saturation.sample(rng) if cfg.saturation is not None else 1.0
    val = cfg.value.sample(rng) if cfg.value is not None else 1.0
    rough = cfg.roughness.sample(rng) if cfg.roughness is not None else None
    metal = cfg.metallic.sample(rng) if cfg.metallic is not None else None
    texture = None
    if files and (cfg.texture_probability >= 1 or rng.random() < cfg.texture_probability):
        texture = rng.choice(files)
    return hue, sat, val, rough, metal, texture


def material_values(mat) -> dict:
    """The values a variant varies, read from ``mat`` now: viewport colour, roughness, metallic
    and each Principled BSDF's (by node name) base colour, roughness, metallic."""
    bsdfs = {}
    if mat.node_tree is not None:
        for node in mat.node_tree.nodes:
            if node.type == "BSDF_PRINCIPLED":
                bsdfs[node.name] = (tuple(node.inputs["Base Color"].default_value),
                                    node.inputs["Roughness"].default_value, node.inputs["Metallic"].default_value)
    return {"diffuse": tuple(mat.diffuse_color), "roughness": mat.roughness, "metallic": mat.metallic,
            "bsdfs": bsdfs}


class Variant:
    """One copy of a source material, with what it varies: the Principled BSDFs' base
    colour, roughness and metallic and an image node for textures."""

    def __init__(self, source, name: str, textures: bool, pristine: dict | None = None) -> None:
        mat = self.mat = source.copy()
        mat.name = name
        own = pristine or material_values(source)
        self.diffuse, self.roughness, self.metallic = own["diffuse"], own["roughness"], own["metallic"]
        self.bsdfs = []
        self.tex = None
        tree = mat.node_tree
        if tree is None:
            return
        for node in tree.nodes:
            if node.type != "BSDF_PRINCIPLED":
                continue
            base = node.inputs["Base Color"]
            link = base.links[0].from_socket if base.is_linked else None
            color, rough, metal = own["bsdfs"].get(node.name, (tuple(base.default_value),
                                                               node.inputs["Roughness"].default_value,
                                                               node.inputs["Metallic"].default_value))
            self.bsdfs.append((node, color, rough, metal, link))
        if textures and self.bsdfs:
            coord = tree.nodes.new("ShaderNodeTexCoord")
            tex = self.tex = tree.nodes.new("ShaderNodeTexImage")
            tex.projection = "BOX"
            tex.projection_blend = 0.25
            tree.links.new(coord.outputs["Generated"], tex.inputs["Vector"])

    def apply(self, hue: float, sat: float, val: float, rough, metal, image) -> None:
        """Set every varied value from the source's own: colour jittered, roughness/metallic
        (None: the source's), ``image`` (None: the source's own base colour input)."""
        mat = self.mat
        mat.diffuse_color = (*jitter_color(self.diffuse, hue, sat, val), self.diffuse[3])
        mat.roughness = self.roughness if rough is None else rough
        mat.metallic = self.metallic if metal is None else metal
        tree = mat.node_tree
        if self.tex is not None:
            self.tex.image = image
        for node, color, own_rough, own_metal, link in self.bsdfs:
            socket = node.inputs["Base Color"]
            socket.default_value = (*jitter_color(color, hue, sat, val), color[3])
            node.inputs["Roughness"].default_value = own_rough if rough is None else rough
            node.inputs["Metallic"].default_value = own_metal if metal is None else metal
            if image is not None:
                tree.links.new(self.tex.outputs["Color"], socket)
            else:
                relink(tree, socket, link)


class VariantPool:
    """Variants of source materials, handed out in order each frame (see the module docstring)."""

    def __init__(self, cfg, images, field: str) -> None:
        self.cfg, self.images, self.field = cfg, images, field
        self.variants: dict[int, list[Variant]] = {}
        self.used: dict[int, int] = {}
        self.source_of: dict[int, object] = {}  # a variant's material (pointer) -> its source material
        self.files = image_files(cfg.textures) if cfg.textures else []
        # the materials' values before the first frame: other parts may vary a source later on
        self.pristine = {m.as_pointer(): material_values(m) for m in bpy.data.materials}

    def begin_frame(self) -> None:
        self.used = {}

    def draw(self, rng) -> tuple:
        """One copy's values (see :func:`draw_values`)."""
        return draw_values(self.cfg, self.files, rng)

    def vary(self, objects, values, frame) -> None:
        """Give each material slot of ``objects`` (one copy) a variant set to ``values`` (from :meth:`draw`)."""
        hue, sat, val, rough, metal, texture = values
        image = None
        if texture is not None:
            image = self.images.get(texture, f"{self.field}.textures")
            frame.images.add(os.path.abspath(texture))
        for obj in objects:
            for slot in getattr(obj, "material_slots", ()):
                source = slot.material
                if source is None:
                    continue
                source = self.source_of.get(source.as_pointer(), source)  # a copy kept from the frame before
                key = source.as_pointer()
                n = self.used.get(key, 0)
                self.used[key] = n + 1
                pool = self.variants.setdefault(key, [])
                if n == len(pool):
                    pool.append(Variant(source, f"{source.name}.coco_variant.{n:03d}", self.cfg.textures is not None,
                                        self.pristine.get(key)))
                    self.source_of[pool[-1].mat.as_pointer()] = source
                variant = pool[n]
                variant.apply(hue, sat, val, rough, metal, image)
                if slot.link != "OBJECT":
                    slot.link = "OBJECT"
                slot.material = variant.mat

    def finish(self) -> None:
        for pool in self.variants.values():
            for variant in pool:
                try:
                    bpy.data.materials.remove(variant.mat)
                except ReferenceError:
                    pass
        self.variants = {}
        self.source_of = {}
        self.pristine = {}

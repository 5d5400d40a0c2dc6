"""A small asset library for ``[[spawn]]``, generated (no binary files in the repository).

Writes one file per asset, each in another format, so that every importer is used:

    mug.glb      a cylinder with a handle (glTF binary)     category "mug"
    bowl.gltf    a bowl, concave (glTF + .bin)              "bowl"
    can.obj      a can (OBJ + .mtl)                          "can"
    cereal.fbx   a flat box (FBX)                            "cereal"
    orange.ply   a sphere (PLY, no material)                 "orange"
    block.stl    a cube (STL, no material)                   "block"
    fruit.blend  two marked objects: "apple" and "pear" (a .blend keeps its own categories)

Sizes are those of real kitchen things in metres (a mug is 9 cm wide). With
``category = "{stem}"`` on the ``[[spawn]]`` group every file is its own category
(``fruit.blend`` then gives ``fruit``); without ``category`` the .blend's marks apply
and the other files need one.

    python scenes/kitchen_assets.py --out scenes/kitchen_assets          # the bpy module
    blender -b --python-exit-code 1 -P scenes/kitchen_assets.py -- --out scenes/kitchen_assets
    python scenes/tabletop.py --save tabletop.blend
    blender-coco render tabletop.blend --out ds --frames 20 --config scenes/randomize_spawn.toml
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: File name -> (shape, size, colour (scene-linear RGB) or None)
ASSETS = {
    "mug.glb": ("mug", (0.045, 0.1), (0.75, 0.08, 0.06)),
    "bowl.gltf": ("bowl", (0.08, 0.06), (0.9, 0.85, 0.7)),
    "can.obj": ("cylinder", (0.033, 0.12), (0.1, 0.35, 0.8)),
    "cereal.fbx": ("box", (0.19, 0.07, 0.27), (0.95, 0.7, 0.1)),
    "orange.ply": ("sphere", (0.04,), None),
    "block.stl": ("box", (0.06, 0.06, 0.06), None),
}
FRUIT = {"Apple": ("apple", 0.04, (0.6, 0.05, 0.05)), "Pear": ("pear", 0.035, (0.55, 0.7, 0.1))}


def _mesh(name: str, shape: str, size):
    import bmesh
    import bpy
    from mathutils import Matrix

    bm = bmesh.new()
    if shape == "box":
        sx, sy, sz = size
        bmesh.ops.create_cube(bm, size=1.0, matrix=Matrix.Translation((0, 0, sz / 2)) @ Matrix.Diagonal((sx, sy, sz, 1)))
    elif shape == "sphere":
        bmesh.ops.create_uvsphere(bm, u_segments=24, v_segments=12, radius=size[0])
    elif shape in ("cylinder", "mug"):
        r, h = size
        bmesh.ops.create_cone(bm, cap_ends=True, segments=32, radius1=r, radius2=r, depth=h,
                              matrix=Matrix.Translation((0, 0, h / 2)))
        if shape == "mug":  # a handle: a bar on the side
            m = Matrix.Translation((r + 0.012, 0, h / 2)) @ Matrix.Diagonal((0.024, 0.012, 0.06, 1))
            bmesh.ops.create_cube(bm, size=1.0, matrix=m)
    elif shape == "bowl":  # the lower half of a sphere, open at the top, with a wall
        r, h = size
        bmesh.ops.create_uvsphere(bm, u_segments=32, v_segments=16, radius=r)
        bmesh.ops.delete(bm, geom=[v for v in bm.verts if v.co.z > 1e-6], context="VERTS")
        bmesh.ops.solidify(bm, geom=bm.faces[:], thickness=0.006)
        bmesh.ops.translate(bm, verts=bm.verts[:], vec=(0, 0, r))
    mesh = bpy.data.meshes.new(name)
    bm.to_mesh(mesh)
    bm.free()
    return mesh


def _material(name: str, rgb):
    from blender_coco.blender.demo_scene import material

    return material(name, rgb)


def _export(path: Path, objects) -> None:
    import bpy

    scene = bpy.context.scene
    for o in scene.objects:
        o.select_set(o in objects)
    bpy.context.view_layer.objects.active = objects[0]
    ext = path.suffix.lower()
    if ext in (".glb", ".gltf"):
        fmt = "GLB" if ext == ".glb" else "GLTF_SEPARATE"
        bpy.ops.export_scene.gltf(filepath=str(path), export_format=fmt, use_selection=True)
    elif ext == ".obj":
        bpy.ops.wm.obj_export(filepath=str(path), export_selected_objects=True)
    elif ext == ".fbx":
        bpy.ops.export_scene.fbx(filepath=str(path), use_selection=True)
    elif ext == ".ply":
        if _has(bpy.ops.wm.ply_export):
            bpy.ops.wm.ply_export(filepath=str(path), export_selected_objects=True)
        else:
            bpy.ops.export_mesh.ply(filepath=str(path), use_selection=True)
    elif ext == ".stl":
        if _has(bpy.ops.wm.stl_export):
            bpy.ops.wm.stl_export(filepath=str(path), export_selected_objects=True)
        else:
            bpy.ops.export_mesh.stl(filepath=str(path), use_selection=True)


def _has(op) -> bool:
    try:
        op.get_rna_type()
    except (KeyError, AttributeError):
        return False
    return True


def build(out: Path) -> list[Path]:
    """Write the library into ``out`` (created); returns the files written."""
    import bpy

    from blender_coco.blender.marking import mark

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for file, (shape, size, rgb) in ASSETS.items():
        bpy.ops.wm.read_factory_settings(use_empty=True)
        scene = bpy.context.scene
        stem = Path(file).stem
        mesh = _mesh(stem, shape, size)
        if rgb is not None:
            mesh.materials.append(_material(f"{stem}_paint", rgb))
        obj = bpy.data.objects.new(stem, mesh)
        scene.collection.objects.link(obj)
        _export(out / file, [obj])
        written.append(out / file)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    for name, (category, radius, rgb) in FRUIT.items():
        mesh = _mesh(name, "sphere", (radius,))
        mesh.materials.append(_material(f"{name}_skin", rgb))
        obj = bpy.data.objects.new(name, mesh)
        scene.collection.objects.link(obj)
        mark(obj, category, "fruit")
    path = out / "fruit.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    written.append(path)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return written


def main(argv=None) -> int:
    from blender_coco.blender.session import script_argv

    p = argparse.ArgumentParser(description="Write the kitchen asset library for [[spawn]] examples and tests.")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "kitchen_assets"), metavar="FOLDER",
                   help="where to write the files (default: scenes/kitchen_assets)")
    args = p.parse_args(script_argv(sys.argv if argv is None else argv))
    for path in build(Path(args.out).resolve()):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

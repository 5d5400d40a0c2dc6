"""blender-coco: Blender scenes and painted masks to pixel-exact COCO datasets.

Only ``blender_coco.blender`` imports ``bpy``; everything else (the exporter in
``blender_coco.coco``, the CLI, the config) runs in any Python with numpy.
``blender_coco.silhouette`` rasterizes triangles for amodal masks (numpy;
``blender_coco.silhouette_pure`` is the same in pure Python for a Blender without it).
"""

__version__ = "0.1.0"

# Blender add-on entry points (legacy add-on on Blender 3.4+; on 4.2+ the same zip is
# also an extension described by blender_manifest.toml, which takes precedence).
# bpy is imported lazily inside register()/unregister(): this module must stay
# importable without Blender.
bl_info = {
    "name": "blender-coco",
    "author": "blender-coco developers",
    "version": (0, 1, 0),
    "blender": (3, 4, 0),
    "location": "3D View > Sidebar (N) > COCO",
    "description": "Mark objects with COCO categories and render pixel-exact COCO datasets",
    "category": "Render",
}


def _alias_as_blender_coco() -> None:
    """Make ``import blender_coco`` resolve to this package when Blender loaded it as an extension.

    Blender 4.2+ imports extensions as ``bl_ext.<repository>.blender_coco``, while the
    package's modules import each other as ``blender_coco.*``.
    """
    import sys

    if __name__ != "blender_coco":
        sys.modules.setdefault("blender_coco", sys.modules[__name__])


def register() -> None:
    """Blender add-on entry point: register the COCO panel, operators and Scene.blender_coco."""
    _alias_as_blender_coco()
    from blender_coco.blender import addon

    addon.register()


def unregister() -> None:
    """Blender add-on entry point: remove everything :func:`register` added."""
    import sys

    _alias_as_blender_coco()
    from blender_coco.blender import addon

    addon.unregister()
    if __name__ != "blender_coco" and sys.modules.get("blender_coco") is sys.modules[__name__]:
        # Drop the alias and its submodules so that re-enabling (or updating) the
        # extension imports its code afresh.
        for name in [n for n in sys.modules if n == "blender_coco" or n.startswith("blender_coco.")]:
            del sys.modules[name]

"""The Blender layer: the only package that imports ``bpy``.

Modules here run inside Blender's own Python (the ``bpy`` module on Python 3.11, or
a stock Blender binary such as Debian's 3.4 on Python 3.10 without numpy), so they
use only ``bpy``, ``mathutils``, ``bpy_extras`` and the standard library, plus the
numpy-free parts of blender-coco (:mod:`blender_coco.config`,
:mod:`blender_coco.errors`, :mod:`blender_coco.files`).

- :mod:`.marking`: which objects are annotated (the ``coco_category`` contract).
- :mod:`.pipeline`: :class:`~.pipeline.RenderJob` and :func:`~.pipeline.render_dataset`.
- :mod:`.demo_scene`: the built-in demo scene.
"""

"""The blender-coco add-on: registers the COCO sidebar panel, its operators and ``Scene.blender_coco``.

Blender calls ``blender_coco.register()`` / ``unregister()`` (in the package's
``__init__.py``), which import this module lazily. The pieces live in small modules:

* :mod:`addon_props`  - ``Scene.blender_coco`` settings and their :class:`RenderConfig`;
* :mod:`addon_ops`    - mark / unmark / select category / set keypoints;
* :mod:`addon_render` - the render operator (modal with progress, or synchronous);
* :mod:`addon_ui`     - the panels (3D View > Sidebar > COCO).

``register`` after ``unregister`` works, and ``unregister`` leaves no class or
property behind.
"""

import logging

import bpy

from blender_coco.blender import addon_ops, addon_props, addon_render, addon_ui

log = logging.getLogger(__name__)

CLASSES = (
    (addon_props.BLENDER_COCO_PG_settings,)
    + addon_ops.CLASSES
    + addon_render.CLASSES
    + addon_ui.CLASSES
)


def register() -> None:
    """Register every class and ``Scene.blender_coco``; a second call without unregister is a no-op."""
    if is_registered():
        return
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.blender_coco = bpy.props.PointerProperty(type=addon_props.BLENDER_COCO_PG_settings)
    log.debug("blender-coco add-on registered")


def unregister() -> None:
    """Stop a running render and remove everything :func:`register` added."""
    addon_render.clear_session()
    if hasattr(bpy.types.Scene, "blender_coco"):
        del bpy.types.Scene.blender_coco
    for cls in reversed(CLASSES):
        if getattr(cls, "is_registered", False):
            bpy.utils.unregister_class(cls)
    log.debug("blender-coco add-on unregistered")


def is_registered() -> bool:
    """True when the add-on's classes are registered in this Blender session."""
    return bool(getattr(addon_props.BLENDER_COCO_PG_settings, "is_registered", False))

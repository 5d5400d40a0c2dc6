"""blender-coco: Blender scenes and painted masks to pixel-exact COCO datasets.

Only ``blender_coco.blender`` imports ``bpy``; everything else (the exporter in
``blender_coco.io``, the CLI, the config) runs in any Python with numpy.
"""

__version__ = "0.1.0"

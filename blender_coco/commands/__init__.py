"""Subcommands of the ``blender-coco`` CLI; each module defines ``register(subparsers)``."""

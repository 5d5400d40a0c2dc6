"""``python -m blender_coco``: the same command line as ``blender-coco``."""

from blender_coco.cli import main

raise SystemExit(main())

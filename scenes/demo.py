"""The built-in demo scene as a script (the builder lives in blender_coco.blender.demo_scene).

    blender -b --python-exit-code 1 -P scenes/demo.py -- --save demo.blend
    python scenes/demo.py --save demo.blend          # the bpy module

``build(scene)`` is the same function ``blender-coco render`` uses without SCENE.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from blender_coco.blender.demo_scene import build  # noqa: E402,F401  (re-exported)

if __name__ == "__main__":
    from blender_coco.blender.scene_builder import main

    sys.exit(main(build, description="Build the blender-coco demo scene and save it."))

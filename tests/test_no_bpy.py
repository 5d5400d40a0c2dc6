"""Everything outside blender_coco/blender imports without bpy (sys.modules["bpy"] = None)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import blender_coco

ROOT = Path(__file__).resolve().parents[1]


def test_every_module_outside_the_blender_layer_imports_without_bpy():
    names = sorted(m.name for m in pkgutil.walk_packages(blender_coco.__path__, "blender_coco.")
                   if not m.name.startswith("blender_coco.blender") and m.name != "blender_coco.__main__")
    assert "blender_coco.coco.instances" in names and "blender_coco.cli" in names
    code = ("import sys, importlib; sys.modules['bpy'] = None; sys.modules['mathutils'] = None\n"
            f"for n in {names!r}: importlib.import_module(n)\n"
            "import blender_coco.cli as c; c.build_parser()\n"
            "assert 'bpy' not in [k for k, v in sys.modules.items() if v is not None]\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr


def test_cli_registers_every_command_with_an_example():
    from blender_coco.cli import COMMANDS, build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert sorted(sub.choices) == sorted(COMMANDS)
    for name, p in sub.choices.items():
        assert "example" in (p.epilog or ""), f"'blender-coco {name} --help' shows no example"

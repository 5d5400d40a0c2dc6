"""How the coco/ package holds together: no module reaches into another's private names,
the keypoint tolerance default is written once, the CLI starts without numpy."""

from __future__ import annotations

import argparse
import ast
import inspect
import subprocess
import sys
from pathlib import Path

from blender_coco.config import ExportConfig
from blender_coco.coco import keypoints, scene_facts, stats
from blender_coco.coco.keypoints import DEFAULT_TOLERANCE

ROOT = Path(__file__).resolve().parents[1]
COCO = ROOT / "blender_coco" / "coco"


def test_no_coco_module_imports_a_private_name_of_another():
    leaks = []
    for path in sorted(COCO.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("blender_coco"):
                leaks += [f"{path.relative_to(ROOT)}: {node.module}.{a.name}" for a in node.names
                          if a.name.startswith("_") and not a.name.startswith("__")]
    assert not leaks, "private names imported across modules:\n" + "\n".join(leaks)


def test_keypoint_tolerance_default_is_written_once():
    written = [f"{p.relative_to(ROOT)}:{n.lineno}" for p in sorted(COCO.rglob("*.py")) + [ROOT / "blender_coco/commands/stats.py"]
               for n in ast.walk(ast.parse(p.read_text())) if isinstance(n, ast.Constant) and n.value == 0.15]
    assert written == [f"blender_coco/coco/keypoints.py:{_line_of('DEFAULT_TOLERANCE = 0.15')}"]
    for func, name in ((keypoints.keypoint_visibility, "tolerance"), (scene_facts.frame_facts, "tolerance"),
                       (stats.records_occlusion, "tolerance")):
        assert inspect.signature(func).parameters[name].default is DEFAULT_TOLERANCE, func.__qualname__
    from blender_coco.commands import stats as stats_command

    parser = argparse.ArgumentParser()
    stats_command.register(parser.add_subparsers())
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["stats"]
    assert sub.get_default("keypoint_tolerance") is DEFAULT_TOLERANCE
    assert ExportConfig().keypoint_tolerance is DEFAULT_TOLERANCE


def _line_of(text: str) -> int:
    return next(i for i, line in enumerate((COCO / "keypoints.py").read_text().splitlines(), 1) if line.startswith(text))


def test_cli_parser_builds_without_numpy_or_pillow():
    code = ("import sys; from blender_coco.cli import build_parser; build_parser()\n"
            "print(sorted(m for m in ('numpy', 'PIL', 'pycocotools') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"

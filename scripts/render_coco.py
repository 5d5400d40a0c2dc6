"""Render a marked scene into a COCO dataset with a stock Blender or the bpy module.

    blender -b SCENE.blend --python-exit-code 1 -P scripts/render_coco.py -- --out DS [options]
    python scripts/render_coco.py SCENE.blend --out DS [options]      # Blender as a Python module

Options are those of ``blender-coco render`` (shared argparse definition: ``--config``
randomization, ``--shard I/N``, ``--resume``, ...), plus ``--python PATH``: the Python
that runs the export stage when Blender's own Python lacks numpy (it also reads a TOML
``--config`` for a Blender whose Python has no ``tomllib``). Without a .blend the
built-in demo scene is rendered. Ctrl-C, SIGTERM or SIGHUP stop the run after the
frame in flight (exit 130 / 143 / 129, one line with the ``--resume`` command). Any failure
exits non-zero with one line on stderr; the script calls ``sys.exit`` itself, so
``blender -b`` fails even without ``--python-exit-code 1``.
"""

import argparse
import sys
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the package imports without installation

from blender_coco import stop  # noqa: E402
from blender_coco.cli import report_errors, setup_logging  # noqa: E402
from blender_coco.commands.render import EXAMPLE, add_render_arguments, config_from_args  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="render_coco.py", epilog=EXAMPLE,
                                description="Render a marked Blender scene into a COCO dataset.",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_render_arguments(p)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    return p


def main(argv: list) -> int:
    try:
        from blender_coco.blender import session
    except ImportError as exc:
        if getattr(exc, "name", None) not in ("bpy", "bmesh", "mathutils"):
            raise
        print("blender-coco: error: this script runs inside Blender: blender -b SCENE.blend -P scripts/render_coco.py "
              "-- --out DS (or with a Python that has the bpy module)", file=sys.stderr)
        return 2

    args = build_parser().parse_args(session.script_argv(argv))
    # the resume hint repeats the command as typed: Blender's argv, or the Python's with this script
    stop.set_command(list(getattr(sys, "orig_argv", argv)) if session.is_bpy_module() else list(argv))
    setup_logging(args.verbose, args.quiet)
    try:  # inside Blender an uncaught exception would not make the exit code non-zero
        with stop.on_signals():
            return report_errors(lambda: session.render(config_from_args(args), demo_when_empty=True) and 0)
    except Exception:
        traceback.print_exc()
        return 1


if __name__ == "__main__":
    sys.stdout.flush()
    sys.exit(main(sys.argv))

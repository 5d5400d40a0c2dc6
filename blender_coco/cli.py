"""The ``blender-coco`` command line: one subcommand per module in ``blender_coco.commands``.

Each command module defines ``register(subparsers)``, which adds its parser and sets
``func`` (a callable taking the parsed args and returning an exit code). This module
only builds the parser, sets up logging and turns :class:`UserError` into one line
on stderr with a non-zero exit.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Callable

from blender_coco import __version__, stop
from blender_coco.commands._common import flag
from blender_coco.errors import UserError

COMMANDS = ("render", "export", "masks2coco", "validate", "preview", "stats", "merge", "split")

log = logging.getLogger("blender_coco")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="blender-coco",
        description="Blender scenes and painted masks to pixel-exact COCO datasets.",
        epilog="Run 'blender-coco COMMAND --help' for a command's options and an example.",
    )
    parser.add_argument("--version", action="version", version=f"blender-coco {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = f"blender_coco.commands.{name}"
        try:
            importlib.import_module(module).register(sub)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # a missing dependency is a real error
                raise
    return parser


def setup_logging(verbose: bool = False, quiet: bool = False) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger("blender_coco")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    stop.set_command(["blender-coco", *(sys.argv[1:] if argv is None else argv)])
    setup_logging(args.verbose, args.quiet)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    return report_errors(lambda: args.func(args))


def report_errors(func: Callable[[], int | None]) -> int:
    """Run ``func``; a :class:`UserError` becomes one line on stderr and its exit code, and so
    does a PermissionError on a file the code did not turn into a UserError itself (exit 2).

    Shared by this CLI and scripts/render_coco.py, so both front ends fail alike.
    """
    try:
        return int(func() or 0)
    except UserError as exc:
        print(f"blender-coco: error: {exc.render(flag)}", file=sys.stderr)
        return exc.exit_code
    except PermissionError as exc:  # the environment, not a bug: a file this user may not read or write
        if exc.filename is None:
            raise
        print(f"blender-coco: error: {exc.filename}: {exc.strerror}; give this user access to it (chmod, or run "
              "as its owner)", file=sys.stderr)
        return 2
    except stop.Interrupted as exc:  # a signal stopped the run after its frame in flight
        print(f"blender-coco: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("blender-coco: interrupted", file=sys.stderr)
        return 130

"""``python -m blender_coco.randomize FILE``: print a validated config as JSON (the TOML bridge).

Stock Blender 3.4's Python has no ``tomllib``; :func:`~blender_coco.randomize.loading.load`
there runs this module in the export Python and rebuilds the config from its output.
An invalid config prints ``blender-coco: error: ...`` (one line) and exits non-zero.
"""

from __future__ import annotations

import json
import sys

from blender_coco.errors import UserError
from blender_coco.randomize.loading import load


def main(argv: list[str] | None = None) -> int:
    """Print the config file named in ``argv`` (default ``sys.argv[1:]``) as JSON; the exit code."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m blender_coco.randomize FILE.toml", file=sys.stderr)
        return 2
    try:
        config = load(args[0])
    except UserError as exc:
        print(f"blender-coco: error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(json.dumps(config.to_json(), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())

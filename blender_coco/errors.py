"""User-facing errors: one clear line that names the thing and the fix.

Every front end (CLI, ``blender -b`` script, add-on operator) catches
:class:`UserError` and shows ``str(err)`` alone: no traceback. Anything else is a
bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input or environment; the message says what and how to fix it."""

    exit_code = 2


def check(condition: bool, message: str) -> None:
    """Raise :class:`UserError` with ``message`` unless ``condition`` holds.

    Used instead of ``assert`` for validating user input (asserts vanish under -O).
    """
    if not condition:
        raise UserError(message)

"""User-facing errors: one clear line that names the thing and the fix.

Every front end (CLI, ``blender -b`` script, add-on operator) catches
:class:`UserError` and shows it alone: no traceback. Anything else is a bug and
keeps its traceback.

A message that tells the user to change a setting names it by its config field in
braces, ``"choose a writable {out}"`` with ``field="out"``, and each front end says it
its own way: the CLI as a flag (``--out``), the add-on as its panel field
(``Output folder``). :meth:`UserError.render` does the naming; ``str(err)`` uses
:func:`setting`, the neutral spelling.
"""

from __future__ import annotations

from typing import Callable, Iterable


def setting(field: str) -> str:
    """The neutral name of a setting: its config field, e.g. ``'out'``."""
    return repr(field)


class UserError(Exception):
    """Bad input or environment; the message says what and how to fix it.

    ``field``: the config field(s) (RenderConfig/ExportConfig names such as ``out``,
    ``python``, ``randomize``) that the message names as ``{field}``.
    """

    exit_code = 2

    def __init__(self, message: str, *, field: str | Iterable[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.fields: tuple[str, ...] = (field,) if isinstance(field, str) else tuple(field)

    def render(self, name: Callable[[str], str] = setting) -> str:
        """The message with each ``{field}`` said as ``name(field)``."""
        text = self.message
        for field in self.fields:
            text = text.replace("{" + field + "}", name(field))
        return text

    def prefixed(self, prefix: str) -> "UserError":
        """The same error (fields kept) with ``prefix`` in front of its message."""
        return UserError(f"{prefix}{self.message}", field=self.fields)

    def __str__(self) -> str:
        return self.render()


def check(condition: bool, message: str) -> None:
    """Raise :class:`UserError` with ``message`` unless ``condition`` holds.

    Used instead of ``assert`` for validating user input (asserts vanish under -O).
    """
    if not condition:
        raise UserError(message)
